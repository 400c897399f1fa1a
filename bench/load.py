"""Benchmark: Kennel under load, 50 simulated people for 5 minutes (run on demand).

    make bench ONLY=load             # or: .venv/bin/python -m bench.run load

Starts Kennel as it runs in production, minus TLS (``bench/_stack.py``: gunicorn, PostgreSQL, Redis, a
Celery worker and beat) against the benchmark cloud with its 1,000 servers, and runs locust headless
with ``bench/locustfile.py``'s mix (developers browsing, requesting, polling and acting on VMs; managers
on the dashboard and utilization; admins approving quota requests). While it runs it samples every
second the resident memory of each gunicorn worker and each Celery process (``/proc``). It records
requests per second, p95 per page, errors (target 0) and the peak RSS of a web worker and a Celery
worker.

``BENCH_LOAD_USERS`` (50), ``BENCH_LOAD_SECONDS`` (300) and ``BENCH_LOAD_SPAWN_RATE`` (1 a second:
each sign-in hashes a password) shorten or lengthen the run.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _stack
from bench.report import record

BENCH_CLOUD = True
USERS = int(os.environ.get("BENCH_LOAD_USERS", "50"))
SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "300"))
SPAWN_RATE = float(os.environ.get("BENCH_LOAD_SPAWN_RATE", "1"))
ROOT = Path(__file__).resolve().parents[1]


class PeakMemory(threading.Thread):
    """The largest RSS seen of any worker process of each named group, sampled every second."""

    def __init__(self, stack: _stack.Stack, groups: dict[str, bool]) -> None:
        super().__init__(daemon=True)
        self.stack, self.groups = stack, groups  # name: leave the group leader (gunicorn's master) out
        self.peak = dict.fromkeys(groups, 0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            for name, workers_only in self.groups.items():
                leader = self.stack.procs[name].pid
                for pid in self.stack.pids(name):
                    if workers_only and pid == leader:
                        continue
                    self.peak[name] = max(self.peak[name], _stack.rss_kib(pid))


def main() -> None:
    prefix = ROOT / "var" / "bench" / "locust"
    with _stack.Stack() as stack:
        url = stack.kennel(workers=True)
        print(
            f"Kennel on {url}: gunicorn {_stack.WEB_WORKERS} workers x {_stack.WEB_THREADS} threads, "
            f"Celery x{_stack.CELERY_CONCURRENCY}"
        )
        memory = PeakMemory(stack, {"kennel-web": True, "kennel-worker": False})
        memory.start()
        env = {**os.environ, "BENCH_PASSWORD": _stack.password()}
        command = [
            str(_stack.VENV / "locust"),
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--users",
            str(USERS),
            "--spawn-rate",
            str(SPAWN_RATE),
            "--run-time",
            f"{SECONDS}s",
            "--stop-timeout",
            "30",
            "--host",
            url,
            "--csv",
            str(prefix),
            "--only-summary",
        ]
        print(f"locust: {USERS} users for {SECONDS} s", flush=True)
        subprocess.run(command, env=env, cwd=ROOT, check=False)
        memory.done.set()
        memory.join()
    with open(f"{prefix}_stats.csv", encoding="utf-8") as stats:
        rows = list(csv.DictReader(stats))
    total = next(row for row in rows if row["Name"] == "Aggregated")
    errors = int(total["Failure Count"])
    record(
        f"load: {USERS} users, {SECONDS} s, all requests",
        p50_ms=float(total["50%"]),
        p95_ms=float(total["95%"]),
        errors=errors,
        value=f"{float(total['Requests/s']):.1f} req/s, {total['Request Count']} requests",
        target="0 errors",
        met=errors == 0,
    )
    for row in rows:
        if row["Name"] == "Aggregated" or row["Type"] not in ("GET", "POST", "DELETE"):
            continue
        record(
            f"load: {row['Type']} {row['Name']}",
            p50_ms=float(row["50%"]),
            p95_ms=float(row["95%"]),
            errors=int(row["Failure Count"]),
            value=f"{row['Request Count']} requests",
        )
    web, worker = memory.peak["kennel-web"], memory.peak["kennel-worker"]
    record(
        f"load: peak RSS of a web worker (gunicorn gthread x{_stack.WEB_THREADS})",
        value=f"{web / 1024:.0f} MiB",
    )
    record("load: peak RSS of a Celery worker process", value=f"{worker / 1024:.0f} MiB")
    with open(f"{prefix}_failures.csv", encoding="utf-8") as failures:
        for row in csv.DictReader(failures):
            print(f"  failure: {row['Method']} {row['Name']}: {row['Error']} x{row['Occurrences']}")


if __name__ == "__main__":
    main()
