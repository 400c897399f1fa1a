"""Compute utilization: Placement's capacity rule on the mirror, its aggregates, headroom, the page and
the API. The unit tests fill the mirror from the FakeCloud; the integration test from the real cloud."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from inventory.models import ServerRole
from inventory.selectors import (
    headroom,
    host_utilization_list,
    utilization_by_architecture,
    utilization_by_datacenter,
)
from portal.cloud import cloud, override
from portal.cloud.fake import ComputeHost, FakeCloud
from provisioning.models import CloudFlavor, VmRequest
from provisioning.selectors import host_fit_count
from provisioning.services import catalog_refresh
from tests.factories import DataCenterFactory, ServerFactory, UnmanagedServerFactory, VmRequestFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db
PAGE = "/inventory/utilization/"
API = "/api/v1/utilization/"

# The devcloud's hosts: x2-x4 x86_64 with 32 cores, 256 GiB, 1800 GB; p1 ppc64le with 160 threads,
# 512 GiB, 1800 GB; 4096 MB reserved on each; ratios cpu 16, ram 1.2, disk 1.
X86_CAPACITY = {"VCPU": 32 * 16, "MEMORY_MB": int((262144 - 4096) * 1.2), "DISK_GB": 1800}
PPC_CAPACITY = {"VCPU": 160 * 16, "MEMORY_MB": int((524288 - 4096) * 1.2), "DISK_GB": 1800}


def _boot(fake: FakeCloud, flavor_name: str, image_name: str = "cirros") -> None:
    project = fake.find_project("alpha")
    assert project is not None
    image = next(
        i for i in fake.list_images() if i.name.startswith(image_name) and i.architecture == "x86_64"
    )
    flavor = next(f for f in fake.list_flavors() if f.name == flavor_name)
    fake.create_server(
        project_id=project.id, name=f"vm-{flavor_name}", image_id=image.id, flavor_id=flavor.id
    )
    fake.settle()


@pytest.fixture
def mirror(db):
    """The devcloud's estate in the FakeCloud, one m1.large VM running, the mirror refreshed."""
    fake = FakeCloud(portal_user=None)
    with override(fake):
        _boot(fake, "m1.large")
        catalog_refresh()
        yield fake


@pytest.fixture
def estate(mirror):
    """Physical servers for the hosts: x2, x3 in dc1, p1 in dc2; x4 has no server record."""
    dc1 = DataCenterFactory(code="dc1", name="Data center 1")
    dc2 = DataCenterFactory(code="dc2", name="Data center 2")
    for name, dc, arch in (("x2", dc1, "x86_64"), ("x3", dc1, "x86_64"), ("p1", dc2, "ppc64le")):
        ServerFactory(
            name=f"srv-{name}",
            architecture=arch,
            datacenter=dc,
            roles=[ServerRole.COMPUTE.value],
            hypervisor_hostname=name,
        )
    return mirror


def _by_name(rows):
    return {row.name: row for row in rows}


def _usage(row):
    return {r.resource_class: r for r in row.resources}


def test_capacity_is_total_minus_reserved_times_ratio(estate, manager):
    hosts = _by_name(host_utilization_list(user=manager))
    assert set(hosts) == {"x2", "x3", "x4", "p1"}
    for name, row in hosts.items():
        expected = PPC_CAPACITY if name == "p1" else X86_CAPACITY
        assert {rc: u.capacity for rc, u in _usage(row).items()} == expected
    assert X86_CAPACITY["MEMORY_MB"] == 309657  # reserved memory is taken off before the ratio


def test_usage_free_and_percent_follow_the_running_vm(estate, manager):
    hosts = _by_name(host_utilization_list(user=manager))
    busy = [row for row in hosts.values() if _usage(row)["VCPU"].used]
    assert len(busy) == 1  # the m1.large landed on one x86 host
    usage = _usage(busy[0])
    assert busy[0].architecture == "x86_64"
    assert (usage["VCPU"].used, usage["MEMORY_MB"].used, usage["DISK_GB"].used) == (4, 8192, 80)
    assert usage["MEMORY_MB"].free == 309657 - 8192
    assert usage["VCPU"].percent == round(4 * 100 / 512, 1)
    assert _usage(hosts["p1"])["VCPU"].used == 0


def test_hosts_carry_their_physical_server_and_vm_count(estate, manager, team, member):
    x2 = estate.list_resource_providers()[0].name
    VmRequestFactory(team=team, owner=member, status=VmRequest.Status.ACTIVE, host="x3")
    VmRequestFactory(team=team, owner=member, status=VmRequest.Status.DELETED, host="x3")
    UnmanagedServerFactory(status="ACTIVE", host="x3")
    hosts = _by_name(host_utilization_list(user=manager))
    assert hosts["x3"].vm_count == 2  # the active VM and the unmanaged one, not the deleted one
    assert (hosts["x2"].server_name, hosts["x2"].datacenter) == ("srv-x2", "Data center 1")
    assert (hosts["p1"].server_name, hosts["p1"].datacenter) == ("srv-p1", "Data center 2")
    assert (hosts["x4"].server_id, hosts["x4"].datacenter) == (None, "")
    assert x2


def test_it_sums_hosts_per_architecture(estate, manager):
    groups = {g.key: g for g in utilization_by_architecture(user=manager)}
    assert set(groups) == {"x86_64", "ppc64le"}
    x86 = {r.resource_class: r for r in groups["x86_64"].resources}
    assert groups["x86_64"].host_count == 3
    assert {rc: r.capacity for rc, r in x86.items()} == {rc: 3 * v for rc, v in X86_CAPACITY.items()}
    assert (x86["VCPU"].used, x86["MEMORY_MB"].used, x86["DISK_GB"].used) == (4, 8192, 80)
    ppc = {r.resource_class: r for r in groups["ppc64le"].resources}
    assert {rc: r.capacity for rc, r in ppc.items()} == PPC_CAPACITY


def test_it_sums_hosts_per_datacenter(estate, manager):
    groups = {g.key: g for g in utilization_by_datacenter(user=manager)}
    assert {k: g.host_count for k, g in groups.items()} == {"Data center 1": 2, "Data center 2": 1, "": 1}
    dc1 = {r.resource_class: r.capacity for r in groups["Data center 1"].resources}
    assert dc1 == {rc: 2 * v for rc, v in X86_CAPACITY.items()}


def test_headroom_counts_flavors_per_architecture_with_host_fit_count(estate, manager):
    cells = {(c.architecture, c.flavor): c.count for c in headroom(user=manager)}
    flavors = list(CloudFlavor.objects.all())
    assert set(cells) == {(arch, f.name) for arch in ("x86_64", "ppc64le") for f in flavors}
    for f in flavors:
        for arch in ("x86_64", "ppc64le"):
            assert cells[(arch, f.name)] == host_fit_count(architecture=arch, flavor=f)
    # p1 by hand: disk is the limit for m1.xlarge (1800 // 160), vCPUs are not (2560 // 8).
    assert cells[("ppc64le", "m1.xlarge")] == 1800 // 160
    # x86 with the m1.large running on one host: disk 1800 - 80 there.
    assert cells[("x86_64", "m1.xlarge")] == 2 * (1800 // 160) + (1800 - 80) // 160


def test_developers_see_no_utilization(estate, member):
    assert host_utilization_list(user=member) == []
    assert utilization_by_architecture(user=member) == []
    assert headroom(user=member) == []


def test_page_permission_matrix(estate, people):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, PAGE, expected)


def test_api_permission_matrix(estate, people):
    expected = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, API, expected, api=True)


def test_page_shows_hosts_aggregates_headroom_and_freshness(estate, manager):
    client = Client()
    client.force_login(manager)
    response = client.get(reverse("inventory:utilization"))
    body = response.content.decode()
    assert response.status_code == 200
    for host in ("x2", "x3", "x4", "p1"):
        assert f'data-host="{host}"' in body
    assert "srv-p1" in body and "Data center 2" in body
    assert f"0 / {PPC_CAPACITY['VCPU']} (0.0%)" in body
    assert "0 GiB / 609.6 GiB (0.0%)" in body and "RAM (MB)" not in body  # 624,230 MiB of RAM in GiB
    assert "m1.xlarge" in body
    assert "mirrored" in body


def test_api_returns_hosts_aggregates_and_headroom(estate, manager):
    client = Client()
    client.force_login(manager)
    data = client.get(API).json()
    hosts = {h["name"]: h for h in data["hosts"]}
    p1 = {r["resource_class"]: r for r in hosts["p1"]["resources"]}
    assert p1["MEMORY_MB"] == {
        "resource_class": "MEMORY_MB",
        "capacity": PPC_CAPACITY["MEMORY_MB"],
        "used": 0,
        "free": PPC_CAPACITY["MEMORY_MB"],
        "percent": 0.0,
    }
    assert hosts["p1"]["datacenter"] == "Data center 2"
    assert {g["key"] for g in data["by_architecture"]} == {"x86_64", "ppc64le"}
    assert {g["key"] for g in data["by_datacenter"]} == {"Data center 1", "Data center 2", ""}
    assert {"architecture": "ppc64le", "flavor": "m1.xlarge", "count": 11}.items() <= {
        k: v for c in data["headroom"] if c["architecture"] == "ppc64le" and c["flavor"] == "m1.xlarge"
        for k, v in c.items()
    }.items()  # fmt: skip
    assert data["synced_at"]


def test_manager_landing_page_summarizes_utilization(estate, manager, admin):
    for user in (manager, admin):
        client = Client()
        client.force_login(user)
        body = client.get("/").content.decode()
        assert 'data-testid="utilization-summary"' in body
        assert reverse("inventory:utilization") in body


def _fleet(n: int) -> list[ComputeHost]:
    half = n // 2
    return [
        ComputeHost(
            f"h{i:03d}", "x86_64" if i < half else "ppc64le", "dc1", vcpus=32, memory_mb=262144, disk_gb=1800
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [4, 40])
def test_page_queries_do_not_grow_with_hosts(n, manager, django_assert_max_num_queries):
    dc = DataCenterFactory(code="dc1", name="Data center 1")
    with override(FakeCloud(hosts=_fleet(n), portal_user=None)):
        catalog_refresh()
    for i in range(n):
        ServerFactory(
            name=f"srv-{i}", datacenter=dc, roles=[ServerRole.COMPUTE.value], hypervisor_hostname=f"h{i:03d}"
        )
    client = Client()
    client.force_login(manager)
    # Session, user, the page's reads (hosts, VMs, unmanaged, servers, sync, architectures, flavors) and
    # one host_fit_count per architecture and flavor (2 x 5): 19, the same for 4 hosts and for 40.
    with django_assert_max_num_queries(19):
        response = client.get(PAGE)
    assert response.status_code == 200
    assert response.content.decode().count("data-host=") == n


@pytest.mark.integration
def test_utilization_equals_placement_for_every_host(manager):
    """Against the local cloud: the portal's capacity and usage are Placement's own, host by host."""
    gateway = cloud()

    def placement() -> dict[str, dict[str, tuple[int, int]]]:
        return {
            p.name: {
                rc: (int((inv.total - inv.reserved) * inv.allocation_ratio), inv.used)
                for rc, inv in p.inventories.items()
                if rc in ("VCPU", "MEMORY_MB", "DISK_GB")
            }
            for p in gateway.list_resource_providers()
        }

    # Other tests may boot VMs meanwhile: accept a mirror taken between two identical Placement reads.
    for _ in range(5):
        before = placement()
        catalog_refresh()
        after = placement()
        if before == after:
            break
    else:
        pytest.fail("Placement kept changing during the refresh")
    portal = {
        row.name: {r.resource_class: (r.capacity, r.used) for r in row.resources}
        for row in host_utilization_list(user=manager)
    }
    assert portal == after
    assert after, "the local cloud has compute hosts"
