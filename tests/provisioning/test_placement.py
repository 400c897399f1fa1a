"""The database's arithmetic for the estate at scale: CloudHost's generated Placement columns, the VM
rollups kept by triggers, the fit counts and the sums per architecture and data center. Each is
checked against the Python it replaces (CloudHost.capacity/free, a count over the VM rows, the sum of
host_utilization_list), on rows that exercise the edges."""

from __future__ import annotations

import random

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from inventory.models import ServerRole
from inventory.selectors import (
    _group,
    host_utilization_alerting,
    host_utilization_list,
    utilization_by_architecture,
    utilization_by_datacenter,
)
from provisioning.models import CloudFlavor, CloudHost, HostVmCount, TeamVmUsage, UnmanagedServer, VmRequest
from provisioning.placement import PREFIX, RESOURCES, fit_counts, schedulable
from tests.factories import DataCenterFactory, ServerFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

ACTIVE = VmRequest.Status.ACTIVE


def _host(name: str, architecture: str = "x86_64", *, state: str = "up", **inventories) -> CloudHost:
    return CloudHost.objects.create(
        name=name, architecture=architecture, state=state, status="enabled", inventories=inventories,
        seen_at=timezone.now(),
    )  # fmt: skip


def _inv(total: int, used: int, reserved: int = 0, ratio: float = 1.0) -> dict:
    return {"total": total, "reserved": reserved, "allocation_ratio": ratio, "used": used}


def _vm(team, owner, *, host: str = "h1", status: str = ACTIVE, vcpus: int = 2, ram_mb: int = 1024,
        disk_gb: int = 10) -> VmRequest:  # fmt: skip
    return VmRequest.objects.create(
        team=team, owner=owner, name=f"vm{VmRequest.objects.count()}", architecture="x86_64",
        image_name="cirros", flavor_name="m1.small", vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb,
        status=status, host=host,
    )  # fmt: skip


def _live_team_usage() -> dict[int, tuple[int, int, int, int]]:
    rows = (
        VmRequest.objects.filter(status=ACTIVE)
        .values("team")
        .annotate(n=Count("id"), v=Sum("vcpus"), r=Sum("ram_mb"), d=Sum("disk_gb"))
        .order_by()
    )
    return {row["team"]: (row["n"], row["v"], row["r"], row["d"]) for row in rows}


def _rollup_team_usage() -> dict[int, tuple[int, int, int, int]]:
    return {
        u.team_id: (u.vm_count, u.vcpus, u.ram_mb, u.disk_gb)
        for u in TeamVmUsage.objects.filter(vm_count__gt=0)
    }


def _live_host_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for rows in (VmRequest.objects.filter(status=ACTIVE), UnmanagedServer.objects.all()):
        for host, n in rows.exclude(host="").values_list("host").annotate(n=Count("id")).order_by():
            counts[host] = counts.get(host, 0) + n
    return counts


def _rollup_host_counts() -> dict[str, int]:
    return dict(HostVmCount.objects.filter(vm_count__gt=0).values_list("host_id", "vm_count"))


def test_generated_columns_are_placements_rule_as_the_model_computes_it():
    rng = random.Random(15)
    hosts = [
        _host("none"),  # no inventory at all: 0 everywhere
        _host("frac", VCPU=_inv(7, 3, reserved=1, ratio=1.3), MEMORY_MB=_inv(1000, 10, 17, 0.7)),
        _host("over", VCPU=_inv(4, 100, ratio=1.0)),  # used above capacity
    ]
    for i in range(40):
        hosts.append(
            _host(
                f"r{i}",
                **{
                    rc: _inv(
                        rng.randint(0, 10**6), rng.randint(0, 10**6), rng.randint(0, 999), rng.random() * 16
                    )
                    for rc, _size in RESOURCES
                    if rng.random() > 0.1
                },
            )
        )
    for host in CloudHost.objects.all():
        for rc, prefix in PREFIX.items():
            assert getattr(host, f"{prefix}_capacity") == host.capacity(rc), (host.name, rc)
            inv = host.inventories.get(rc)
            assert getattr(host, f"{prefix}_used") == (int(inv["used"]) if inv else 0), (host.name, rc)


def test_generated_columns_follow_a_rewritten_inventory():
    host = _host("h1", VCPU=_inv(8, 1, ratio=2.0))
    host.inventories = {"VCPU": _inv(8, 5, reserved=2, ratio=4.0)}
    host.save()
    host.refresh_from_db()
    assert (host.vcpu_capacity, host.vcpu_used) == (24, 5)


def _python_fits(hosts: list[CloudHost], flavor: CloudFlavor) -> int:
    """What provisioning.selectors counted before: sum of min(free // size), never below 0."""
    count = sum(
        min(host.free(rc) // max(getattr(flavor, size), 1) for rc, size in RESOURCES) for host in hosts
    )
    return max(count, 0)


def test_fit_counts_equal_the_python_floor_division_even_for_overcommitted_hosts():
    rng = random.Random(4)
    for i in range(30):
        arch = "x86_64" if i % 3 else "ppc64le"
        _host(
            f"h{i}",
            arch,
            state="down" if i % 11 == 0 else "up",
            VCPU=_inv(rng.randint(1, 64), rng.randint(0, 1400), ratio=16.0),
            MEMORY_MB=_inv(rng.randint(1, 10**6), rng.randint(0, 1_300_000), reserved=4096, ratio=1.2),
            DISK_GB=_inv(rng.randint(0, 4000), rng.randint(0, 4500)),
        )
    _host("empty", "x86_64")  # schedulable, holds nothing
    flavors = [
        CloudFlavor.objects.create(
            cloud_id=f"f{i}", name=f"f{i}", vcpus=v, ram_mb=r, disk_gb=d, seen_at=timezone.now()
        )
        for i, (v, r, d) in enumerate([(1, 512, 1), (4, 8192, 80), (16, 65536, 0), (0, 0, 0), (3, 777, 13)])
    ]
    fits = fit_counts(schedulable(CloudHost.objects.all()), flavors)
    for arch in ("x86_64", "ppc64le"):
        hosts = [h for h in CloudHost.objects.filter(architecture=arch) if h.schedulable]
        for flavor in flavors:
            assert fits[(arch, flavor.pk)] == _python_fits(hosts, flavor), (arch, flavor.name)


def test_the_rollups_follow_every_change_of_a_vm_and_of_a_server_made_outside_kennel():
    alpha, beta = TeamFactory(slug="alpha"), TeamFactory(slug="beta")
    owner = UserFactory()

    def same() -> None:
        assert _rollup_team_usage() == _live_team_usage()
        assert _rollup_host_counts() == _live_host_counts()

    a = _vm(alpha, owner, host="h1")
    b = _vm(alpha, owner, host="h2", vcpus=8)
    c = _vm(beta, owner, host="", status=VmRequest.Status.QUEUED)
    same()
    c.status, c.host = ACTIVE, "h1"  # built
    c.save()
    same()
    a.host = "h3"  # migrated
    a.save(update_fields=["host"])
    same()
    b.vcpus, b.ram_mb = 16, 4096  # resized
    b.save()
    same()
    VmRequest.objects.filter(pk=b.pk).update(team=beta)  # a bulk update, no save()
    same()
    VmRequest.objects.filter(pk=a.pk).update(status=VmRequest.Status.DELETED)
    same()
    c.delete()
    same()
    outside = UnmanagedServer.objects.create(
        server_id="u1", name="u1", project_id="p", status="ACTIVE", host="h2", seen_at=timezone.now()
    )
    same()
    outside.host = "h9"
    outside.save()
    same()
    UnmanagedServer.objects.filter(pk=outside.pk).delete()
    same()
    assert _rollup_team_usage() == {beta.pk: (1, 16, 4096, 10)}


def test_sums_per_architecture_and_datacenter_equal_the_python_sums_of_the_host_list(admin_user):
    owner, team = UserFactory(), TeamFactory()
    dc1, dc2 = DataCenterFactory(code="dc1", name="DC 1"), DataCenterFactory(code="dc2", name="DC 2")
    rng = random.Random(7)
    for i in range(12):
        _host(
            f"h{i}",
            "ppc64le" if i % 4 == 0 else "x86_64",
            VCPU=_inv(32, rng.randint(0, 400), ratio=16.0),
            MEMORY_MB=_inv(262144, rng.randint(0, 300000), reserved=4096, ratio=1.2),
        )
        if i % 5:  # h0, h5, h10 have no physical server record
            ServerFactory(
                name=f"srv-{i}", datacenter=dc1 if i % 2 else dc2, roles=[ServerRole.COMPUTE.value],
                hypervisor_hostname=f"h{i}",
            )  # fmt: skip
        for _ in range(i % 3):
            _vm(team, owner, host=f"h{i}")
    ServerFactory(name="zz-later-record", datacenter=dc1, hypervisor_hostname="h2")  # the older one wins
    hosts = host_utilization_list(user=admin_user)
    assert utilization_by_architecture(user=admin_user) == _group(hosts, lambda h: h.architecture)
    assert utilization_by_datacenter(user=admin_user) == _group(hosts, lambda h: h.datacenter)
    assert {h.name: h.vm_count for h in hosts} == {f"h{i}": i % 3 for i in range(12)}
    assert next(h for h in hosts if h.name == "h2").server_name == "srv-2"


def test_the_database_picks_the_same_full_hosts_as_the_python_rule(admin_user):
    _host("exactly", VCPU=_inv(100, 90))  # 90% of 100: alerts at 90
    _host("below", VCPU=_inv(1000, 899))
    _host("disk", VCPU=_inv(100, 1), DISK_GB=_inv(10, 10))
    _host("no-capacity", VCPU=_inv(0, 5))
    picked = {h.name for h in host_utilization_alerting(user=admin_user, percent=90)}
    assert picked == {"exactly", "disk"}
    python = {
        h.name
        for h in host_utilization_list(user=admin_user)
        if any(u.capacity > 0 and u.used * 100 >= 90 * u.capacity for u in h.resources)
    }
    assert picked == python
