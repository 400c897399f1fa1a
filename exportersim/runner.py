"""Debian's ``prometheus`` on loopback, scraping the emulator and Debian's ``prometheus-node-exporter``.

``Stack`` starts, in this order, the exporter emulator (``python -m exportersim serve``), the real node
exporter for this machine (labelled ``x1``: the controller, where the local cloud runs; the emulator
then leaves X1 out) and Prometheus with a generated configuration and its own TSDB directory, waits
until Prometheus has scraped every target once, and stops all three when the block ends:

    with Stack(workdir, interval=2) as stack:
        stack.url  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from exportersim.estate import DEMO_HOSTS

ROOT = Path(__file__).resolve().parent.parent
NODE_EXPORTER = "prometheus-node-exporter"
NODE_COLLECTORS = ("cpu", "meminfo", "filesystem", "netdev", "loadavg", "stat", "uname")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape_config(
    *,
    exporter_port: int,
    node_exporter_port: int | None,
    interval: float,
    hosts: list[str],
    computes: list[str],
    rule_files: tuple[str, ...] = (),
) -> dict:
    """The Prometheus configuration: one target per emulated host and exporter (the emulator serves
    each on its own path), ``instance`` set to the host's name as real deployments relabel it."""
    address = f"127.0.0.1:{exporter_port}"
    node = [
        {"targets": [address], "labels": {"instance": name, "__metrics_path__": f"/node/{name}/metrics"}}
        for name in hosts
    ]
    if node_exporter_port is not None:
        node.append({"targets": [f"127.0.0.1:{node_exporter_port}"], "labels": {"instance": "x1"}})
    libvirt = [
        {"targets": [address], "labels": {"instance": name, "__metrics_path__": f"/libvirt/{name}/metrics"}}
        for name in computes
    ]
    seconds = f"{max(interval, 1):g}s"
    return {
        "global": {"scrape_interval": seconds, "evaluation_interval": seconds, "scrape_timeout": seconds},
        **({"rule_files": list(rule_files)} if rule_files else {}),
        "scrape_configs": [
            {"job_name": "node", "static_configs": node},
            {"job_name": "libvirt", "static_configs": libvirt},
        ],
    }


class Stack:
    def __init__(
        self,
        workdir: Path,
        *,
        prometheus_port: int | None = None,
        exporter_port: int | None = None,
        node_exporter_port: int | None = None,
        interval: float = 15,
        vms: str = "cloud",
        real_node_exporter: bool = True,
        ready_timeout: float = 60,
        rule_files: tuple[str | Path, ...] = (),
        log=None,
    ) -> None:
        self.rule_files = tuple(str(Path(f).resolve()) for f in rule_files)
        self.ready_timeout = ready_timeout
        self.workdir = Path(workdir)
        self.prometheus_port = prometheus_port or free_port()
        self.exporter_port = exporter_port or free_port()
        self.node_exporter_port = node_exporter_port or free_port()
        self.interval = interval
        self.vms = vms
        self.real_node_exporter = real_node_exporter and shutil.which(NODE_EXPORTER) is not None
        self.processes: dict[str, subprocess.Popen] = {}
        self.log = log or (lambda message: print(f"exportersim: {message}", flush=True))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def exporter_url(self) -> str:
        return f"http://127.0.0.1:{self.exporter_port}"

    def _spawn(self, name: str, argv: list[str]) -> None:
        logfile = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT
        )

    def start(self, ready_timeout: float | None = None) -> Stack:
        ready_timeout = ready_timeout or self.ready_timeout
        self.started_at = time.time()  # Prometheus has no sample older than this
        self.workdir.mkdir(parents=True, exist_ok=True)
        emulated = [h.name for h in DEMO_HOSTS if not (self.real_node_exporter and h.name == "x1")]
        computes = [h.name for h in DEMO_HOSTS if h.compute]
        self._spawn(
            "exporters",
            [
                sys.executable,
                "-m",
                "exportersim",
                "serve",
                "--port",
                str(self.exporter_port),
                "--vms",
                self.vms,
                "--hosts",
                ",".join(emulated),
            ],
        )
        if self.real_node_exporter:
            self._spawn(
                "node-exporter",
                [
                    NODE_EXPORTER,
                    f"--web.listen-address=127.0.0.1:{self.node_exporter_port}",
                    "--collector.disable-defaults",
                    *(f"--collector.{name}" for name in NODE_COLLECTORS),
                ],
            )
        config = scrape_config(
            exporter_port=self.exporter_port,
            node_exporter_port=self.node_exporter_port if self.real_node_exporter else None,
            interval=self.interval,
            hosts=emulated,
            computes=computes,
            rule_files=self.rule_files,
        )
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML
        tsdb = self.workdir / "tsdb"
        self._spawn(
            "prometheus",
            [
                "prometheus",
                f"--config.file={config_file}",
                f"--storage.tsdb.path={tsdb}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                "--storage.tsdb.retention.time=35d",
                "--web.enable-lifecycle",
            ],
        )
        try:
            self.wait_ready(
                ready_timeout, targets=len(emulated) + len(computes) + int(self.real_node_exporter)
            )
        except BaseException:
            self.stop()
            raise
        return self

    def query(self, promql: str, at: float | None = None) -> list[dict]:
        """Prometheus's own answer, for the runner and the tests (Kennel has its own gateway)."""
        form = {"query": promql} | ({"time": f"{at:.3f}"} if at is not None else {})
        return self._get("/api/v1/query", form)

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[dict]:
        form = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return self._get("/api/v1/query_range", form)

    def _get(self, path: str, form: dict[str, str]) -> list[dict]:
        url = f"{self.url}{path}?" + urllib.parse.urlencode(form)
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 -- our own loopback server
            return json.load(answer)["data"]["result"]

    def wait_ready(self, timeout: float, *, targets: int) -> None:
        """Until every target was scraped at least twice (a rate needs two samples)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}; see {self.workdir}/{name}.log"
                    )
            try:
                up = self.query("count(count_over_time(up[1h]) >= 2 and up == 1)")
                if up and int(float(up[0]["value"][1])) >= targets:
                    return
                last = f"{up}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise TimeoutError(f"Prometheus did not scrape its {targets} targets in {timeout:.0f} s ({last})")

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def stop_prometheus(self) -> None:
        """Stop only Prometheus (the tests of pages that degrade when it is away)."""
        process = self.processes.pop("prometheus", None)
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=10)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
