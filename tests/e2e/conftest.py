"""Playwright against Debian's Chromium (no browser download is possible here) and a live Django server."""

from __future__ import annotations

import os

import pytest

# Playwright's sync API keeps an event loop running in the test's thread, and Django refuses ORM calls
# from a thread with a running loop. Nothing here is async, so the check is a false alarm. The variable is
# process-wide: it is set only when the e2e tests are collected.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.access(CHROMIUM, os.X_OK):
        # A failure, not a skip: a suite that quietly skips its only browser test proves nothing.
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make bootstrap does), or -m 'not e2e'")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",  # runs as root in containers
            "--disable-gpu",
            # No calls home: the tests must pass on a machine without internet.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }
