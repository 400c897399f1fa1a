"""Benchmark: Kennel against Horizon over HTTP, on the same cloud of 1,000 servers (run on demand).

    make bench ONLY=horizon          # or: .venv/bin/python -m bench.run horizon

Both are served by gunicorn with the same workers and threads (``bench/_stack.py``) against the
benchmark cloud (``bench/_benchcloud.py``: 1,000 servers in the ``bench`` project). One client
(``requests``, one session per side, each signed in through its own login form) as one admin who sees
all 1,000 (``bench-admin``: admin in the bench project in the cloud, a Kennel admin in Kennel) makes the
same number of requests to each page, round after round, the pages taken in turn so that a change in
the machine's load hits both sides alike:

- Horizon's project instances page and admin instances page (20 servers a page, its default) against
  Kennel's VM list page (25 a page) and the VM API's first page;
- Horizon's hypervisors page against Kennel's utilization page.

It records p50/p95 of each and the ratio Horizon p95 / Kennel p95. Target (issue 15): Kennel at least
100 times faster at p95 on the instances pages. ``BENCH_HTTP_ROUNDS`` (default 20) sets the rounds.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from bench import _benchcloud, _stack
from bench.report import record

BENCH_CLOUD = True
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "20"))
TARGET = 100.0

# (label, Horizon path, Kennel path, a text each page must contain to count as answered)
PAIRS = [
    ("instances: Horizon project instances vs Kennel VM list page", "/project/instances/", "/vms/", "bench-"),
    ("instances: Horizon admin instances vs Kennel VM list page", "/admin/instances/", "/vms/", "bench-"),
    ("instances: Horizon admin instances vs Kennel VM API", "/admin/instances/", "/api/v1/vms/", "bench-"),
    (
        "hosts: Horizon hypervisors vs Kennel utilization page",
        "/admin/hypervisors/",
        "/inventory/utilization/",
        "x2",
    ),
]


def hidden_inputs(html: str) -> dict[str, str]:
    """The login form's hidden fields (CSRF token, Horizon's region) by name."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


def sign_in(base: str, path: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    form = session.get(base + path, timeout=120)
    form.raise_for_status()
    data = {**hidden_inputs(form.text), "username": username, "password": password}
    answer = session.post(base + path, data=data, headers={"Referer": base + path}, timeout=300)
    if answer.status_code >= 400 or answer.url.rstrip("/").endswith(path.rstrip("/")):
        raise RuntimeError(f"signing in to {base}{path} as {username} failed: HTTP {answer.status_code}")
    return session


def timed(session: requests.Session, url: str, expect: str) -> tuple[float, bool]:
    began = time.perf_counter()
    try:
        answer = session.get(url, timeout=300, allow_redirects=False)
        ok = answer.status_code == 200 and expect in answer.text
    except requests.RequestException:
        ok = False
    return (time.perf_counter() - began) * 1000, ok


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def main() -> None:
    active, total = _benchcloud.server_count()
    print(f"benchmark cloud: {active} of {total} servers active in the bench project")
    user = _benchcloud.credentials()
    with _stack.Stack() as stack:
        kennel = stack.kennel()
        horizon = stack.horizon()
        print(f"Kennel on {kennel}, Horizon on {horizon} (gunicorn, {_stack.WEB_WORKERS} workers each)")
        h = sign_in(horizon, "/auth/login/", user["username"], user["password"])
        k = sign_in(kennel, "/login/", "bench-admin", _stack.password())
        paths = {(horizon, p[1], p[3]) for p in PAIRS} | {(kennel, p[2], p[3]) for p in PAIRS}
        for base, path, expect in sorted(paths):  # one warm-up each (imports, caches, connections)
            session = h if base == horizon else k
            _ms, ok = timed(session, base + path, expect)
            if not ok:
                print(f"  warm-up of {base}{path} did not answer as expected")
        times: dict[str, list[float]] = {f"{b}{p}": [] for b, p, _e in paths}
        errors: dict[str, int] = dict.fromkeys(times, 0)
        began = time.monotonic()
        for _round in range(ROUNDS):
            for base, path, expect in sorted(paths):
                session = h if base == horizon else k
                ms, ok = timed(session, base + path, expect)
                times[base + path].append(ms)
                errors[base + path] += not ok
        print(f"{ROUNDS} rounds of {len(paths)} pages in {time.monotonic() - began:.0f} s")
    recorded: set[str] = set()
    for label, hpath, kpath, _expect in PAIRS:
        hs, ks = times[horizon + hpath], times[kennel + kpath]
        ratio = p95(hs) / p95(ks)
        instances = label.startswith("instances")
        print(
            f"  {label}: Horizon p50 {statistics.median(hs):.0f} p95 {p95(hs):.0f} ms, "
            f"Kennel p50 {statistics.median(ks):.1f} p95 {p95(ks):.1f} ms: {ratio:.0f}x"
        )
        if hpath not in recorded:  # a Horizon page compared twice is one row
            recorded.add(hpath)
            record(
                f"Horizon {hpath}, {total} servers, {ROUNDS} requests",
                p50_ms=statistics.median(hs),
                p95_ms=p95(hs),
                errors=errors[horizon + hpath],
            )
        record(
            f"Kennel {kpath} vs Horizon {hpath}, {total} servers, {ROUNDS} requests",
            p50_ms=statistics.median(ks),
            p95_ms=p95(ks),
            errors=errors[kennel + kpath],
            ratio=ratio,
            value=f"{ratio:.0f}x faster than {hpath} at p95",
            target=f">= {TARGET:.0f}x faster at p95" if instances else None,
            met=(ratio >= TARGET) if instances else None,
        )


if __name__ == "__main__":
    main()
