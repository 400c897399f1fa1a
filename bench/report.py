"""One table for every benchmark: each benchmark records its figures as rows, `make bench` prints them all.

A benchmark calls :func:`record` for each figure it measured (it may also print its own detail). Rows are
appended, one JSON object per line, to ``var/bench/results.jsonl`` (or ``$BENCH_RESULTS``), so benchmarks
that run as separate processes (or under another virtualenv) end up in one table; :func:`table` renders
them as Markdown with the machine's load average beside them.

    from bench.report import record
    record("vm list page, 50,000 VMs", p50_ms=12.0, p95_ms=18.4, queries=9, errors=0, target="p95 <= 50 ms",
           met=True)
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def results_path() -> Path:
    return Path(os.environ.get("BENCH_RESULTS", ROOT / "var" / "bench" / "results.jsonl"))


@dataclass(frozen=True, kw_only=True)
class Row:
    """One measured figure. Leave a column ``None`` when it does not apply (it prints as a dash)."""

    bench: str  # the benchmark module that measured it, e.g. "scale"
    name: str  # what was measured, with its size: "dashboard, 1,000 hosts"
    p50_ms: float | None = None
    p95_ms: float | None = None
    queries: int | None = None
    errors: int | None = None
    ratio: float | None = None  # e.g. Horizon p95 / Kennel p95
    value: str | None = None  # any other figure with its unit: "212 req/s", "1.4 s CPU", "310 MiB"
    target: str | None = None  # the target in words: "p95 <= 50 ms"
    met: bool | None = None  # None when there is no target
    load: tuple[float, float, float] = field(default_factory=os.getloadavg)
    at: float = field(default_factory=time.time)


def record(name: str, *, bench: str | None = None, **figures: object) -> Row:
    """Store one row (and print it) for the final table."""
    if bench is None:
        import __main__

        bench = Path(getattr(__main__, "__file__", "bench")).stem
    row = Row(bench=bench, name=name, **figures)  # type: ignore[arg-type]
    path = results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(row)) + "\n")
    print(f"  [{row.bench}] {_line(row)}")
    return row


def rows(since: float = 0.0) -> list[Row]:
    path = results_path()
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        data["load"] = tuple(data["load"])
        if data["at"] >= since:
            found.append(Row(**data))
    return found


def _fmt(value: object, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _line(row: Row) -> str:
    return " | ".join(
        [
            row.name,
            _fmt(row.p50_ms),
            _fmt(row.p95_ms),
            _fmt(row.queries),
            _fmt(row.errors),
            _fmt(row.ratio, 0) if row.ratio and row.ratio >= 10 else _fmt(row.ratio, 2),
            _fmt(row.value),
            _fmt(row.target),
            _fmt(row.met),
            " ".join(f"{x:.2f}" for x in row.load),
        ]
    )


def table(found: list[Row]) -> str:
    """The rows as one Markdown table, grouped by benchmark, with the machine they ran on."""
    head = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} on {platform.node()} "
        f"({os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()})\n\n"
        "| bench | figure | p50 ms | p95 ms | queries | errors | ratio | other | target | met "
        "| load 1/5/15 |\n"
        "|---|---|---:|---:|---:|---:|---:|---|---|---|---|\n"
    )
    return head + "".join(f"| {row.bench} | {_line(row)} |\n" for row in found)


if __name__ == "__main__":
    import sys

    since = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    print(table(rows(since)))
