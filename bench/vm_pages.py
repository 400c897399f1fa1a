"""Benchmark: server time and SQL queries of the VM pages with many VMs (run on demand, prints figures).

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_bench .venv/bin/python bench/vm_pages.py

Seeds (once, in its own database) 5,000 VMs across 100 teams and 200 compute hosts, then renders the
VM list (as an admin, who sees all, and as a developer) and the request form, and prints p50/p95 server
time and the SQL query count. It seeds 500 more and measures again, to show the query count does not
grow with N. Targets (issue 4): p95 <= 50 ms, queries constant in N.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")
os.environ.setdefault("KENNEL_VAR_DIR", str(Path(__file__).resolve().parents[1] / "var" / "bench"))

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.report import record  # noqa: E402
from portal.models import Membership, Role, Team, User  # noqa: E402
from provisioning.models import CloudFlavor, CloudHost, CloudImage, VmRequest  # noqa: E402
from quotas.models import TeamQuota  # noqa: E402

ROUNDS = 40


def seed(vms: int, teams: int = 100, hosts: int = 200) -> None:
    now = timezone.now()
    if not Team.objects.filter(slug="bench-0").exists():
        Team.objects.bulk_create(
            [Team(name=f"Bench {i}", slug=f"bench-{i}", openstack_project_id=f"p{i}") for i in range(teams)]
        )
        users = User.objects.bulk_create(
            [User(username=f"bench{i}", role=Role.DEVELOPER) for i in range(teams)]
        )
        Membership.objects.bulk_create(
            [
                Membership(user=u, team=t)
                for u, t in zip(users, Team.objects.filter(slug__startswith="bench-"), strict=True)
            ]
        )
        User.objects.create_superuser("bench-admin", password="bench")  # noqa: S106
        CloudHost.objects.bulk_create(
            [
                CloudHost(
                    name=f"h{i}",
                    architecture="ppc64le" if i % 4 == 0 else "x86_64",
                    state="up",
                    status="enabled",
                    inventories={
                        "VCPU": {"total": 32, "reserved": 0, "allocation_ratio": 16.0, "used": 0},
                        "MEMORY_MB": {"total": 262144, "reserved": 4096, "allocation_ratio": 1.2, "used": 0},
                        "DISK_GB": {"total": 1800, "reserved": 0, "allocation_ratio": 1.0, "used": 0},
                    },
                    seen_at=now,
                )
                for i in range(hosts)
            ]
        )
        for arch in ("x86_64", "ppc64le"):
            CloudImage.objects.create(
                cloud_id=f"img-{arch}",
                name=f"cirros-{arch}",
                architecture=arch,
                status="active",
                offered=True,
                seen_at=now,
            )
        CloudFlavor.objects.create(cloud_id="f1", name="m1.tiny", vcpus=1, ram_mb=512, disk_gb=1, seen_at=now)
        # Every team has limits, so the request form counts what fits within the quota too.
        TeamQuota.objects.bulk_create(
            TeamQuota(team=team, key=key, limit=limit)
            for team in Team.objects.filter(slug__startswith="bench-")
            for key, limit in (("instances", 1000), ("cores", 4000), ("ram_mb", 4_000_000))
        )
    teams_list = list(Team.objects.filter(slug__startswith="bench-").prefetch_related("memberships"))
    start = VmRequest.objects.count()
    VmRequest.objects.bulk_create(
        [
            VmRequest(
                team=teams_list[i % teams],
                owner_id=teams_list[i % teams].memberships.all()[0].user_id,
                name=f"vm{start + i}",
                architecture="x86_64",
                image_name="cirros",
                flavor_name="m1.tiny",
                vcpus=1,
                ram_mb=512,
                disk_gb=1,
                status=VmRequest.Status.ACTIVE,
                server_id=f"s{start + i}",
                host=f"h{i % hosts}",
                addresses={"net": ["10.0.0.1"]},
                expires_at=now,
            )
            for i in range(vms)
        ],
        batch_size=1000,
    )


def measure(client: Client, url: str) -> tuple[float, float, int]:
    times, queries = [], 0
    for _ in range(ROUNDS):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], queries


def report(label: str) -> None:
    admin, developer = Client(), Client()
    admin.force_login(User.objects.get(username="bench-admin"))
    developer.force_login(User.objects.get(username="bench0"))
    vms, teams, hosts = VmRequest.objects.count(), Team.objects.count(), CloudHost.objects.count()
    image = CloudImage.objects.get(cloud_id="img-x86_64")
    print(f"\n{label}: {vms} VMs, {teams} teams, {hosts} hosts")
    for who, client, url in (
        ("admin", admin, "/vms/"),
        ("admin", admin, "/vms/?page=100&ordering=-created"),
        ("developer", developer, "/vms/"),
        ("developer", developer, "/vms/new/?architecture=x86_64"),
        ("developer", developer, f"/vms/new/?architecture=x86_64&image={image.pk}"),
        ("admin", admin, "/api/v1/vms/"),
    ):
        p50, p95, queries = measure(client, url)
        print(f"  {who:<9} {url:<48} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  {queries:3d} queries")
        record(
            f"{who} {url}, {vms:,} VMs",
            p50_ms=p50,
            p95_ms=p95,
            queries=queries,
            target="p95 <= 50 ms",
            met=p95 <= 50,
        )


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("run it on PostgreSQL: DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_bench")
    settings.ALLOWED_HOSTS = ["*"]
    setup_test_environment()
    call_command("migrate", verbosity=0)
    if VmRequest.objects.count() < 5000:
        seed(5000 - VmRequest.objects.count())
    report("N=5000")
    seed(500)
    report("N=5500 (queries must not grow)")


if __name__ == "__main__":
    main()
