"""Benchmark: what servers and VMs really use, read from Prometheus on loopback (run on demand).

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_bench_usage .venv/bin/python bench/usage.py

Seeds (once, in its own database) the demo's seven servers and a team of 2,000 running VMs, 200 of them
on X2; starts Debian's prometheus (exportersim.runner: a throwaway TSDB, a scrape every 10 s) scraping the
emulated exporters serving those 2,000 VMs and this machine's node exporter; waits until rate() has its
window; then times, as a manager, the host page of X2 (its figures, four charts over a day and its 200
VMs, 50 a page), the team page (2,000 VMs, 50 a page, and their totals; its first and last page), the
host list and the API, and counts the SQL and PromQL queries of each: with Kennel's recording rules
loaded (``manage.py prometheus_rules``), without and with the 15 s answer cache, and without the rules.
Each request's wall time and its CPU time in this process (time.process_time: Django's own work, far
less sensitive than wall time to a machine shared with others) are recorded as two rows, with the load
average. Target (issue 17): p95 <= 100 ms, one PromQL query per list and per chart.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")
os.environ.setdefault("KENNEL_VAR_DIR", str(Path(__file__).resolve().parents[1] / "var" / "bench"))

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.report import record  # noqa: E402
from exportersim.estate import VmSpec, vms_to_file  # noqa: E402
from exportersim.runner import Stack  # noqa: E402
from inventory.models import DataCenter, Server, ServerRole  # noqa: E402
from portal.models import Membership, Role, Team, User  # noqa: E402
from provisioning.models import CloudHost, VmRequest  # noqa: E402
from usage import prometheus as gateway  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "40"))
VMS, ON_X2 = 2000, 200
HOSTS = ("x2", "x3", "x4", "p1")
RATE_SECONDS = 40  # four scrapes


def vm_specs() -> list[VmSpec]:
    others = [h for h in HOSTS if h != "x2"]
    return [
        VmSpec(
            uuid=str(uuid.UUID(int=0xBE4C0000 + n)),
            domain=f"instance-{n + 1:08x}",
            name=f"bench-{n:04d}",
            host="x2" if n < ON_X2 else others[n % len(others)],
            vcpus=1 + n % 4,
            ram_mb=2048,
            disk_gb=20,
        )
        for n in range(VMS)
    ]


def seed(specs: list[VmSpec]) -> None:
    if Team.objects.filter(slug="bench").exists():
        return
    dc = DataCenter.objects.create(code="dc1", name="DC1")
    for name in ("X1", "X2", "X3", "X4", "X5", "P1", "P2"):
        compute = name.lower() in HOSTS
        Server.objects.create(
            name=name,
            architecture="ppc64le" if name.startswith("P") else "x86_64",
            datacenter=dc,
            hypervisor_hostname=name.lower() if compute else "",
            roles=[ServerRole.COMPUTE.value if compute else ServerRole.OUTSIDE.value],
        )
    for host in HOSTS:
        used = sum(vm.vcpus for vm in specs if vm.host == host)
        CloudHost.objects.create(
            name=host, architecture="ppc64le" if host == "p1" else "x86_64", state="up", status="enabled",
            inventories={"VCPU": {"total": 48, "reserved": 0, "allocation_ratio": 16.0, "used": used}},
            seen_at=timezone.now(),
        )  # fmt: skip
    team = Team.objects.create(name="Bench", slug="bench")
    owner = User.objects.create_user("bench-dev", password="x", role=Role.DEVELOPER)  # noqa: S106
    Membership.objects.create(team=team, user=owner, level=Membership.Level.LEAD)
    User.objects.create_user("bench-manager", password="x", role=Role.MANAGER)  # noqa: S106
    VmRequest.objects.bulk_create(
        VmRequest(
            team=team,
            owner=owner,
            name=vm.name,
            architecture="x86_64",
            image_name="cirros",
            flavor_name="m1",
            vcpus=vm.vcpus,
            ram_mb=vm.ram_mb,
            disk_gb=vm.disk_gb,
            status=VmRequest.Status.ACTIVE,
            server_id=vm.uuid,
            host=vm.host,
            server_state="running",
        )
        for vm in specs
    )


class PromQLCounter:
    """Counts the queries the gateway sends (one per list and per chart is the rule)."""

    def __init__(self) -> None:
        self.count = 0
        self._post = gateway.HttpPrometheus._post

    def __enter__(self) -> PromQLCounter:
        counter, original = self, self._post

        def counted(client, path, form):
            counter.count += 1
            return original(client, path, form)

        gateway.HttpPrometheus._post = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        gateway.HttpPrometheus._post = self._post  # type: ignore[method-assign]


def p50_p95(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return statistics.median(values), values[math.ceil(len(values) * 0.95) - 1]


def measure(
    client: Client, url: str, marker: str
) -> tuple[tuple[float, float], tuple[float, float], int, int, int]:
    """p50 and p95 of the wall time and of the CPU time in this process, SQL and PromQL queries of the
    last round, and how many rounds did not show the figures (Prometheus too slow for the timeout: the
    page said it cannot be reached)."""
    times, cpu, queries, promql, errors = [], [], 0, 0, 0
    for _ in range(ROUNDS):
        with CaptureQueriesContext(connection) as captured, PromQLCounter() as counter:
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(url, headers={"HX-Request": "true"} if url.endswith("&htmx") else {})
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        errors += marker not in response.content.decode()
        queries, promql = len(captured), counter.count
    return p50_p95(times), p50_p95(cpu), queries, promql, errors


class Renewer:
    """What beat does: ``usage.tasks.usage_renew`` every KENNEL_PROMETHEUS_CACHE_SECONDS."""

    def __init__(self) -> None:
        import threading

        from usage.selectors import usage_renew

        self.done = threading.Event()
        usage_renew()

        def loop() -> None:
            while not self.done.wait(settings.KENNEL_PROMETHEUS_CACHE_SECONDS):
                usage_renew()

        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop Prometheus and the exporters on the way out
    if connection.vendor != "postgresql":
        sys.exit("run it on PostgreSQL: DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_bench_usage")
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    specs = vm_specs()
    seed(specs)
    workdir = Path(tempfile.mkdtemp(prefix="kennel-bench-usage-"))
    vms_to_file(workdir / "vms.json", specs)
    rules = workdir / "kennel-rules.yml"
    call_command("prometheus_rules", output=str(rules), rate_seconds=RATE_SECONDS)
    began = time.perf_counter()
    with Stack(
        workdir, interval=10, vms=str(workdir / "vms.json"), ready_timeout=240, rule_files=(rules,)
    ) as stack:
        print(f"Prometheus on {stack.url} scraping {VMS} VMs; ready in {time.perf_counter() - began:.1f} s")
        settings.KENNEL_PROMETHEUS_URL = stack.url
        settings.KENNEL_PROMETHEUS_RATE_SECONDS = RATE_SECONDS
        time.sleep(RATE_SECONDS + 12)  # rate() needs its window's samples, the rules an evaluation
        series = stack.query("count({__name__=~'libvirt_.*'})")[0]["value"][1]
        print(f"{series} libvirt series in Prometheus")
        manager = Client()
        manager.force_login(User.objects.get(username="bench-manager"))
        gc.freeze()  # as a web worker does once it is loaded (kennel/wsgi.py)
        x2 = Server.objects.get(name="X2").pk
        cases = [
            (f"host page, {ON_X2} VMs", f"/usage/hosts/{x2}/?window=day", 'data-figure="overcommit"'),
            ("host page's day charts (htmx)", f"/usage/hosts/{x2}/?window=day&part=charts&htmx", "<svg"),
            (f"team page, {VMS} VMs (50 a page)", "/usage/teams/bench/", 'data-testid="vm-totals"'),
            (f"team page, {VMS} VMs, last page", "/usage/teams/bench/?page=40", 'data-testid="vm-totals"'),
            ("host list, 7 servers", "/usage/hosts/", 'data-host="X2"'),
            (f"API team VMs, {VMS} VMs (50 a page)", "/api/v1/usage/vms/?team=bench", '"state":"ok"'),
            ("API host, day charts", f"/api/v1/usage/hosts/{x2}/?window=day", '"state":"ok"'),
        ]
        # Cold: every request asks Prometheus. Warm: as configured by default, an answer is kept 15 s (one
        # scrape interval), so of the rounds within one interval only the first asks.
        # Rules: the lists read the VMs' recorded rates (Kennel's recording rules, as make run loads them),
        # or, without them, compute rate() over every VM's raw series at each read.
        # Renewed: as beat's usage-renew does, every host's and every VM's answer is asked again every 15 s
        # in the background (here a thread), so neither a long list nor a host page waits on a query.
        for use_rules, seconds, renewed in (
            (True, 0, False),
            (True, 15, False),
            (True, 15, True),
            (False, 0, False),
        ):
            settings.KENNEL_PROMETHEUS_RULES = use_rules
            settings.KENNEL_PROMETHEUS_CACHE_SECONDS = seconds
            cache.clear()
            renewer = Renewer() if renewed else None
            for name, url, marker in cases:
                (p50, p95), (cpu50, cpu95), queries, promql, errors = measure(manager, url, marker)
                label = (
                    f"{name}, {'cache 15 s' if seconds else 'no cache'}"
                    f"{', renewed by beat' if renewed else ''}"
                    f"{', recording rules' if use_rules else ', no recording rules'}"
                )
                record(
                    label, bench="usage", p50_ms=p50, p95_ms=p95, queries=queries, errors=errors,
                    value=f"{promql} PromQL", target="p95 <= 100 ms", met=p95 <= 100 and not errors,
                )  # fmt: skip
                record(
                    f"{label}, CPU time in-process", bench="usage", p50_ms=cpu50, p95_ms=cpu95,
                    queries=queries, value=f"{promql} PromQL", target="p95 <= 100 ms", met=cpu95 <= 100,
                )  # fmt: skip
            if renewer is not None:
                renewer.stop()


if __name__ == "__main__":
    main()
