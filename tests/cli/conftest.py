"""The installed ``kennel`` console script, run as a subprocess against a live Kennel server over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery import current_app

from tests.factories import PASSWORD
from tests.provisioning.conftest import fake_cloud  # noqa: F401  (a fixture these tests use too)

KENNEL = Path(sys.executable).with_name("kennel")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture(autouse=True)
def _fresh_rate_limit(clean_cache):
    """Logins are rate-limited per address in the real cache, and every test logs in from 127.0.0.1."""


@pytest.fixture
def home(tmp_path) -> Path:
    """An empty home directory for the client: its config lands under home/.config/kennel/."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def kennel(home) -> Callable[..., Run]:
    """``kennel(*args, input=None, env=None)`` runs the installed console script, as a user would."""
    if not KENNEL.exists():
        pytest.fail(f"{KENNEL} is missing: install the project (make bootstrap, or pip install -e .)")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KENNEL_", "XDG_", "LC_", "LANG"))}
    base.update({"HOME": str(home), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"})

    def run(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 120) -> Run:
        done = subprocess.run(
            [str(KENNEL), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env={**base, **(env or {})},
            timeout=timeout,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def config_file(home) -> Path:
    return home / ".config" / "kennel" / "config.json"


@pytest.fixture
def eager_tasks():
    """Tasks run inside the request that queues them (the fake cloud lives in this process)."""
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    yield
    current_app.conf.task_always_eager = previous


@pytest.fixture
def logged_in(kennel, live_server):
    """Log someone in through the CLI (password on stdin); returns a function taking the user."""

    def login(user) -> None:
        done = kennel(
            "login", live_server.url, "--username", user.username, "--password-stdin", input=PASSWORD + "\n"
        )
        assert done.code == 0, done.err

    return login
