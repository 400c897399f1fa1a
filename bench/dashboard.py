"""Benchmark: the manager's dashboard and the utilization history with 200 hosts and a year of history
(run on demand, prints figures).

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_bench_dashboard .venv/bin/python bench/dashboard.py

Seeds (once, in its own database) 200 compute hosts with their physical servers and BMC states (some
off, unreachable or hot), 100 teams with 2,000 VMs, and (every run, ending now) a year of utilization
history as the rollup keeps it: hourly averages for 365 days and 5-minute samples for the last 7, per
architecture and data center. Then it times one snapshot and one rollup, renders the dashboard, the
history page over each range and the API as a manager, and prints p50/p95 server time and the SQL
query count. It adds 50 hosts and measures again, to show the query count does not grow with the
estate. Target (issue 6): p95 <= 50 ms, queries constant in the number of hosts.
"""

from __future__ import annotations

import gc
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
from inventory.history import (  # noqa: E402
    COLUMNS,
    utilization_history_compact,
    utilization_snapshot_record,
)
from inventory.models import Server, UtilizationSample  # noqa: E402
from portal.models import Membership, Role, Team, User  # noqa: E402
from provisioning.models import CloudHost, CloudSync, VmRequest  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "40"))


def seed_people(teams: int = 100, vms: int = 2000) -> None:
    Team.objects.bulk_create(
        [Team(name=f"Bench {i}", slug=f"bench-{i}", openstack_project_id=f"p{i}") for i in range(teams)]
    )
    users = User.objects.bulk_create([User(username=f"bench{i}", role=Role.DEVELOPER) for i in range(teams)])
    team_rows = list(Team.objects.filter(slug__startswith="bench-").order_by("pk"))
    Membership.objects.bulk_create(
        [Membership(user=u, team=t) for u, t in zip(users, team_rows, strict=True)]
    )
    User.objects.create_user("bench-manager", role=Role.MANAGER)
    VmRequest.objects.bulk_create(
        [
            VmRequest(
                team=team_rows[i % teams],
                owner=users[i % teams],
                name=f"vm{i}",
                architecture="x86_64",
                image_name="cirros",
                flavor_name="m1.small",
                vcpus=1 + i % 8,
                ram_mb=2048 * (1 + i % 4),
                disk_gb=20,
                status=VmRequest.Status.ACTIVE,
                server_id=f"s{i}",
                host=f"h{i % 200}",
            )
            for i in range(vms)
        ],
        batch_size=1000,
    )


def seed_history() -> int:
    """A year ending now, as the rollup keeps it: daily and hourly averages for 365 days, 5-minute
    samples for the last 7. Demand grows through the year with a daily swing; capacity grows once,
    when hardware was bought."""
    UtilizationSample.objects.all().delete()
    now = timezone.now().replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 5)
    keys = [("architecture", "x86_64", 150), ("architecture", "ppc64le", 50)]
    keys += [("datacenter", code.upper(), 100) for code in DATACENTERS]

    def sample(resolution: str, scope: str, key: str, hosts: int, at, age_days: float) -> UtilizationSample:
        growth = 0.35 + 0.4 * (365 - age_days) / 365 + 0.05 * math.sin(2 * math.pi * age_days)
        bought = 1.0 if age_days > 120 else 1.25
        values = {"host_count": round(hosts * bought), "vm_count": round(hosts * 10 * growth)}
        for rc, (used, capacity) in COLUMNS.items():
            per_host = {"VCPU": 512, "MEMORY_MB": 309657, "DISK_GB": 1800}[rc]
            values[capacity] = round(hosts * per_host * bought)
            values[used] = round(hosts * per_host * growth)
        return UtilizationSample(resolution=resolution, scope=scope, key=key, at=at, **values)

    this_hour = now.replace(minute=0)
    rows = [
        sample("1h", scope, key, hosts, this_hour - timedelta(hours=h), h / 24)
        for scope, key, hosts in keys
        for h in range(1, 365 * 24)
    ]
    today = this_hour.replace(hour=0)
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
    """p50 and p95 wall time, p50 CPU time of this process (which other load on the machine does not
    inflate; the database's own time is in the wall time only), and the query count."""
    times, cpu, queries = [], [], 0
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


def report(label: str) -> None:
    manager = Client()
    manager.force_login(User.objects.get(username="bench-manager"))
    gc.freeze()  # as a web worker does once it is loaded (kennel/wsgi.py)
    hosts, samples = CloudHost.objects.count(), UtilizationSample.objects.count()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n{label}: {hosts} hosts, {Server.objects.count()} servers, {VmRequest.objects.count()} VMs, "
          f"{samples} history samples; load average {load}")  # fmt: skip
    for url in (
        "/inventory/dashboard/",
        "/inventory/utilization/history/?range=day",
        "/inventory/utilization/history/?range=week",
        "/inventory/utilization/history/?range=month",
        "/inventory/utilization/history/?range=year",
        "/inventory/utilization/history/?range=year&scope=datacenter",
        "/api/v1/utilization/history/?range=year",
        "/api/v1/utilization/forecast/",
        "/api/v1/alerts/",
    ):
        p50, p95, cpu, queries = measure(manager, url)
        print(
            f"  {url:<60} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  (cpu p50 {cpu:5.1f} ms)  {queries:3d} queries"
        )
        record(
            f"{url}, {hosts} hosts",
            p50_ms=p50,
            p95_ms=p95,
            queries=queries,
            target="p95 <= 50 ms",
            met=p95 <= 50,
        )


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit(
            "run it on PostgreSQL: DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_bench_dashboard"
        )
    # Not setup_test_environment(): its instrumented template rendering is test overhead, not server time.
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    if not CloudHost.objects.exists():
        seed_hosts(0, 200)
        seed_people()
    elif CloudHost.objects.count() > 200:  # a previous run's extra hosts: back to 200
        extra = [f"h{i}" for i in range(200, CloudHost.objects.count())]
        Server.objects.filter(hypervisor_hostname__in=extra).delete()
        CloudHost.objects.filter(name__in=extra).delete()
    CloudSync.objects.update_or_create(
        part="hosts", defaults={"succeeded_at": timezone.now(), "attempted_at": timezone.now(), "error": ""}
    )
    began = time.perf_counter()
    rows = seed_history()
    print(f"seeded {rows} history samples in {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    written = utilization_snapshot_record()
    print(f"snapshot of 200 hosts: {written} samples in {(time.perf_counter() - began) * 1000:.0f} ms")
    began = time.perf_counter()
    result = utilization_history_compact()
    print(
        f"rollup: {result.hourly_written} hourly and {result.daily_written} daily samples (re)written, "
        f"{result.five_minute_deleted + result.hourly_deleted + result.daily_deleted} deleted "
        f"in {(time.perf_counter() - began) * 1000:.0f} ms"
    )
    report("200 hosts")
    seed_hosts(200, 50)
    report("250 hosts (queries must not grow)")


if __name__ == "__main__":
    main()
