"""Benchmark: 50 concurrent VM requests through Kennel on the local cloud, against 50 concurrent bare
openstacksdk creates (on demand, prints figures).

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_provision_load \\
        REDIS_URL=redis://127.0.0.1:16379/9 .venv/bin/python bench/provision_load.py [N]

Needs the benchmark cloud (``make bench`` starts it; alone: ``.venv/bin/python -m bench._benchcloud
start`` and OS_CLIENT_CONFIG_FILE=var/benchcloud/clouds.yaml) and PostgreSQL/Redis. Builds in the
bench-vms project, which has no quota limits and is nobody else's (bench/_vms.py says why not team
alpha's): N bare creates at once (threads, one connection), each waited until ACTIVE, then deleted;
then N ``vm_request_submit`` at once (threads, what N people pressing the button do) with a real
Celery worker (8 threads) building them, each timed from the request's creation to the "active" step
of its history; then deleted through Kennel. Prints how many became active, the errors, per-VM and
total times and the portal's overhead over bare openstacksdk. Never more than N servers of its own
exist at once (N <= 50). Target (issue 15): all active, 0 errors, overhead printed.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402

from bench._vms import CLOUD_HICCUPS, Bench, bench_cloud_vms, kennel_timings, wait  # noqa: E402
from bench.report import record  # noqa: E402
from provisioning import services  # noqa: E402
from provisioning.models import VmRequest  # noqa: E402
from tests.live import celery_worker  # noqa: E402

# It builds VMs on a real cloud: the benchmark cloud (make bench), never the shared one.
BENCH_CLOUD = True
N = min(int(sys.argv[1]) if len(sys.argv) > 1 else 50, 50)
TIMEOUT = 900
POLL = 1.0


def bare(bench: Bench, stamp: str) -> tuple[list[float], int, float]:
    """N creates at once: (seconds to ACTIVE of each that got there, errors, wall seconds)."""
    began = time.monotonic()
    lock = threading.Lock()
    created: dict[str, float] = {}
    errors = 0

    def create(i: int) -> None:
        nonlocal errors
        start = time.monotonic()
        try:
            server = bench.bare_create(f"bench-bare-{stamp}-{i}")
        except CLOUD_HICCUPS as error:
            print(f"  bare create {i} failed: {error}")
            with lock:
                errors += 1
            return
        with lock:
            created[server.id] = start

    with ThreadPoolExecutor(N) as pool:
        list(pool.map(create, range(N)))
    active: dict[str, float] = {}
    deadline = time.monotonic() + TIMEOUT
    while len(active) + errors < N and time.monotonic() < deadline:
        try:
            servers = list(bench.conn.compute.servers(all_projects=True, name=f"bench-bare-{stamp}"))
        except CLOUD_HICCUPS as error:
            print(f"  (listing again after: {error})")
            servers = []
        for server in servers:
            if server.id in created and server.id not in active:
                if server.status == "ACTIVE":
                    active[server.id] = time.monotonic() - created[server.id]
                elif server.status == "ERROR":
                    errors += 1
                    active[server.id] = float("nan")
        time.sleep(0.5)
    wall = time.monotonic() - began

    def deleted(server_id: str) -> bool:
        bench.conn.compute.delete_server(server_id, ignore_missing=True)
        return True

    # By name too: a create whose answer was lost may still have made its server.
    with contextlib.suppress(*CLOUD_HICCUPS):
        named = bench.conn.compute.servers(all_projects=True, name=f"bench-bare-{stamp}")
        created.update({server.id: 0.0 for server in named if server.id not in created})
    for server_id in created:
        wait(
            lambda server_id=server_id: deleted(server_id),
            "a bare delete",
            timeout=TIMEOUT,
            period=POLL,
        )
    # Deleted means Nova says DELETED: the row itself may stay listed a while longer on a busy cloud.
    wait(
        lambda: all(
            server.status == "DELETED"
            for server in bench.conn.compute.servers(all_projects=True, name=f"bench-bare-{stamp}")
        ),
        "bare deletes",
        timeout=TIMEOUT,
        period=POLL,
    )
    times = [t for t in active.values() if t == t]  # NaN: ended in ERROR
    return times, N - len(times), wall


def kennel(bench: Bench, stamp: str) -> tuple[list[float], int, float, list[int]]:
    """N submits at once through the service the web calls; the worker builds them."""
    began = time.monotonic()
    ids: list[int] = []
    errors = 0
    lock = threading.Lock()

    def submit(i: int) -> None:
        nonlocal errors
        try:
            vm = services.vm_request_submit(
                actor=bench.user,
                team=bench.team,
                name=f"bench-load-{stamp}-{i}",
                image=bench.image,
                flavor=bench.flavor,
                source="bench",
            )
            with lock:
                ids.append(vm.pk)
        except Exception as error:
            print(f"  Kennel submit {i} refused: {error}")
            with lock:
                errors += 1
        finally:
            connections.close_all()

    with ThreadPoolExecutor(N) as pool:
        list(pool.map(submit, range(N)))
    done = {VmRequest.Status.ACTIVE, VmRequest.Status.FAILED}
    wait(
        lambda: VmRequest.objects.filter(pk__in=ids, status__in=done).count() == len(ids),
        "Kennel's builds",
        timeout=TIMEOUT,
        period=POLL,
    )
    wall = time.monotonic() - began
    times = []
    for vm in VmRequest.objects.filter(pk__in=ids):
        timings = kennel_timings(vm)
        if timings is not None:
            times.append(timings[0])
        else:
            print(f"  {vm.name}: {vm.status} {vm.status_message}")
            errors += 1
    return times, errors, wall, ids


def kennel_cleanup(bench: Bench, ids: list[int]) -> None:
    """Delete Kennel's VMs through the service and wait for them. Figures are recorded before this: a
    delete the loaded cloud answers late (Kennel retries it by itself) leaves them standing, and the next
    run deletes what is left in the project."""
    try:
        for vm in VmRequest.objects.filter(pk__in=ids, status=VmRequest.Status.ACTIVE):
            services.vm_delete_request(actor=bench.user, vm=vm, source="bench")
        wait(
            lambda: (
                not VmRequest.objects.filter(pk__in=ids)
                .exclude(status__in=[VmRequest.Status.DELETED, VmRequest.Status.FAILED])
                .exists()
            ),
            "Kennel's deletes",
            timeout=TIMEOUT,
            period=POLL,
        )
    except SystemExit as timeout:
        waiting = VmRequest.objects.filter(pk__in=ids, status=VmRequest.Status.DELETING).count()
        print(f"  {timeout}: {waiting} of {len(ids)} still deleting (Kennel retries them by itself)")


def main() -> None:
    with bench_cloud_vms() as bench:
        stamp = str(int(time.time()))
        print(f"{N} VMs at once each way (x86_64, m1.tiny) on the local cloud; load {os.getloadavg()[0]:.1f}")
        bare_times, bare_errors, bare_wall = bare(bench, stamp)
        print(
            f"  bare openstacksdk: {len(bare_times)} active, {bare_errors} errors, all in {bare_wall:.1f} s; "
            f"per VM mean {statistics.mean(bare_times):.1f} s, median {statistics.median(bare_times):.1f} s"
        )
        with celery_worker(concurrency=8):
            k_times, k_errors, k_wall, ids = kennel(bench, stamp)
            print(
                f"  Kennel (submit -> active): {len(k_times)} active, {k_errors} errors, "
                f"all in {k_wall:.1f} s; per VM mean {statistics.mean(k_times):.1f} s, "
                f"median {statistics.median(k_times):.1f} s; load {os.getloadavg()[0]:.1f}"
            )
            mean_b, mean_k = statistics.mean(bare_times), statistics.mean(k_times)
            overhead = (mean_k - mean_b) / mean_b
            print(
                f"  overhead per VM: {mean_k - mean_b:+.1f} s ({overhead:+.1%}); "
                f"all {N}: {k_wall - bare_wall:+.1f} s"
            )
            record(
                f"{N} concurrent VM requests through Kennel (local cloud, 8 worker threads)",
                errors=k_errors,
                value=f"{len(k_times)}/{N} active; per VM mean {mean_k:.1f} s vs bare {mean_b:.1f} s "
                f"({overhead:+.1%}); all in {k_wall:.0f} s vs {bare_wall:.0f} s",
                ratio=mean_k / mean_b,
                target="all active, 0 errors",
                met=len(k_times) == N and k_errors == 0,
            )
            kennel_cleanup(bench, ids)


if __name__ == "__main__":
    main()
