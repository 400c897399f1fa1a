"""Where ``kennel login`` keeps the server's address and the token: a JSON file only its owner can read.

``$XDG_CONFIG_HOME/kennel/config.json`` (``~/.config/kennel/config.json`` by default), or the file
named by ``KENNEL_CONFIG``. ``KENNEL_URL`` and ``KENNEL_TOKEN`` override the file (scripts, CI).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Config:
    url: str = ""
    token: str = ""
    token_id: int | None = None
    username: str = ""


def config_path() -> Path:
    if os.environ.get("KENNEL_CONFIG"):
        return Path(os.environ["KENNEL_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kennel" / "config.json"


def config_load(*, use_environment: bool = True) -> Config:
    """The saved configuration (empty if none), with ``KENNEL_URL``/``KENNEL_TOKEN`` on top."""
    path = config_path()
    config = Config()
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            print(
                f"kennel: warning: {path} can be read by others (mode {mode:o}); run: chmod 600 {path}",
                file=sys.stderr,
            )
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            print(f"kennel: warning: ignoring unreadable {path}: {error}", file=sys.stderr)
            data = {}
        known = set(Config.__dataclass_fields__)
        config = Config(**{k: v for k, v in data.items() if k in known})
    if use_environment:
        config.url = os.environ.get("KENNEL_URL") or config.url
        if os.environ.get("KENNEL_TOKEN"):
            config.token, config.token_id = os.environ["KENNEL_TOKEN"], None
    return config


def config_save(config: Config) -> Path:
    """Write the file atomically. It is created with mode 0600 (never readable by others, not even for
    a moment before a chmod), in a directory created with mode 0700."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(config), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
