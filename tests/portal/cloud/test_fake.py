"""The fake cloud's own knobs (outages, injected failures, how time passes) and what it promises beyond
the contract suite: that its estate is the devcloud's, and the services' refusals in their own words."""

from __future__ import annotations

import ast
import inspect
import re
import threading
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from portal.cloud.fake import DEVCLOUD_HOSTS, ComputeHost, FakeCloud, ImageSpec
from portal.cloud.gateway import (
    CloudGateway,
    CloudNotFound,
    CloudRequestError,
    CloudUnavailable,
    QuotaExceeded,
    QuotaService,
    ServerAction,
    ServerCreated,
)

DEVCLOUD = Path(__file__).resolve().parents[3] / "devcloud"
GATEWAY_METHODS = sorted(
    name for name, _ in inspect.getmembers(CloudGateway, inspect.isfunction) if not name.startswith("_")
)


@pytest.fixture
def fake() -> FakeCloud:
    return FakeCloud()


def team(fake: FakeCloud, name: str = "alpha") -> str:
    """The project's id, with the portal's user (admin) granted a role there, as onboarding does."""
    project, admin = fake.find_project(name), fake.find_user("admin")
    assert project is not None and admin is not None
    fake.assign_role(user_id=admin.id, project_id=project.id, role="admin")
    return project.id


def boot(
    fake: FakeCloud, project_id: str, *, image: str = "cirros-0.6-x86_64", flavor: str = "m1.tiny", **kwargs
) -> ServerCreated:
    image_id = next(i.id for i in fake.list_images() if i.name == image)
    flavor_id = next(f.id for f in fake.list_flavors() if f.name == flavor)
    return fake.create_server(
        project_id=project_id, name="vm", image_id=image_id, flavor_id=flavor_id, **kwargs
    )


def vcpus_used(fake: FakeCloud) -> dict[str, int]:
    return {p.name: p.inventories["VCPU"].used for p in fake.list_resource_providers()}


# --- it is a CloudGateway ---------------------------------------------------------------------------


def test_it_has_every_gateway_method_with_the_gateways_signature():
    for name in GATEWAY_METHODS:
        assert inspect.signature(getattr(FakeCloud, name)) == inspect.signature(
            getattr(CloudGateway, name)
        ), name


# --- outages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", GATEWAY_METHODS)
def test_an_outage_refuses_every_gateway_call(fake, method):
    signature = inspect.signature(getattr(CloudGateway, method))
    required = {
        name: "x"
        for name, p in signature.parameters.items()
        if name != "self" and p.default is inspect.Parameter.empty
    }
    args = [
        v for n, v in required.items() if signature.parameters[n].kind is not inspect.Parameter.KEYWORD_ONLY
    ]
    kwargs = {
        n: v for n, v in required.items() if signature.parameters[n].kind is inspect.Parameter.KEYWORD_ONLY
    }
    fake.available = False
    with pytest.raises(CloudUnavailable, match="Connection refused"):
        getattr(fake, method)(*args, **kwargs)


def test_calls_work_again_when_the_cloud_is_back(fake):
    fake.available = False
    with pytest.raises(CloudUnavailable):
        fake.list_flavors()
    fake.available = True
    assert len(fake.list_flavors()) == 5


def test_the_cloud_keeps_building_while_the_portal_cannot_reach_it(fake):
    server = boot(fake, team(fake))
    fake.available = False
    fake.settle()
    fake.available = True
    assert fake.get_server(server.id).status == "ACTIVE"


# --- injected failures ------------------------------------------------------------------------------


def test_fail_next_fails_one_call_of_that_method_only(fake):
    fake.fail_next("list_flavors", CloudUnavailable("the cloud failed (HTTP 503)"))
    assert fake.list_images()  # another method is not affected
    with pytest.raises(CloudUnavailable, match="HTTP 503"):
        fake.list_flavors()
    assert len(fake.list_flavors()) == 5


def test_fail_next_defaults_to_a_timeout(fake):
    fake.fail_next("list_images")
    with pytest.raises(CloudUnavailable, match="timed out"):
        fake.list_images()


def test_failures_for_one_method_are_used_in_the_order_queued(fake):
    fake.fail_next("list_images", CloudUnavailable("first"))
    fake.fail_next("list_images", CloudRequestError("second"))
    with pytest.raises(CloudUnavailable, match="first"):
        fake.list_images()
    with pytest.raises(CloudRequestError, match="second"):
        fake.list_images()
    assert fake.list_images()


def test_a_failure_before_the_call_changes_nothing(fake):
    project_id = team(fake)
    fake.fail_next("create_server")
    with pytest.raises(CloudUnavailable):
        boot(fake, project_id, metadata={"kennel-request": "7"})
    assert fake.find_servers_by_metadata(project_id=project_id, key="kennel-request", value="7") == []


def test_a_failure_after_the_call_loses_the_answer_but_not_the_server(fake):
    project_id = team(fake)
    fake.fail_next("create_server", after=True)
    with pytest.raises(CloudUnavailable):
        boot(fake, project_id, metadata={"kennel-request": "7"})
    found = fake.find_servers_by_metadata(project_id=project_id, key="kennel-request", value="7")
    assert [s.name for s in found] == ["vm"]


def test_fail_next_refuses_a_method_the_gateway_does_not_have(fake):
    with pytest.raises(ValueError, match="create_vm"):
        fake.fail_next("create_vm")
    with pytest.raises(ValueError):
        fake.fail_next("_step")


# --- threads ---------------------------------------------------------------------------------------


def test_concurrent_creates_never_overrun_the_quota(fake):
    project_id = team(fake)
    fake.set_quotas(project_id, QuotaService.COMPUTE, {"instances": 5})
    outcomes: list[str] = []

    def create() -> None:
        try:
            boot(fake, project_id)
            outcomes.append("created")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=create) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created"] * 5 + ["refused"] * 15
    assert len(fake.list_servers(project_id=project_id)) == 5


# --- how time passes --------------------------------------------------------------------------------


def test_a_server_is_active_after_two_reads_and_on_a_host_after_one(fake):
    server = boot(fake, team(fake))  # Nova's answer is the id; nothing is scheduled yet
    assert sum(vcpus_used(fake).values()) == 0

    spawning = fake.get_server(server.id)
    assert (spawning.status, spawning.task_state) == ("BUILD", "spawning")
    assert spawning.host in {"x2", "x3", "x4"} and spawning.availability_zone == "dc1"
    assert vcpus_used(fake)[spawning.host] == 1  # Placement holds the allocation from scheduling on

    active = fake.get_server(server.id)
    assert (active.status, active.task_state, active.settled) == ("ACTIVE", None, True)


def test_listing_moves_the_listed_servers_too(fake):
    server = boot(fake, team(fake))
    fake.list_servers()
    [listed] = fake.list_servers(project_id=server.project_id)
    assert listed.status == "ACTIVE"


def test_without_auto_advance_only_tick_and_settle_move_time():
    fake = FakeCloud(auto_advance=False)
    server = boot(fake, team(fake))
    assert fake.get_server(server.id).task_state == "scheduling"
    assert fake.get_server(server.id).task_state == "scheduling"
    fake.tick()
    assert fake.get_server(server.id).task_state == "spawning"
    fake.tick(server.id)
    assert fake.get_server(server.id).status == "ACTIVE"

    fake.server_action(server.id, ServerAction.STOP)
    stopping = fake.get_server(server.id)
    assert (stopping.status, stopping.task_state, stopping.settled) == ("ACTIVE", "powering-off", False)
    fake.settle()
    assert fake.get_server(server.id).status == "SHUTOFF"

    fake.server_action(server.id, ServerAction.REBOOT_HARD)
    assert fake.get_server(server.id).status == "SHUTOFF"  # Nova's status while a stopped server reboots
    fake.settle()
    assert fake.get_server(server.id).status == "ACTIVE"


def test_a_deleted_server_is_deleting_until_time_moves_then_gone_with_its_allocation():
    fake = FakeCloud(auto_advance=False)
    server = boot(fake, team(fake))
    fake.settle()
    host = fake.get_server(server.id).host
    fake.delete_server(server.id)
    assert fake.get_server(server.id).task_state == "deleting"
    assert vcpus_used(fake)[host] == 1
    fake.tick()
    with pytest.raises(CloudNotFound):
        fake.get_server(server.id)
    assert vcpus_used(fake)[host] == 0


def test_with_auto_advance_the_first_read_after_a_delete_finds_nothing(fake):
    server = boot(fake, team(fake))
    fake.delete_server(server.id)
    with pytest.raises(CloudNotFound):
        fake.get_server(server.id)


def test_tick_refuses_a_server_the_fake_does_not_have(fake):
    with pytest.raises(KeyError):
        fake.tick("no-such-server")


# --- scheduling, quotas and refusals (not in the contract suite: the real cloud is too big to fill) ----


def test_a_full_architecture_is_no_valid_host_even_with_room_elsewhere():
    small_power = ComputeHost("p1", "ppc64le", "dc2", vcpus=1, memory_mb=4096 + 512, disk_gb=10)
    fake = FakeCloud(hosts=(DEVCLOUD_HOSTS[0], small_power))
    project_id = team(fake)
    first = boot(fake, project_id, image="cirros-0.6-ppc64le")
    fake.settle()
    assert fake.get_server(first.id).host == "p1"

    second = boot(fake, project_id, image="cirros-0.6-ppc64le")
    fake.settle()
    failed = fake.get_server(second.id)
    assert (failed.status, failed.host, failed.task_state) == ("ERROR", None, None)
    assert failed.fault is not None and failed.fault.startswith("No valid host was found.")
    assert vcpus_used(fake) == {"x2": 0, "p1": 1}


def test_an_image_without_an_architecture_is_an_x86_image():
    plain = ImageSpec("plain", None, "debian", "12", min_disk_gb=1, min_ram_mb=128)
    fake = FakeCloud(images=(plain,))
    project_id = team(fake)
    hosts = set()
    for _ in range(6):
        server = boot(fake, project_id, image="plain")
        fake.settle()
        hosts.add(fake.get_server(server.id).host)
    assert hosts == {"x2", "x3", "x4"}  # spread over the x86 hosts, never on p1


def test_the_compute_quota_refusal_names_the_resource_like_nova(fake):
    project_id = team(fake)
    fake.set_quotas(project_id, QuotaService.COMPUTE, {"cores": 3})
    boot(fake, project_id, flavor="m1.medium")
    with pytest.raises(QuotaExceeded) as refused:
        boot(fake, project_id, flavor="m1.medium")
    assert str(refused.value) == "Quota exceeded for cores: Requested 2, but already used 2 of 3 cores"


def test_a_server_needs_a_role_of_the_portals_user_in_its_project(fake):
    beta = fake.find_project("beta")
    assert beta is not None
    with pytest.raises(CloudRequestError, match="no role"):
        boot(fake, beta.id)


def test_a_flavor_too_small_for_the_image_is_refused(fake):
    with pytest.raises(CloudRequestError, match="Flavor's memory is too small"):
        boot(fake, team(fake), image="centos-stream-9-x86_64", flavor="m1.tiny")


def test_an_invalid_transition_is_refused_in_novas_words(fake):
    server = boot(fake, team(fake))
    with pytest.raises(CloudRequestError, match="is not ready"):
        fake.server_action(server.id, ServerAction.STOP)  # not on a host yet
    fake.settle()
    with pytest.raises(CloudRequestError) as refused:
        fake.server_action(server.id, ServerAction.START)
    assert str(refused.value) == f"Cannot 'start' instance {server.id} while it is in vm_state active"


def test_a_floating_ip_reaches_a_server_only_through_a_router_to_its_network(fake):
    project_id = team(fake)
    public = fake.list_networks(external=True)[0]
    lonely = fake.create_network(project_id=project_id, name="lonely")
    fake.create_subnet(network_id=lonely.id, name="lonely", cidr="10.99.0.0/24")
    server = boot(fake, project_id, network_id=lonely.id)
    unplugged = boot(fake, project_id)
    fake.settle()
    fip = fake.create_floating_ip(project_id=project_id, external_network_id=public.id)
    with pytest.raises(CloudNotFound, match="is not reachable"):
        fake.attach_floating_ip(floating_ip_id=fip.id, server_id=server.id)
    with pytest.raises(CloudRequestError, match="no network port"):
        fake.attach_floating_ip(floating_ip_id=fip.id, server_id=unplugged.id)


def test_the_seeded_team_network_shows_its_address_and_floating_ip(fake):
    project_id = team(fake)
    [net] = fake.list_networks(project_id=project_id)
    server = boot(fake, project_id, network_id=net.id)
    fake.settle()
    fip = fake.create_floating_ip(
        project_id=project_id, external_network_id=fake.list_networks(external=True)[0].id
    )
    fake.attach_floating_ip(floating_ip_id=fip.id, server_id=server.id)
    assert fake.get_server(server.id).addresses == {"alpha-net": ("10.10.0.2", fip.address)}
    fake.delete_server(server.id)
    fake.settle()
    assert fake.list_floating_ips(project_id=project_id)[0].server_id is None  # the port went with it


def test_a_network_a_router_is_plugged_into_cannot_be_deleted(fake):
    [net] = fake.list_networks(project_id=team(fake))
    with pytest.raises(CloudRequestError, match="one or more ports still in use"):
        fake.delete_network(net.id)


def test_names_of_projects_are_unique_regardless_of_case_but_found_exactly(fake):
    with pytest.raises(CloudRequestError, match="Conflict"):
        fake.create_project(name="ALPHA")
    assert fake.find_project("ALPHA") is None


# --- the estate is the devcloud's -------------------------------------------------------------------


def devcloud_constants(path: Path) -> dict[str, object]:
    """The literal module-level constants of a devcloud source file, read without importing it."""

    class DictCalls(ast.NodeTransformer):
        def visit_Call(self, node: ast.Call) -> ast.AST:
            self.generic_visit(node)
            if isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
                return ast.Dict(
                    keys=[ast.Constant(k.arg) for k in node.keywords], values=[k.value for k in node.keywords]
                )
            return node

    constants: dict[str, object] = {}
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
            try:
                constants[statement.targets[0].id] = ast.literal_eval(DictCalls().visit(statement.value))
            except ValueError:
                continue
    return constants


@pytest.fixture(scope="module")
def devcloud() -> dict[str, object]:
    source = DEVCLOUD / "src" / "kennel_devcloud"
    if not source.is_dir():
        pytest.skip("no devcloud/ in this checkout")
    conf = (DEVCLOUD / "templates" / "nova-compute.conf").read_text()
    ratios = {k: float(v) for k, v in re.findall(r"^(\w+_allocation_ratio) = ([\d.]+)$", conf, re.MULTILINE)}
    # control.py's COMPUTE_HOSTS holds the hardware; seed.py's the names it waits for.
    control = devcloud_constants(source / "control.py")
    return {
        **devcloud_constants(source / "seed.py"),
        **ratios,
        "HARDWARE": control["COMPUTE_HOSTS"],
        "RESERVED_HOST_MEMORY_MB": control["RESERVED_HOST_MEMORY_MB"],
    }


def test_the_compute_hosts_and_placement_inventories_are_the_devclouds(fake, devcloud):
    hosts, reserved = devcloud["HARDWARE"], devcloud["RESERVED_HOST_MEMORY_MB"]
    assert set(hosts) == set(devcloud["COMPUTE_HOSTS"])
    zones = {host: zone for zone, members in devcloud["AGGREGATES"].items() for host in members}
    providers = {p.name: p for p in fake.list_resource_providers()}
    assert set(providers) == set(hosts)
    for name, spec in hosts.items():
        inventories = providers[name].inventories
        assert providers[name].architecture == spec["architecture"]
        assert (inventories["VCPU"].total, inventories["VCPU"].reserved) == (spec["vcpus"], 0)
        assert (inventories["MEMORY_MB"].total, inventories["MEMORY_MB"].reserved) == (
            spec["memory_mb"],
            reserved,
        )
        assert (inventories["DISK_GB"].total, inventories["DISK_GB"].reserved) == (spec["local_gb"], 0)
        assert inventories["VCPU"].allocation_ratio == devcloud["cpu_allocation_ratio"]
        assert inventories["MEMORY_MB"].allocation_ratio == devcloud["ram_allocation_ratio"]
        assert inventories["DISK_GB"].allocation_ratio == devcloud["disk_allocation_ratio"]
    assert {h.name: h.availability_zone for h in DEVCLOUD_HOSTS} == zones


def test_the_catalog_is_the_devclouds(fake, devcloud):
    flavors = {f.name: (f.vcpus, f.ram_mb, f.disk_gb) for f in fake.list_flavors()}
    assert flavors == devcloud["FLAVORS"]
    images = {
        i.name: {
            "hw_architecture": i.architecture,
            "os_distro": i.properties["os_distro"],
            "os_version": i.properties["os_version"],
            "min_disk": i.min_disk_gb,
            "min_ram": i.min_ram_mb,
        }
        for i in fake.list_images()
    }
    assert images == devcloud["IMAGES"]


def test_the_network_projects_and_quotas_are_the_devclouds(fake, devcloud):
    [public] = fake.list_networks(external=True)
    assert public.name == devcloud["PUBLIC_NET"]
    fip = fake.create_floating_ip(project_id=fake.find_project("admin").id, external_network_id=public.id)
    pool = devcloud["PUBLIC_POOL"]
    assert ip_address(pool["start"]) <= ip_address(fip.address) <= ip_address(pool["end"])
    assert ip_address(fip.address) in ip_network(devcloud["PUBLIC_CIDR"])
    for name, (member, _cidr) in devcloud["DEMO_PROJECTS"].items():
        project = fake.find_project(name)
        assert project is not None and fake.find_user(member) is not None
        [net] = fake.list_networks(project_id=project.id)
        assert net.name == f"{name}-net"
        compute = fake.get_quotas(project.id, QuotaService.COMPUTE)
        network = fake.get_quotas(project.id, QuotaService.NETWORK)
        assert compute == {k: devcloud["COMPUTE_QUOTAS"][k] for k in compute}
        assert network == {k: devcloud["NETWORK_QUOTAS"][k] for k in network}
    assert fake.services() == {QuotaService.COMPUTE, QuotaService.NETWORK}
    assert set(devcloud["CATALOG"]) == {"compute", "placement", "image", "network"}


def test_with_cinder_the_teams_have_the_devclouds_volume_quotas(devcloud):
    if "VOLUME_QUOTAS" not in devcloud:
        pytest.skip("this devcloud seeds no Cinder")
    fake = FakeCloud(block_storage=True)
    assert QuotaService.VOLUME in fake.services()
    for name in devcloud["DEMO_PROJECTS"]:
        project = fake.find_project(name)
        assert project is not None
        volume = fake.get_quotas(project.id, QuotaService.VOLUME)
        assert volume == {k: devcloud["VOLUME_QUOTAS"][k] for k in volume}


def test_without_cinder_volume_quotas_are_refused(fake):
    admin = fake.find_project("admin")
    assert admin is not None
    with pytest.raises(CloudRequestError, match="no block storage"):
        fake.get_quotas(admin.id, QuotaService.VOLUME)
