"""Benchmark: the cloud mirror's reconciles at scale through the REAL gateway (on demand, prints figures).

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_bench_reconcile .venv/bin/python bench/reconcile.py

Starts a generated OpenStack (bench/fake_openstack.py: Keystone, Nova, Placement answering as the real
services do, Nova paging servers 1,000 at a time) in another process with 10,000 servers on 500
hypervisors in 500 projects, points the portal's gateway (portal/cloud/openstack.py, openstacksdk) at
it, seeds Kennel's rows for 8,000 of the servers (the rest were made outside Kennel), and times:
the complete server listing (first and again), a changes-since run after 20 servers stopped, the
host mirror's first read (every provider's inventories and usages; the architectures from one listing
per HW_ARCH_* trait), a run where one in ten providers moved and one where nothing did. For each: wall
time, the portal's CPU time (this process; the cloud runs in another), SQL queries and the HTTP
requests per path. Targets (issue 15): one list call per resource kind, <= 2 s of portal CPU per
reconcile. Placement has no bulk read of inventories or usages: the hosts' first read (once per
installation; later runs read only the providers whose generation moved) asks two per provider.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")
os.environ.setdefault("KENNEL_VAR_DIR", str(ROOT / "var" / "bench"))

SERVERS = int(os.environ.get("BENCH_SERVERS", "10000"))
HYPERVISORS = int(os.environ.get("BENCH_HYPERVISORS", "500"))
PROJECTS = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from bench import fake_openstack

    port = _free_port()
    ready = multiprocessing.Event()
    cloud = multiprocessing.Process(
        target=fake_openstack.serve, args=(port, SERVERS, HYPERVISORS, PROJECTS, ready), daemon=True
    )
    cloud.start()
    ready.wait(60)
    config = Path(tempfile.mkdtemp(prefix="kennel-bench-")) / "clouds.yaml"
    config.write_text(
        "clouds:\n  bench:\n    auth:\n"
        f"      auth_url: http://127.0.0.1:{port}/identity\n"
        "      username: admin\n      password: bench\n      project_name: admin\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n"
        "    region_name: RegionOne\n    identity_api_version: 3\n"
    )
    os.environ["OS_CLIENT_CONFIG_FILE"], os.environ["OS_CLOUD"] = str(config), "bench"
    try:
        run(port)
    finally:
        cloud.terminate()
        cloud.join(10)


def run(port: int) -> None:
    import json
    import urllib.request

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from bench.fake_openstack import project_id, server_id
    from bench.report import record
    from portal.models import Role, Team, User
    from provisioning import services
    from provisioning.models import CloudHost, CloudSync, UnmanagedServer, VmRequest

    if connection.vendor != "postgresql":
        sys.exit("run it on PostgreSQL (see the docstring)")

    def cloud_call(path: str, method: str = "GET") -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    Team.objects.bulk_create(
        Team(name=f"Team {i}", slug=f"team-{i}", openstack_project_id=project_id(i)) for i in range(PROJECTS)
    )
    owner = User.objects.create(username="bench-owner", role=Role.DEVELOPER)
    teams = {t.openstack_project_id: t for t in Team.objects.all()}
    now = timezone.now()
    VmRequest.objects.bulk_create(
        (
            VmRequest(
                team=teams[project_id(i % PROJECTS)],
                owner=owner,
                name=f"vm-{i}",
                architecture="x86_64",
                image_name="cirros",
                flavor_name=f"m1.size{i % 8}",
                vcpus=1 + i % 8,
                ram_mb=512 * (1 + i % 4),
                disk_gb=10,
                status=VmRequest.Status.ACTIVE,
                server_id=server_id(i),
                server_status="ACTIVE",
                created_at=now,
            )
            for i in range(SERVERS)
            if i % 5  # the fake cloud marks these as Kennel's (metadata); the rest were made outside
        ),
        batch_size=2000,
    )
    print(
        f"cloud: {SERVERS} servers on {HYPERVISORS} hypervisors in {PROJECTS} projects; "
        f"Kennel: {VmRequest.objects.count()} VMs"
    )

    def measure(label: str, work, *, target: str | None = None) -> None:
        cloud_call("/__reset", "POST")
        connection.queries_log.clear()  # CaptureQueriesContext counts wrong past the log's 9,000 entries
        began, began_cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            result = work()
        wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        stats = cloud_call("/__stats")
        print(f"\n{label}: {wall:.2f} s wall, {cpu:.2f} s portal CPU, {len(queries)} SQL queries -> {result}")
        for path, n in sorted(stats.items()):
            print(f"    {n:5d} x {path}")
        lists = {p: n for p, n in stats.items() if p.endswith(("/detail", "/resource_providers"))}
        record(
            f"{label} ({SERVERS:,} servers, {HYPERVISORS} hypervisors)",
            value=f"{cpu:.2f} s CPU, {wall:.2f} s wall, {sum(stats.values())} HTTP requests, "
            f"{len(queries)} SQL queries",
            queries=len(queries),
            target=target,
            met=cpu <= 2 if target else None,
        )
        return lists

    # Each run gets a fresh gateway (a fresh openstacksdk connection: the token and discovery count).
    from portal.cloud import override
    from portal.cloud.openstack import OpenStackGateway

    def gateway() -> OpenStackGateway:
        return OpenStackGateway(cloud="bench", config_file=os.environ["OS_CLIENT_CONFIG_FILE"])

    target = "<= 2 s portal CPU, one list call per kind"
    with override(gateway()):
        measure(
            "servers: complete listing, first run", lambda: services.vm_reconcile(full=True), target=target
        )
    with override(gateway()):
        measure(
            "servers: complete listing, nothing changed",
            lambda: services.vm_reconcile(full=True),
            target=target,
        )
    print(f"    unmanaged servers recorded: {UnmanagedServer.objects.count()}")
    cloud_call("/__stop", "POST")  # some servers stop, one provider in ten moves
    CloudSync.objects.filter(part="servers").update(succeeded_at=timezone.now())
    with override(gateway()):
        measure(
            "servers: changes-since, 20 stopped", lambda: services.vm_reconcile(full=False), target=target
        )
    print(f"    VMs now stopped: {VmRequest.objects.filter(server_status='SHUTOFF').count()}")
    CloudSync.objects.filter(part="hosts").delete()
    cloud_call("/__stop", "POST")
    with override(gateway()):
        measure("hosts: first read (every provider's details)", services.hosts_mirror_refresh, target=target)
    print(f"    hosts mirrored: {CloudHost.objects.count()}")
    cloud_call("/__stop", "POST")
    with override(gateway()):
        measure("hosts: one provider in ten moved", services.hosts_mirror_refresh, target=target)
    with override(gateway()):
        measure("hosts: nothing changed", services.hosts_mirror_refresh, target=target)


if __name__ == "__main__":
    main()
