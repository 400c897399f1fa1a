"""A lock for work that must not run twice at once in different workers, that never outlives its worker.

PostgreSQL's session advisory locks are released when the block ends or when the holder's connection
dies, so a worker killed mid-work (SIGKILL, power loss) leaves no lock behind for anyone to clean up.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def work_lock(name: str, key: int) -> Iterator[bool]:
    """Try to hold the lock ``(name, key)`` while the block runs. Yields True when held, False when
    another worker holds it now (then the block should leave the work to it). Other databases than
    PostgreSQL (SQLite, in development, has one writer anyway): always True."""
    if connection.vendor != "postgresql":
        yield True
        return
    ids = [zlib.crc32(name.encode()) - 2**31, key % 2**31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", ids)
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", ids)
