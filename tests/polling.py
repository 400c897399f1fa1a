"""Waiting in tests, always bounded: a test that waits for something that never happens fails with
what it was waiting for, instead of hanging the suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


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


def until_done(step: Callable[[], T], *, what: str, steps: int = 100) -> T:
    """Call ``step`` until it returns something true and return that; fail after ``steps`` calls.

    For state machines driven in the test's own process against the FakeCloud, where every call moves
    the fake's time on (a build advances, a deletion finishes, the scheduler places a server): no
    sleeping, and a step that never finishes is a failure, not a hang."""
    result = step()
    for _ in range(steps - 1):
        if result:
            return result
        result = step()
    if not result:
        pytest.fail(f"{what}: not done after {steps} steps (last answer {result!r})")
    return result
