"""Start and stop many emulated BMCs on loopback: IPMI ones a few dozen to a process, each Redfish one
in its own process (sushy-tools' emulator holds one configuration per process)."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_ports(count: int, kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports free right now: all probes stay bound until all are chosen."""
    probes = [socket.socket(socket.AF_INET, kind) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((host, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass(frozen=True)
class BmcSpec:
    name: str
    protocol: str  # "ipmi" or "redfish"
    port: int
    username: str
    password: str
    powered_on: bool = True
    host: str = "127.0.0.1"

    @property
    def address(self) -> str:
        """The address as Kennel stores it: Redfish emulators speak plain HTTP."""
        return f"http://{self.host}" if self.protocol == "redfish" else self.host


class Fleet:
    """``with Fleet(specs) as fleet:`` runs the BMCs until the block ends."""

    def __init__(self, specs: list[BmcSpec] | tuple[BmcSpec, ...], *, ipmi_per_process: int = 25) -> None:
        self.specs = list(specs)
        self.ipmi_per_process = ipmi_per_process
        self.processes: list[subprocess.Popen] = []
        self.state_root: Path | None = None

    def start(self, ready_timeout: float = 60) -> Fleet:
        deadline = time.monotonic() + ready_timeout
        self.state_root = Path(tempfile.mkdtemp(prefix="bmcsim-"))
        ipmi = [s for s in self.specs if s.protocol == "ipmi"]
        ipmi_children = []
        for start in range(0, len(ipmi), self.ipmi_per_process):
            child = self._spawn([sys.executable, "-m", "bmcsim", "ipmi-serve"], stdin=subprocess.PIPE)
            assert child.stdin is not None
            child.stdin.write(json.dumps([asdict(s) for s in ipmi[start : start + self.ipmi_per_process]]))
            child.stdin.close()
            ipmi_children.append(child)
        for spec in (s for s in self.specs if s.protocol == "redfish"):
            argv = [sys.executable, "-m", "bmcsim.redfish", "--address", spec.host, "--port", str(spec.port)]
            argv += ["--name", spec.name, "--username", spec.username]
            argv += ["--state-dir", str(self.state_root / f"{spec.name}-{spec.port}")]
            argv += [] if spec.powered_on else ["--off"]
            self._spawn(argv, extra_env={"BMC_PASSWORD": spec.password})
        try:
            for child in ipmi_children:
                _wait_for_line(child, "ready", deadline)
            for spec in (s for s in self.specs if s.protocol == "redfish"):
                _wait_for_http(f"http://{spec.host}:{spec.port}/redfish/v1/", deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(
        self, argv: list[str], *, stdin=None, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        child = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            argv,
            cwd=ROOT,
            stdin=stdin,
            stdout=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stderr=None,
            text=True,
            env={**os.environ, **(extra_env or {})},
        )
        self.processes.append(child)
        return child

    def stop(self) -> None:
        for child in self.processes:
            if child.poll() is None:
                child.terminate()
        for child in self.processes:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)
        self.processes.clear()
        if self.state_root is not None:
            shutil.rmtree(self.state_root, ignore_errors=True)

    def __enter__(self) -> Fleet:
        return self if self.processes else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_for_line(child: subprocess.Popen, expected: str, deadline: float) -> None:
    assert child.stdout is not None
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"an IPMI emulator exited with {child.returncode}")
        readable, _, _ = select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if readable and child.stdout.readline().strip() == expected:
            return
    raise TimeoutError("the IPMI emulators did not start in time")


def _wait_for_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (our own loopback URL)
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise TimeoutError(f"the Redfish emulator at {url} did not start in time")
