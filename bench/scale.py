"""Benchmark: every list page, the dashboard, utilization and history at ten times the scale (on demand).

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_scale_bench .venv/bin/python bench/scale.py

Empties its own database (it must be a throwaway one), then seeds the mirror directly at two sizes:
first 100 compute hosts (each with its physical server and BMC state), 50 teams and 5,000 VMs, then
ten times that (1,000 hosts, 500 teams, 50,000 VMs), plus a year of utilization history as the rollup keeps
it. At each size it renders every list page, the dashboard, the utilization page and the history pages
and API as an admin (who sees everything), and prints p50/p95 server time, the CPU time of this process
and the SQL query count. Targets (issue 15): p95 <= 50 ms at the larger size, the same query count at
both sizes, and a time that does not grow with the estate (the CPU time is the figure to compare on a
shared machine: the wall time waits for the CPU as much as it works). Each request's log line is off
(``kennel.requests`` at WARNING), as it would be a write to the terminal per request.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import statistics
import sys
import time
from datetime import timedelta
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
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench._estate import DATACENTERS, seed_hosts  # noqa: E402
from bench.report import record  # noqa: E402
from inventory.history import COLUMNS  # noqa: E402
from inventory.models import Server, UtilizationSample  # noqa: E402
from portal.models import Membership, Role, Team, User  # noqa: E402
from provisioning.models import (  # noqa: E402
    CloudFlavor,
    CloudHost,
    CloudImage,
    CloudSync,
    UnmanagedServer,
    VmRequest,
)
from quotas.models import QuotaRequest, TeamQuota  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
# (hosts, teams, VMs) at the two sizes.
SIZES = ((100, 50, 5_000), (1_000, 500, 50_000))
URLS = (
    "/inventory/dashboard/",
    "/inventory/utilization/",
    "/inventory/servers/",
    "/inventory/datacenters/",
    "/vms/",
    "/vms/?page=200&ordering=-created",  # the last page at 5,000 VMs
    "/teams/",
    "/people/",
    "/people/?page=2&ordering=-last_login",
    "/audit/",
    "/quotas/",
    "/quotas/?sort=cores",
    "/quotas/requests/",
    "/catalog/images/",
    "/catalog/flavors/",
    "/onboarding/",
    "/inventory/utilization/history/?range=day",
    "/inventory/utilization/history/?range=week",
    "/inventory/utilization/history/?range=month",
    "/inventory/utilization/history/?range=year",
    "/api/v1/vms/",
    "/api/v1/servers/",
    "/api/v1/teams/",
    "/api/v1/quotas/",
    "/api/v1/quotas/?sort=ram_mb",
    "/api/v1/people/",
    "/api/v1/utilization/",
    "/api/v1/utilization/history/?range=month",
    "/api/v1/utilization/history/?range=year",
    "/api/v1/alerts/",
)


def seed_teams(start: int, count: int) -> None:
    """``count`` teams, each with a lead, quotas and (one in five) a quota request."""
    Team.objects.bulk_create(
        [
            Team(name=f"Scale {i}", slug=f"scale-{i}", openstack_project_id=f"p{i}")
            for i in range(start, start + count)
        ]
    )
    users = User.objects.bulk_create(
        [User(username=f"scale{i}", role=Role.DEVELOPER) for i in range(start, start + count)]
    )
    teams = list(Team.objects.filter(openstack_project_id__in=[f"p{i}" for i in range(start, start + count)]))
    teams.sort(key=lambda t: int(t.openstack_project_id[1:]))
    Membership.objects.bulk_create(
        [Membership(user=u, team=t, level=Membership.Level.LEAD) for u, t in zip(users, teams, strict=True)]
    )
    TeamQuota.objects.bulk_create(
        TeamQuota(team=team, key=key, limit=limit, cloud_used=0, synced_at=timezone.now())
        for team in teams
        for key, limit in (("instances", 1000), ("cores", 4000), ("ram_mb", 4_000_000), ("floating_ips", 10))
    )
    QuotaRequest.objects.bulk_create(
        QuotaRequest(
            team=team, requested_by=user, reason="more", values={"cores": 5000}, previous={"cores": 4000}
        )
        for team, user in zip(teams[::5], users[::5], strict=True)
    )


def seed_vms(start: int, count: int, hosts: int) -> None:
    """``count`` active VMs spread over the teams and the first ``hosts`` hosts, and one unmanaged
    server (made outside Kennel) per 50 VMs."""
    teams = list(Team.objects.filter(slug__startswith="scale-").prefetch_related("memberships"))
    now = timezone.now()
    VmRequest.objects.bulk_create(
        (
            VmRequest(
                team=teams[i % len(teams)],
                owner_id=teams[i % len(teams)].memberships.all()[0].user_id,
                name=f"vm{i}",
                architecture="ppc64le" if i % 4 == 0 else "x86_64",
                image_name="cirros",
                flavor_name="m1.small",
                vcpus=1 + i % 8,
                ram_mb=512 * (1 + i % 4),
                disk_gb=10,
                status=VmRequest.Status.ACTIVE,
                server_id=f"s{i}",
                server_status="ACTIVE",
                server_state="running",
                host=f"h{i % hosts}",
                addresses={"net": ["10.0.0.1"]},
                expires_at=now + timedelta(days=30),
            )
            for i in range(start, start + count)
        ),
        batch_size=2000,
    )
    UnmanagedServer.objects.bulk_create(
        UnmanagedServer(
            server_id=f"u{i}",
            name=f"outside{i}",
            project_id=teams[i % len(teams)].openstack_project_id,
            team=teams[i % len(teams)],
            status="ACTIVE",
            host=f"h{i % hosts}",
            architecture="x86_64",
            vcpus=2,
            ram_mb=2048,
            disk_gb=10,
            seen_at=now,
        )
        for i in range(start // 50, (start + count) // 50)
    )


def seed_catalog() -> None:
    now = timezone.now()
    CloudImage.objects.bulk_create(
        CloudImage(
            cloud_id=f"img-{arch}-{i}",
            name=f"image-{i}-{arch}",
            architecture=arch,
            status="active",
            offered=i < 10,
            seen_at=now,
        )
        for arch in ("x86_64", "ppc64le")
        for i in range(40)
    )
    CloudFlavor.objects.bulk_create(
        CloudFlavor(
            cloud_id=f"f{i}",
            name=f"m{i}.size",
            vcpus=1 + i % 16,
            ram_mb=512 << (i % 6),
            disk_gb=10,
            seen_at=now,
        )
        for i in range(30)
    )


def seed_history() -> int:
    """A year ending now, as the rollup keeps it: hourly averages for 365 days, daily ones, and 5-minute
    samples for the last 7 days, per architecture and data center."""
    now = timezone.now().replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 5)
    keys = [("architecture", "x86_64", 750), ("architecture", "ppc64le", 250)]
    keys += [("datacenter", code.upper(), 500) for code in DATACENTERS]

    def sample(resolution: str, scope: str, key: str, hosts: int, at, age_days: float) -> UtilizationSample:
        growth = 0.35 + 0.4 * (365 - age_days) / 365 + 0.05 * math.sin(2 * math.pi * age_days)
        values = {"host_count": hosts, "vm_count": round(hosts * 50 * growth)}
        for rc, (used, capacity) in COLUMNS.items():
            per_host = {"VCPU": 1024, "MEMORY_MB": 624230, "DISK_GB": 3600}[rc]
            values[capacity] = hosts * per_host
            values[used] = round(hosts * per_host * growth)
        return UtilizationSample(resolution=resolution, scope=scope, key=key, at=at, **values)

    this_hour = now.replace(minute=0)
    today = this_hour.replace(hour=0)
    rows = [
        sample("1h", scope, key, hosts, this_hour - timedelta(hours=h), h / 24)
        for scope, key, hosts in keys
        for h in range(1, 365 * 24)
    ]
    rows += [
        sample("1d", scope, key, hosts, today - timedelta(days=d), d - 0.5)
        for scope, key, hosts in keys
        for d in range(1, 365)
    ]
    rows += [
        sample("5m", scope, key, hosts, now - timedelta(minutes=5 * m), m / 288)
        for scope, key, hosts in keys
        for m in range(1, 7 * 288)
    ]
    UtilizationSample.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def measure(client: Client, url: str) -> tuple[float, float, float, int]:
    """p50 and p95 wall time, p50 CPU time of this process (the database's own time is in the wall time
    only), and the query count of the last round."""
    times, cpu, queries = [], [], 0
    client.get(url)  # warm: the first render compiles templates
    for _ in range(ROUNDS):
        with CaptureQueriesContext(connection) as captured:
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured)
    times.sort()
    return statistics.median(times), times[math.ceil(len(times) * 0.95) - 1], statistics.median(cpu), queries


def report(label: str) -> dict[str, tuple[float, float, float, int]]:
    admin = Client()
    admin.force_login(User.objects.get(username="scale-admin"))
    gc.freeze()  # as a web worker does once it is loaded (portal/wsgi.py)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"\n{label}: {CloudHost.objects.count()} hosts, {Server.objects.count()} servers, "
        f"{Team.objects.count()} teams, {VmRequest.objects.count()} VMs, "
        f"{UnmanagedServer.objects.count()} unmanaged, {UtilizationSample.objects.count()} history samples; "
        f"load average {load}"
    )
    figures = {}
    for url in URLS:
        figures[url] = p50, p95, cpu, queries = measure(admin, url)
        print(
            f"  {url:<52} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  (cpu p50 {cpu:5.1f} ms)  {queries:3d} queries"
        )
    return figures


def main() -> None:
    logging.getLogger("kennel.requests").setLevel(logging.WARNING)
    if connection.vendor != "postgresql":
        sys.exit("run it on PostgreSQL: DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_scale_bench")
    # Not setup_test_environment(): its instrumented template rendering is test overhead, not server time.
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    User.objects.create_superuser("scale-admin", password="scale")  # noqa: S106
    began = time.perf_counter()
    seed_catalog()
    print(f"seeded {seed_history()} history samples in {time.perf_counter() - began:.1f} s")
    results = []
    done_hosts = done_teams = done_vms = 0
    for hosts, teams, vms in SIZES:
        began = time.perf_counter()
        seed_hosts(done_hosts, hosts - done_hosts, size=2)
        seed_teams(done_teams, teams - done_teams)
        seed_vms(done_vms, vms - done_vms, hosts)
        done_hosts, done_teams, done_vms = hosts, teams, vms
        for part in ("hosts", "servers", "catalog", "quotas"):
            CloudSync.objects.update_or_create(
                part=part,
                defaults={"succeeded_at": timezone.now(), "attempted_at": timezone.now(), "error": ""},
            )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"seeded up to {hosts} hosts, {teams} teams, {vms} VMs in {time.perf_counter() - began:.1f} s")
        results.append((hosts, vms, report(f"{hosts} hosts, {vms} VMs")))
    (small_hosts, _small_vms, small), (hosts, vms, large) = results
    print(f"\n{'page':<52} {'p95 ms':>16} {'queries':>9}  (at {small_hosts} -> {hosts} hosts)")
    for url in URLS:
        _p50_a, p95_a, cpu_a, q_a = small[url]
        p50, p95, cpu, q = large[url]
        print(
            f"  {url:<50} {p95_a:7.1f} -> {p95:6.1f} {q_a:4d} -> {q:3d}"
            f"   cpu p50 {cpu_a:5.1f} -> {cpu:5.1f} ms"
        )
        record(
            f"{url} as admin, {hosts:,} hosts / {vms:,} VMs",
            p50_ms=p50,
            p95_ms=p95,
            queries=q,
            # The CPU time is what load on the machine does not inflate; it is what must not grow.
            value=f"CPU p50 {cpu:.0f} ms (at {small_hosts:,} hosts: {cpu_a:.0f} ms, p95 {p95_a:.0f} ms, "
            f"{q_a} queries)",
            target="p95 <= 50 ms, queries constant",
            met=p95 <= 50 and q == q_a,
        )


if __name__ == "__main__":
    main()
