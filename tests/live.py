"""Helpers for tests that run real processes against the test database: a Celery worker (waiting for
what it does: tests/polling.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """The URL of the database this test runs on, for a process it starts."""
    if connection.vendor != "postgresql":
        pytest.fail("tests with a real worker need PostgreSQL: run them through `make test`")
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@contextmanager
def celery_worker(
    concurrency: int = 4, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen]:
    """A real Celery worker on the test database and the test Redis, stopped afterwards; ``args`` are
    more of ``celery worker``'s options (a node name, queues)."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        # The tests' emulated BMCs listen on random loopback ports (tests/conftest.py allows them too).
        "KENNEL_BMC_ALLOWED_PORTS": "1-65535",
        **(env or {}),
    }
    log = open(ROOT / "var" / "test-worker.log", "ab")  # noqa: SIM115  (closed below)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kennel",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-heartbeat",
            "--without-gossip",
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
