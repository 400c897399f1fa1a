"""The processes fault tests stop, kill and restart: a private redis-server and PostgreSQL cluster on
free ports with data under /tmp, a real Celery beat, this process's Celery client pointed at a private
broker, and waiting for a worker to reach a failpoint."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from celery import current_app
from kombu import pools as kombu_pools

from tests.live import ROOT

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# What the fault tests give the worker and beat: resume tasks every few seconds, and work without a
# heartbeat for 8 s taken over, so a test sees recovery in seconds (production: 60 s and 300 s).
QUICK_RECOVERY = {
    "KENNEL_RESUME_SECONDS": "3",
    "KENNEL_STALE_WORK_SECONDS": "8",
    "KENNEL_CLOUD_BACKOFF_CAP": "3",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(probe, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout} s")
        time.sleep(0.1)


class PrivateRedis:
    """A redis-server of this test's own, which the test may stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kennel-fault-redis-"))
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def _ping(self) -> bool:
        return (
            subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True).returncode == 0
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
            ],  # a restart keeps the queue, as a real one would
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(self._ping, "redis")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own under /tmp, run as the postgres user when we are root."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kennel-fault-pg-"))
        self.dir.chmod(0o700)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._as_pg(
            [str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "kennel", "--auth=trust", "-E", "UTF8"]
        )

    def _as_pg(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, cwd=tempfile.gettempdir())

    def url(self, name: str = "kennel") -> str:
        return f"postgres://kennel@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c max_connections=100"
        self._as_pg(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.dir),
                "-l",
                str(self.dir / "log"),
                "-w",
                "-o",
                options,
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_pg([str(PG_BIN / "pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "stop"])

    def createdb(self, name: str) -> None:
        self._as_pg([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "kennel", name])

    def close(self) -> None:
        with suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def broker(url: str) -> Iterator[None]:
    """Point this process's Celery client (what the web does when it enqueues) at ``url``."""
    app = current_app

    def reset() -> None:
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.amqp._producer_pool = None
        # kombu keeps producer pools in a process-wide registry keyed by broker: without clearing it,
        # the next enqueue to the shared broker reuses a producer pool whose connections were closed
        # above ("Acquire on closed pool" in every later test of the run).
        kombu_pools.reset()

    previous = app.conf.broker_url
    reset()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url = previous


@contextmanager
def celery_beat(env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """A real beat process with its schedule file under /tmp, stopped afterwards."""
    schedule = Path(tempfile.mkdtemp(prefix="kennel-fault-beat-"))
    log = open(ROOT / "var" / "test-beat.log", "ab")  # noqa: SIM115  (closed below)
    beat = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kennel",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule / "schedule"),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield beat
    finally:
        beat.send_signal(signal.SIGTERM)
        try:
            beat.wait(timeout=30)
        except subprocess.TimeoutExpired:
            beat.kill()
        log.close()
        shutil.rmtree(schedule, ignore_errors=True)


def kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL: no shutdown, no acknowledgement, nothing written on the way out."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def wait_for_failpoint(directory: Path, name: str, process: subprocess.Popen, timeout: float = 180) -> None:
    """Wait until the worker stopped at the named point (portal.failpoints wrote its file)."""
    deadline = time.monotonic() + timeout
    while not (directory / name).exists():
        if process.poll() is not None:
            pytest.fail(f"the worker exited ({process.returncode}) before reaching {name}")
        if time.monotonic() > deadline:
            pytest.fail(f"the worker did not reach {name} within {timeout:.0f} s")
        time.sleep(0.2)
