"""The installed ``kennel`` console script, run as a subprocess against a live Kennel server over HTTP."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.cli.console_script import KENNEL, Run
from tests.factories import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_rate_limit(clean_cache):
    """Every test starts with an empty cache. (Sign-in failures are counted in the database, which each
    test starts without, so logging in from 127.0.0.1 in every test never adds up to a lock-out.)"""


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
def logged_in(kennel, live_server):
    """Log someone in through the CLI (password on stdin); returns a function taking the user."""

    def login(user) -> None:
        done = kennel(
            "login", live_server.url, "--username", user.username, "--password-stdin", input=PASSWORD + "\n"
        )
        assert done.code == 0, done.err

    return login


@pytest.fixture
def kennel_on_terminal(home) -> Callable[..., Run]:
    """``kennel_on_terminal(*args, dialogue=[(prompt, answer), ...])`` runs the script on a pseudo-terminal
    (its controlling terminal, so getpass works), answering each prompt when it appears. ``out`` is
    everything the terminal showed."""

    def run(*args: str, dialogue: Sequence[tuple[str, str]] = (), timeout: float = 60) -> Run:
        primary, secondary = pty.openpty()

        def take_terminal() -> None:  # in the child, after setsid: make the pty its controlling terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = {k: v for k, v in os.environ.items() if not k.startswith(("KENNEL_", "XDG_", "LC_", "LANG"))}
        process = subprocess.Popen(
            [str(KENNEL), *args],
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            env={**env, "HOME": str(home), "LANG": "C.UTF-8", "TERM": "xterm"},
            start_new_session=True,
            preexec_fn=take_terminal,  # only an ioctl between fork and exec
        )
        os.close(secondary)
        seen, pending = b"", list(dialogue)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and pending[0][0].encode() in seen.split(b"\x00")[-1]:
                _prompt, answer = pending.pop(0)
                seen += b"\x00"  # a marker: the next prompt is looked for after this point only
                os.write(primary, answer.encode() + b"\r")
            elif not ready and process.poll() is not None:
                break
        else:
            process.kill()
            pytest.fail(f"kennel {' '.join(args)} did not finish on the terminal: {seen!r}")
        os.close(primary)
        code = process.wait(timeout=10)
        assert not pending, f"never asked {pending[0][0]!r}; the terminal showed {seen!r}"
        return Run(code, seen.replace(b"\x00", b"").decode(errors="replace"), "")

    return run
