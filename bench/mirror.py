"""Benchmark: what one run of the cloud mirror costs Kennel with a large cloud (on demand, prints figures).

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_bench .venv/bin/python bench/mirror.py

On the in-memory FakeCloud (so the figures are Kennel's own cost: SQL and Python, not the cloud's
answer time) with 1,500 servers, of which 1,000 are Kennel's VMs and 500 were made outside it, it
measures the complete server listing, a quiet changes-since run, one with 20 servers stopped and one
with 5 deleted: each run's wall time, SQL queries and gateway calls. Then it doubles the servers and
measures again (a quiet run's queries must not grow). Then the host mirror with 200 compute hosts:
first read, nothing changed, allocations moved on a few hosts.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")
os.environ.setdefault("KENNEL_VAR_DIR", str(Path(__file__).resolve().parents[1] / "var" / "bench"))

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench.report import record  # noqa: E402
from portal.cloud import override  # noqa: E402
from portal.cloud.fake import ComputeHost, FakeCloud  # noqa: E402
from portal.cloud.gateway import QuotaService, ServerAction  # noqa: E402
from portal.models import Role, Team, User  # noqa: E402
from provisioning import services  # noqa: E402
from provisioning.models import CloudSync, UnmanagedServer, VmRequest  # noqa: E402


def hosts(n: int) -> tuple[ComputeHost, ...]:
    return tuple(
        ComputeHost(f"b{i}", "x86_64", "dc1", vcpus=1024, memory_mb=8_388_608, disk_gb=100_000)
        for i in range(n)
    )


LONG_AGO = datetime.now(UTC) - timedelta(hours=2)


def measure(label: str, fake: FakeCloud, run, size: str = "") -> None:
    calls = sum(fake.calls.values())
    began = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        result = run()
    took = (time.perf_counter() - began) * 1000
    print(
        f"{label:<52} {took:8.1f} ms  {len(queries):4d} queries  "
        f"{sum(fake.calls.values()) - calls:2d} gateway calls  {result}"
    )
    record(
        f"{label}{size}",
        queries=len(queries),
        value=f"{took:.0f} ms, {sum(fake.calls.values()) - calls} gateway calls",
    )


def grow(fake: FakeCloud, team: Team, owner: User, kennel: int, outside: int) -> None:
    """Servers made "long ago" (Nova's clock), so a changes-since listing of now does not show them."""
    fake.clock = lambda: LONG_AGO
    image = next(i for i in fake.list_images() if i.architecture == "x86_64")
    size = next(f for f in fake.list_flavors() if f.name == "m1.tiny")
    start = VmRequest.objects.count()
    made = []
    for i in range(kennel + outside):
        mine = i < kennel
        made.append(
            (
                mine,
                fake.create_server(
                    project_id=team.openstack_project_id,
                    name=f"s{start + i}",
                    image_id=image.id,
                    flavor_id=size.id,
                    metadata={"kennel-request": f"bench-{start + i}"} if mine else None,
                ),
            )
        )
    fake.settle()
    VmRequest.objects.bulk_create(
        [
            VmRequest(
                team=team,
                owner=owner,
                name=created.name,
                architecture="x86_64",
                image_name=image.name,
                flavor_name=size.name,
                vcpus=1,
                ram_mb=512,
                disk_gb=1,
                status=VmRequest.Status.ACTIVE,
                server_id=created.id,
            )
            for mine, created in made
            if mine
        ]
    )
    fake.clock = lambda: datetime.now(UTC)


def main() -> None:
    call_command("migrate", verbosity=0)
    VmRequest.objects.all().delete()
    UnmanagedServer.objects.all().delete()
    CloudSync.objects.all().delete()
    fake = FakeCloud(hosts=hosts(4), portal_user=None)
    project = fake.create_project(name="bench")
    fake.set_quotas(project.id, QuotaService.COMPUTE, {"instances": -1, "cores": -1, "ram": -1})
    team, _ = Team.objects.update_or_create(
        slug="bench-mirror", defaults={"name": "Bench mirror", "openstack_project_id": project.id}
    )
    owner, _ = User.objects.get_or_create(username="bench-mirror", defaults={"role": Role.DEVELOPER})
    with override(fake):
        services.catalog_refresh()
        for total in (1500, 3000):
            alive = VmRequest.objects.filter(status=VmRequest.Status.ACTIVE).count()
            outside = total // 3 - UnmanagedServer.objects.count()
            grow(fake, team, owner, kennel=total * 2 // 3 - alive, outside=outside)
            print(f"--- {total} servers ({total * 2 // 3} Kennel's VMs)")
            full = lambda: services.vm_reconcile(full=True)  # noqa: E731
            size = f", {total:,} servers"
            measure("servers: complete listing, new servers", fake, full, size)
            measure("servers: complete listing, nothing changed", fake, full, size)
            measure(
                "servers: changes-since, nothing changed",
                fake,
                lambda: services.vm_reconcile(full=False),
                size,
            )
            for vm in VmRequest.objects.filter(server_status="ACTIVE").order_by("?")[:20]:
                fake.server_action(vm.server_id, ServerAction.STOP)
            fake.settle()
            measure(
                "servers: changes-since, 20 stopped", fake, lambda: services.vm_reconcile(full=False), size
            )
            for vm in VmRequest.objects.filter(status=VmRequest.Status.ACTIVE).order_by("?")[:5]:
                fake.delete_server(vm.server_id)
            fake.settle()
            measure(
                "servers: changes-since, 5 deleted", fake, lambda: services.vm_reconcile(full=False), size
            )

    fake = FakeCloud(hosts=hosts(200), portal_user=None)
    with override(fake):
        print("--- 200 compute hosts")
        measure("hosts: first read", fake, services.hosts_mirror_refresh, ", 200 hosts")
        measure("hosts: nothing changed", fake, services.hosts_mirror_refresh, ", 200 hosts")
        image = next(i for i in fake.list_images() if i.architecture == "x86_64")
        size = next(f for f in fake.list_flavors() if f.name == "m1.tiny")
        admin = fake.find_project("alpha")
        assert admin is not None
        for i in range(5):
            fake.create_server(project_id=admin.id, name=f"h{i}", image_id=image.id, flavor_id=size.id)
        fake.settle()
        measure(
            "hosts: 5 servers placed (allocations moved)", fake, services.hosts_mirror_refresh, ", 200 hosts"
        )


if __name__ == "__main__":
    main()
