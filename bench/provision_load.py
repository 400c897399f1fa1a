"""Benchmark: 50 concurrent VM requests through Kennel on the local cloud, against 50 concurrent bare
openstacksdk creates (on demand, prints figures).

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_provision_load \\
        REDIS_URL=redis://127.0.0.1:16379/9 .venv/bin/python bench/provision_load.py [N]

Needs the local cloud and PostgreSQL/Redis (as bench/vm_overhead.py). Lifts team alpha's cloud quota
for the run (restored afterwards), then: N bare creates at once (threads, one connection), each
waited until ACTIVE, then deleted; then N ``vm_request_submit`` at once (threads, what N people
pressing the button do) with a real Celery worker (8 threads) building them, each timed from the
request's creation to the "active" step of its history; then deleted through Kennel. Prints how many
became active, the errors, per-VM and total times and the portal's overhead over bare openstacksdk.
Never more than N servers exist at once (N <= 50: the shared cloud's limit for this benchmark).
Target (issue 15): all active, 0 errors, overhead printed.
"""

from __future__ import annotations

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

import openstack  # noqa: E402
import openstack.config  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402

from bench.report import record  # noqa: E402
from kennel.demo import demo_cloud_link, demo_load  # noqa: E402
from portal.models import Team, User  # noqa: E402
from provisioning import services  # noqa: E402
from provisioning.models import CloudFlavor, CloudImage, VmRequest  # noqa: E402
from quotas.services import quota_mirror_refresh  # noqa: E402
from tests.live import celery_worker  # noqa: E402

N = min(int(sys.argv[1]) if len(sys.argv) > 1 else 50, 50)
TIMEOUT = 900


def wait(probe, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except openstack.exceptions.SDKException as error:  # a loaded cloud drops a connection now and then
            print(f"  (retrying after: {error})")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(1)


def bare(
    conn, project, network_id: str, image_id: str, flavor_id: str, stamp: str
) -> tuple[list[float], int, float]:
    """N creates at once: (seconds to ACTIVE of each that got there, errors, wall seconds)."""
    began = time.monotonic()
    lock = threading.Lock()
    created: dict[str, float] = {}
    errors = 0

    def create(i: int) -> None:
        nonlocal errors
        start = time.monotonic()
        try:
            server = project.compute.create_server(
                name=f"bench-bare-{stamp}-{i}",
                image_id=image_id,
                flavor_id=flavor_id,
                networks=[{"uuid": network_id}],
            )
        except openstack.exceptions.SDKException as error:
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
        for server in conn.compute.servers(all_projects=True, name=f"bench-bare-{stamp}"):
            if server.id in created and server.id not in active:
                if server.status == "ACTIVE":
                    active[server.id] = time.monotonic() - created[server.id]
                elif server.status == "ERROR":
                    errors += 1
                    active[server.id] = float("nan")
        time.sleep(0.5)
    wall = time.monotonic() - began
    for server_id in created:
        conn.compute.delete_server(server_id, ignore_missing=True)
    wait(
        lambda: not list(conn.compute.servers(all_projects=True, name=f"bench-bare-{stamp}")), "bare deletes"
    )
    times = [t for t in active.values() if t == t]  # NaN: ended in ERROR
    return times, N - len(times), wall


def kennel(
    user: User, team: Team, image: CloudImage, flavor: CloudFlavor, stamp: str
) -> tuple[list[float], int, float]:
    """N submits at once through the service the web calls; the worker builds them."""
    began = time.monotonic()
    ids: list[int] = []
    errors = 0
    lock = threading.Lock()

    def submit(i: int) -> None:
        nonlocal errors
        try:
            vm = services.vm_request_submit(
                actor=user,
                team=team,
                name=f"bench-load-{stamp}-{i}",
                image=image,
                flavor=flavor,
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
    wait(lambda: VmRequest.objects.filter(pk__in=ids, status__in=done).count() == len(ids), "Kennel's builds")
    wall = time.monotonic() - began
    times = []
    for vm in VmRequest.objects.filter(pk__in=ids):
        active = vm.events.filter(status=VmRequest.Status.ACTIVE).order_by("at").first()
        if vm.status == VmRequest.Status.ACTIVE and active is not None:
            times.append((active.at - vm.created_at).total_seconds())
        else:
            print(f"  {vm.name}: {vm.status} {vm.status_message}")
            errors += 1
    for vm in VmRequest.objects.filter(pk__in=ids, status=VmRequest.Status.ACTIVE):
        services.vm_delete_request(actor=user, vm=vm, source="bench")
    wait(
        lambda: (
            not VmRequest.objects.filter(pk__in=ids)
            .exclude(status__in=[VmRequest.Status.DELETED, VmRequest.Status.FAILED])
            .exists()
        ),
        "Kennel's deletes",
    )
    return times, errors, wall


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("run it on PostgreSQL (see the docstring)")
    call_command("migrate", verbosity=0)
    demo_load()
    problem = demo_cloud_link()
    if problem:
        sys.exit(f"the local cloud is not reachable: {problem}")
    team = Team.objects.get(slug="alpha")
    user = User.objects.get(username="dev1")
    image = CloudImage.objects.get(name="cirros-0.6-x86_64")
    flavor = CloudFlavor.objects.get(name="m1.tiny")
    region = openstack.config.OpenStackConfig(config_files=[settings.OPENSTACK_CONFIG_FILE]).get_one(
        cloud=settings.OPENSTACK_CLOUD
    )
    conn = openstack.connection.Connection(config=region)
    pid = team.openstack_project_id
    before_compute = conn.get_compute_quotas(pid)
    before_network = conn.get_network_quotas(pid)
    conn.set_compute_quotas(pid, instances=N + 20, cores=N + 40, ram=(N + 20) * 1024)
    conn.set_network_quotas(pid, port=N + 40)
    try:
        quota_mirror_refresh()
        network = conn.network.find_network("alpha-net", project_id=pid)
        project = conn.connect_as(project_id=pid, project_name=None)
        stamp = str(int(time.time()))
        print(f"{N} VMs at once each way (x86_64, m1.tiny) on the local cloud; load {os.getloadavg()[0]:.1f}")
        bare_times, bare_errors, bare_wall = bare(
            conn, project, network.id, image.cloud_id, flavor.cloud_id, stamp
        )
        print(
            f"  bare openstacksdk: {len(bare_times)} active, {bare_errors} errors, all in {bare_wall:.1f} s; "
            f"per VM mean {statistics.mean(bare_times):.1f} s, median {statistics.median(bare_times):.1f} s"
        )
        with celery_worker(concurrency=8):
            k_times, k_errors, k_wall = kennel(user, team, image, flavor, stamp)
        print(
            f"  Kennel (submit -> active): {len(k_times)} active, {k_errors} errors, all in {k_wall:.1f} s; "
            f"per VM mean {statistics.mean(k_times):.1f} s, median {statistics.median(k_times):.1f} s"
        )
    finally:
        conn.set_compute_quotas(
            pid, instances=before_compute.instances, cores=before_compute.cores, ram=before_compute.ram
        )
        conn.set_network_quotas(pid, port=before_network.ports)
        quota_mirror_refresh()
    mean_b, mean_k = statistics.mean(bare_times), statistics.mean(k_times)
    overhead = (mean_k - mean_b) / mean_b
    print(
        f"  overhead per VM: {mean_k - mean_b:+.1f} s ({overhead:+.1%}); all {N}: {k_wall - bare_wall:+.1f} s"
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


if __name__ == "__main__":
    main()
