"""Fault tests: real services stopped, killed and restarted under Kennel.

They never touch the shared PostgreSQL and Redis other tests use: each module starts its own throwaway
redis-server (and, where the database itself is stopped, its own PostgreSQL cluster) on free ports,
with data under /tmp, and points the worker, beat and this process's Celery client at them
(tests/faults/processes.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.processes import PrivatePostgres, PrivateRedis


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.close()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.close()
