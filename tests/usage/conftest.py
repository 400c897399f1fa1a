"""The real parts: Debian's prometheus on a free loopback port scraping exportersim (fixed VMs from a
file, so the tests know which are idle) and this machine's node exporter, every second, with a
throwaway TSDB; and the estate in Kennel's database that those metrics describe."""

from __future__ import annotations

import uuid

import pytest
import yaml

from exportersim.estate import VmSpec, vm_is_idle, vms_to_file
from exportersim.runner import Stack
from inventory.models import ServerRole
from portal.models import Membership
from provisioning.models import CloudHost, VmRequest
from tests.factories import DataCenterFactory, MembershipFactory, ServerFactory, UserFactory
from usage import queries

RATE_SECONDS = 5  # rate() over five one-second scrapes

# 16 VMs on the four compute hosts: two named idle, two named busy, the rest idle or not by hash.
NAMES = ["idle-a", "idle-b", "busy-a", "busy-b", *(f"vm-{n}" for n in range(12))]
HOSTS = ["x2", "x3", "x4", "p1"]
VMS = [
    VmSpec(
        uuid=str(uuid.UUID(int=0x5EED0000 + n)),
        domain=f"instance-{n + 1:08x}",
        name=name,
        host=HOSTS[n % 4],
        vcpus=1 + n % 4,
        ram_mb=2048 * (1 + n % 2),
        disk_gb=20,
    )
    for n, name in enumerate(NAMES)
]
IDLE_IDS = {vm.uuid for vm in VMS if vm_is_idle(vm)}


@pytest.fixture(scope="session")
def prometheus_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("prometheus")
    vms_file = workdir / "vms.json"
    vms_to_file(vms_file, VMS)
    # Kennel's recording rules, as ``manage.py prometheus_rules`` writes them for this rate window.
    rules_file = workdir / "kennel-rules.yml"
    rules_file.write_text(yaml.safe_dump(queries.recording_rules(rate_seconds=RATE_SECONDS)))
    with Stack(workdir, interval=1, vms=str(vms_file), rule_files=(rules_file,)) as stack:
        yield stack


@pytest.fixture
def metrics(settings, prometheus_stack):
    """Kennel pointed at the running Prometheus; waits until every rate() window is full."""
    settings.KENNEL_PROMETHEUS_URL = prometheus_stack.url
    settings.KENNEL_PROMETHEUS_RATE_SECONDS = RATE_SECONDS
    settings.KENNEL_PROMETHEUS_RULES = True
    import time

    # The longest window a test reads is the idle scan's (2 x RATE_SECONDS): wait until every target
    # has samples over all of it (a loaded machine scrapes late), and say so if it never does.
    window = 2 * RATE_SECONDS
    deadline = time.monotonic() + 90
    while True:
        ready = prometheus_stack.query(f"min(count_over_time(up[{window}s]))")
        recorded = prometheus_stack.query(f"count({queries.recorded('cpu')})")
        if ready and float(ready[0]["value"][1]) >= window - 1 and recorded:
            return prometheus_stack
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus did not scrape every target over {window} s within 90 s: {ready}")
        time.sleep(0.5)


@pytest.fixture
def estate(db, team, member, lead):
    """The demo's servers (X5 and P2 outside OpenStack), Placement's view of the four computes, and the
    16 VMs as Kennel's VMs of the team, owned by the member."""
    dc = DataCenterFactory()
    servers = {}
    for name in ("X1", "X2", "X3", "X4", "X5", "P1", "P2"):
        arch = "ppc64le" if name.startswith("P") else "x86_64"
        compute = name.lower() in HOSTS
        servers[name] = ServerFactory(
            name=name,
            architecture=arch,
            datacenter=dc,
            hypervisor_hostname=name.lower() if compute else "",
            roles=[ServerRole.COMPUTE.value if compute else ServerRole.OUTSIDE.value],
        )
    from django.utils import timezone

    for host in HOSTS:
        used = sum(vm.vcpus for vm in VMS if vm.host == host)
        cpus = 160 if host == "p1" else 48
        CloudHost.objects.create(
            name=host,
            architecture="ppc64le" if host == "p1" else "x86_64",
            state="up",
            status="enabled",
            inventories={"VCPU": {"total": cpus, "reserved": 0, "allocation_ratio": 16.0, "used": used}},
            seen_at=timezone.now(),
        )
    vms = {}
    for spec in VMS:
        vms[spec.uuid] = VmRequest.objects.create(
            team=team, owner=member, name=spec.name, architecture="x86_64", image_name="cirros",
            flavor_name="m1", vcpus=spec.vcpus, ram_mb=spec.ram_mb, disk_gb=spec.disk_gb,
            status=VmRequest.Status.ACTIVE, server_id=spec.uuid, host=spec.host,
        )  # fmt: skip
    # Every VM is older than any window the tests judge idleness over.
    VmRequest.objects.update(created_at=timezone.now() - timezone.timedelta(days=30))
    return {"servers": servers, "vms": vms}


@pytest.fixture
def other_lead(other_team):
    user = UserFactory()
    MembershipFactory(user=user, team=other_team, level=Membership.Level.LEAD)
    return user
