"""``make bench``: run every benchmark (or those named) and print one Markdown table of their figures.

    .venv/bin/python -m bench.run               # every benchmark
    .venv/bin/python -m bench.run horizon load  # only these (make bench ONLY="horizon load")

A benchmark is a module ``bench/<name>.py`` with a ``main()`` (modules whose name starts with ``_`` are
helpers, ``run`` and ``report`` are this tooling, ``locustfile`` is locust's). Each runs as its own
process (``python bench/<name>.py``) with its own PostgreSQL database (``<BENCH_DATABASE_URL>_<name>``,
created when missing) and records its figures with ``bench.report.record``. A benchmark that needs the
benchmark cloud says so with a line ``BENCH_CLOUD = True``: the cloud (``bench/_benchcloud.py``,
``var/benchcloud``) is started first and its 1,000 servers are created in the background while the other
benchmarks run; the cloud's benchmarks run once the servers are there. The cloud is left running with
its servers for the next run (``.venv/bin/python -m bench._benchcloud stop`` stops it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from bench import _benchcloud, _stack, report  # noqa: E402

NOT_BENCHMARKS = {"run", "report", "locustfile"}
# Run first: the cheapest and least disturbed by the cloud's seeding; the rest in name order.
FIRST = ("vm_pages", "dashboard", "mirror")


def discover() -> list[str]:
    found = [
        path.stem
        for path in sorted(BENCH.glob("*.py"))
        if not path.stem.startswith("_")
        and path.stem not in NOT_BENCHMARKS
        and re.search(r"^def main\(", path.read_text(encoding="utf-8"), re.M)
    ]
    return sorted(found, key=lambda name: (FIRST.index(name) if name in FIRST else len(FIRST), name))


def needs_cloud(name: str) -> bool:
    return bool(re.search(r"^BENCH_CLOUD = True", (BENCH / f"{name}.py").read_text(encoding="utf-8"), re.M))


def database_url(name: str) -> str:
    return f"{_stack.DATABASE_URL}_{name}"


def create_database(url: str) -> None:
    import psycopg

    base, db = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
            conn.execute(f'CREATE DATABASE "{db}"')


def run_one(name: str) -> int:
    """One benchmark as its own process; returns its exit status (a failure is reported, not fatal)."""
    url = database_url(name)
    create_database(url)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": _stack.REDIS_URL,
        "OS_CLIENT_CONFIG_FILE": str(_benchcloud.CLOUDS_YAML),
        "OS_CLOUD": "kennel-admin",
        "PYTHONPATH": str(ROOT),
    }
    print(f"\n== bench/{name}.py", flush=True)
    began = time.monotonic()
    status = subprocess.call([sys.executable, str(BENCH / f"{name}.py")], env=env, cwd=ROOT)
    print(f"== bench/{name}.py exited {status} after {time.monotonic() - began:.0f} s", flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = [name for arg in argv for name in re.split(r"[,\s]+", arg) if name]
    available = discover()
    unknown = [name for name in wanted if name not in available]
    if unknown:
        print(f"no benchmark named {', '.join(unknown)}; there are: {', '.join(available)}", file=sys.stderr)
        return 2
    chosen = wanted or available
    since = time.time()
    cloudy = [name for name in chosen if needs_cloud(name)]
    seeding = None
    if cloudy:
        print("== the benchmark cloud (var/benchcloud)", flush=True)
        if _benchcloud.devcloud("start") != 0:
            print("!! the benchmark cloud did not start: skipping " + ", ".join(cloudy), file=sys.stderr)
            cloudy = []
        else:
            _stack.LOGS.mkdir(parents=True, exist_ok=True)
            log = (_stack.LOGS / "benchcloud-seed.log").open("ab")
            print(f"== creating the missing servers in the background (log: {log.name})", flush=True)
            seeding = subprocess.Popen(
                [sys.executable, "-m", "bench._benchcloud", "seed"], cwd=ROOT, stdout=log, stderr=log
            )
    failed = []
    for name in chosen:
        if name in cloudy or needs_cloud(name):
            continue
        if run_one(name) != 0:
            failed.append(name)
    if seeding is not None:
        print("== waiting for the benchmark cloud's servers", flush=True)
        if seeding.wait() != 0:
            print(
                "!! seeding the servers failed (see the log); the cloud's benchmarks run anyway",
                file=sys.stderr,
            )
    for name in cloudy:
        if run_one(name) != 0:
            failed.append(name)
    print("\n" + report.table(report.rows(since)))
    if failed:
        print(f"!! failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
