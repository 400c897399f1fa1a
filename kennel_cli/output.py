"""How results look: aligned tables for people, JSON for scripts, a live status line on a terminal."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

Column = tuple[str, Callable[[dict], Any]]


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    return str(value).replace("\n", " ")


def print_table(rows: Sequence[dict], columns: Sequence[Column], *, empty: str = "Nothing to show.") -> None:
    """A plain aligned table with a header line; ``empty`` instead when there are no rows."""
    if not rows:
        print(empty)
        return
    cells = [[cell(get(row)) for _, get in columns] for row in rows]
    headers = [title for title, _ in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``label: value`` lines, labels aligned."""
    width = max(len(label) for label, _ in pairs)
    for label, value in pairs:
        print(f"{label + ':':<{width + 1}} {cell(value)}")


def when(value: str | None) -> str:
    """An API timestamp in the local time zone, to the minute."""
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def expiry(value: str | None, *, now: datetime | None = None) -> str:
    """When a token expires, and how far off that is: ``2027-03-02 09:00 (in 90 days)``."""
    if not value:
        return "never"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    left = moment - (now or datetime.now(moment.tzinfo))
    if left.total_seconds() <= 0:
        return f"{when(value)} (expired)"
    if left.days >= 1:
        distance = f"in {left.days} day{'s' if left.days != 1 else ''}"
    else:
        hours = int(left.total_seconds() // 3600)
        distance = f"in {hours} hour{'s' if hours != 1 else ''}" if hours else "in less than an hour"
    return f"{when(value)} ({distance})"


def clock(value: str | None) -> str:
    if not value:
        return "--:--:--"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return value


def addresses(value: dict | None) -> str:
    """``{"alpha-net": ["10.0.0.5"]}`` (or lists of dicts with "addr") as ``10.0.0.5``."""
    found = []
    for entries in (value or {}).values():
        for entry in entries if isinstance(entries, list) else [entries]:
            found.append(entry.get("addr", "?") if isinstance(entry, dict) else str(entry))
    return ", ".join(found)


class StatusLine:
    """One line that rewrites itself on a terminal; nothing at all elsewhere (logs stay clean).

    Messages printed through ``note`` go above it, each once."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.shown = False

    def update(self, text: str) -> None:
        if not self.live:
            return
        width = shutil.get_terminal_size((80, 20)).columns - 1
        self.stream.write("\r\033[K" + text[:width])
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.live and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def note(self, text: str) -> None:
        self.clear()
        print(text, flush=True)
