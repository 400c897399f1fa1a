"""Helpers for tests that run real processes against the test database: a Celery worker, polling."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def test_database_url() -> str:
    """The URL of the database this test runs on, for a process it starts."""
    if connection.vendor != "postgresql":
        pytest.fail("tests with a real worker need PostgreSQL: run them through `make test`")
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@contextmanager
def celery_worker(concurrency: int = 4, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """A real Celery worker on the test database and the test Redis, stopped afterwards."""
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


def eventually(probe: Callable[[], T], done: Callable[[T], bool], *, timeout: float, what: str) -> T:
    """Call ``probe`` until ``done(result)``; fail with the last result after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still {result!r} after {timeout:.0f} s")
        time.sleep(0.5)
