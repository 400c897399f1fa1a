"""Onboarding against the real local OpenStack, checked through a separate openstacksdk connection as
the cloud's admin. Every test uses unique names and removes what it made, even when it fails."""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from onboarding import services
from onboarding.models import Onboarding, QuotaTemplate, SubnetAllocation
from portal.cloud import cloud, override
from portal.cloud.gateway import CloudRequestError
from portal.models import Role
from provisioning.models import VmRequest
from tests.factories import UserFactory, VmRequestFactory
from tests.fixtures.local_cloud import admin_connection, wait_active
from tests.live import celery_worker
from tests.polling import eventually
from tests.portal.cloud.test_contract import flavor, image_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
State = Onboarding.State


def run(onboarding: Onboarding, timeout: float = 180) -> Onboarding:
    """What the worker does, in this process: advance, and look again while a step waits."""
    deadline = time.monotonic() + timeout
    while services.onboarding_advance(onboarding_id=onboarding.pk) == services.Advance.WAITING:
        if time.monotonic() > deadline:
            pytest.fail(f"the chain still waits after {timeout} s")
        time.sleep(1)
    onboarding.refresh_from_db()
    return onboarding


@pytest.fixture
def tag():
    return uuid.uuid4().hex[:6]


@pytest.fixture
def crew(tag):
    return {
        "admin": UserFactory(username=f"onb{tag}-root", role=Role.ADMIN),
        "lead": UserFactory(username=f"onb{tag}-lead"),
        "member": UserFactory(username=f"onb{tag}-dev"),
        "team_admin": UserFactory(username=f"onb{tag}-tad", role=Role.ADMIN),
    }


@pytest.fixture
def template(db):
    return QuotaTemplate.objects.create(
        name="integration", values={"instances": 4, "cores": 8, "ram_mb": 8192, "floating_ips": 2}
    )


@pytest.fixture
def slug(tag, crew):
    """The team's short name; whatever the test leaves in the cloud under it is removed afterwards."""
    name = f"onb-{tag}"
    yield name
    conn = admin_connection()
    project = conn.identity.find_project(name, domain_id="default")
    if project is not None:
        for server in conn.compute.servers(all_projects=True, project_id=project.id):
            conn.compute.delete_server(server, ignore_missing=True)
            conn.compute.wait_for_delete(server, wait=120)
        for ip in conn.network.ips(project_id=project.id):
            conn.network.delete_ip(ip, ignore_missing=True)
        for router in conn.network.routers(project_id=project.id):
            for port in conn.network.ports(device_id=router.id, device_owner="network:router_interface"):
                conn.network.remove_interface_from_router(router, port_id=port.id)
            conn.network.delete_router(router, ignore_missing=True)
        for network in conn.network.networks(project_id=project.id):
            conn.network.delete_network(network, ignore_missing=True)
        for group in conn.network.security_groups():
            if group.project_id == project.id:
                conn.network.delete_security_group(group, ignore_missing=True)
        conn.identity.delete_project(project, ignore_missing=True)
    for user in crew.values():
        found = conn.identity.find_user(user.username, domain_id="default")
        if found is not None and (found.description or "").startswith("Kennel:"):
            conn.identity.delete_user(found, ignore_missing=True)


def start(slug, crew, template) -> Onboarding:
    return services.team_onboard(
        actor=crew["admin"],
        name=f"Team {slug}",
        slug=slug,
        members=[crew["member"], crew["team_admin"]],
        leads=[crew["lead"]],
        quota_template=template,
    )


def what_the_cloud_has(conn, project_id: str) -> dict:
    """The project's estate as the cloud's admin sees it, for exact comparison."""
    groups = [g for g in conn.network.security_groups() if g.project_id == project_id]
    compute = conn.compute.get_quota_set(project_id)
    return {
        "roles": sorted(
            (a.user["name"], a.role["name"])
            for a in conn.identity.role_assignments(scope_project_id=project_id, include_names=True)
        ),
        # The users themselves, by id: a second run must not make them again.
        "users": sorted(
            (a.user["name"], a.user["id"])
            for a in conn.identity.role_assignments(scope_project_id=project_id, include_names=True)
        ),
        "networks": sorted((n.id, n.name) for n in conn.network.networks(project_id=project_id)),
        "subnets": sorted((s.id, s.name, s.cidr) for s in conn.network.subnets(project_id=project_id)),
        "routers": sorted(
            (r.id, r.name, (r.external_gateway_info or {}).get("network_id"))
            for r in conn.network.routers(project_id=project_id)
        ),
        "ports": sorted((p.id, p.device_owner) for p in conn.network.ports(project_id=project_id)),
        "rules": sorted(
            (r["id"], r["direction"], r["protocol"], r["port_range_min"], r["remote_ip_prefix"])
            for g in groups
            for r in g.security_group_rules
        ),
        "compute_quota": (compute.instances, compute.cores, compute.ram),
        "floating_ip_quota": conn.network.get_quota(project_id).floating_ips,
    }


def test_onboarding_makes_exactly_the_expected_estate_and_a_second_run_changes_nothing(
    slug, crew, template, capsys
):
    started = time.monotonic()
    onboarding = run(start(slug, crew, template))
    elapsed = time.monotonic() - started
    assert onboarding.state == State.DONE, onboarding.message
    with capsys.disabled():
        print(f"\n[onboarding] one chain against the local cloud took {elapsed:.1f} s")

    conn = admin_connection()
    project = conn.identity.find_project(slug, domain_id="default")
    assert project is not None and onboarding.team.openstack_project_id == project.id
    estate = what_the_cloud_has(conn, project.id)
    portal_user = cloud().whoami().name
    assert estate["roles"] == sorted(
        [
            (portal_user, "admin"),
            (crew["lead"].username, "member"),
            (crew["member"].username, "member"),
            (crew["team_admin"].username, "admin"),
        ]
    )
    (network,) = estate["networks"]
    assert network[1] == f"{slug}-net"
    (subnet,) = estate["subnets"]
    assert subnet[1:] == (f"{slug}-subnet", SubnetAllocation.objects.get(onboarding=onboarding).cidr)
    public = conn.network.find_network("public")
    (router,) = estate["routers"]
    assert router[1:] == (f"{slug}-router", public.id)
    assert [owner for _id, owner in estate["ports"]] == ["network:router_interface"]
    ingress = {(proto, port, prefix) for _id, direction, proto, port, prefix in estate["rules"] if prefix}
    # SSH and ping from the internal networks only (KENNEL_DEFAULT_INGRESS_FROM), never the internet.
    assert ingress == {
        (proto, port, cidr)
        for cidr in settings.KENNEL_DEFAULT_INGRESS_FROM
        for proto, port in (("tcp", 22), ("icmp", None))
    }
    assert "0.0.0.0/0" not in {prefix for _proto, _port, prefix in ingress}
    assert estate["compute_quota"] == (4, 8, 8192) and estate["floating_ip_quota"] == 2
    for user in (crew["lead"], crew["member"], crew["team_admin"]):
        assert conn.identity.find_user(user.username, domain_id="default").description.startswith("Kennel:")

    services.onboarding_run_again(actor=crew["admin"], onboarding=onboarding)
    onboarding = run(onboarding)
    assert onboarding.state == State.DONE, onboarding.message
    assert what_the_cloud_has(conn, project.id) == estate


class FailsOnce:
    """The real gateway, except that one method refuses its first call."""

    def __init__(self, gateway, method: str, error: Exception) -> None:
        self._gateway, self._method, self._error = gateway, method, error

    def __getattr__(self, name):
        if name == self._method and self._error is not None:

            def refuse(*args, **kwargs):
                error, self._error = self._error, None
                raise error

            return refuse
        return getattr(self._gateway, name)


def test_a_failure_at_the_router_resumes_to_the_same_end_and_offboarding_leaves_nothing(slug, crew, template):
    flaky = FailsOnce(cloud(), "create_router", CloudRequestError("injected: router quota exceeded"))
    with override(flaky):
        onboarding = run(start(slug, crew, template))
        assert onboarding.state == State.FAILED and "injected" in onboarding.message
        services.onboarding_retry(actor=crew["admin"], onboarding=onboarding)
        onboarding = run(onboarding)
    assert onboarding.state == State.DONE, onboarding.message
    conn = admin_connection()
    project_id = onboarding.team.openstack_project_id
    estate = what_the_cloud_has(conn, project_id)
    assert len(estate["networks"]) == len(estate["subnets"]) == len(estate["routers"]) == 1
    assert len(estate["roles"]) == 4

    # A VM of the team (with a floating IP), so offboarding has something to delete first.
    gateway = cloud()
    network_id = onboarding.steps.get(name="network").resources["network_id"]
    server = gateway.create_server(
        project_id=project_id,
        name=f"{slug}-vm",
        image_id=image_for(gateway, "x86_64").id,
        flavor_id=flavor(gateway).id,
        network_id=network_id,
        metadata={"kennel-request": "integration"},
    )
    server = wait_active(gateway, server.id)
    vm = VmRequestFactory(team=onboarding.team, owner=crew["member"], name=server.name, server_id=server.id)
    public = next(n for n in gateway.list_networks(external=True) if n.name == "public")
    fip = gateway.create_floating_ip(project_id=project_id, external_network_id=public.id)
    gateway.attach_floating_ip(floating_ip_id=fip.id, server_id=server.id)

    with pytest.raises(ValidationError, match=server.name):
        services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm="")
    services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm=slug)
    onboarding = run(onboarding)
    assert onboarding.state == State.OFFBOARDED, onboarding.message
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.DELETED

    assert conn.identity.find_project(project_id) is None
    left = {
        "servers": list(conn.compute.servers(all_projects=True, project_id=project_id)),
        "floating_ips": list(conn.network.ips(project_id=project_id)),
        "routers": list(conn.network.routers(project_id=project_id)),
        "networks": list(conn.network.networks(project_id=project_id)),
        "subnets": list(conn.network.subnets(project_id=project_id)),
        "ports": list(conn.network.ports(project_id=project_id)),
        "security_groups": [g for g in conn.network.security_groups() if g.project_id == project_id],
    }
    assert {kind: items for kind, items in left.items() if items} == {}
    for user in (crew["lead"], crew["member"], crew["team_admin"]):
        assert conn.identity.find_user(user.username, domain_id="default") is None
    mine = {project_id} | {u.username for u in crew.values()}
    orphans = [f for f in services.cloud_orphans_find() if f["project_id"] in mine or f["name"] in mine]
    assert orphans == []
    with contextlib.suppress(Exception):
        gateway.delete_floating_ip(fip.id)  # gone already; only a failed run would leave it


def test_the_chains_and_a_membership_change_run_in_a_real_worker(slug, crew, template, capsys):
    """What `make run` does: the web enqueues, a Celery worker works through the real cloud."""
    conn = admin_connection()
    with celery_worker():
        started = time.monotonic()
        onboarding = start(slug, crew, template)
        state = eventually(
            lambda: Onboarding.objects.get(pk=onboarding.pk).state,
            lambda s: s in (State.DONE, State.FAILED),
            timeout=120,
            what="onboarding in the worker",
        )
        elapsed = time.monotonic() - started
        onboarding.refresh_from_db()
        assert state == State.DONE, onboarding.message
        with capsys.disabled():
            print(f"\n[onboarding] through a Celery worker, request to done: {elapsed:.1f} s")

        project_id = onboarding.team.openstack_project_id
        lead_id = conn.identity.find_user(crew["lead"].username, domain_id="default").id
        services.team_member_remove(actor=crew["admin"], team=onboarding.team, user=crew["lead"])
        eventually(
            lambda: conn.identity.find_user(crew["lead"].username, domain_id="default"),
            lambda found: found is None,
            timeout=60,
            what="the removed lead's Kennel-made account",
        )
        roles = {a.user["id"] for a in conn.identity.role_assignments(scope_project_id=project_id)}
        assert lead_id not in roles

        services.team_offboard(actor=crew["admin"], onboarding=onboarding, confirm=slug)
        state = eventually(
            lambda: Onboarding.objects.get(pk=onboarding.pk).state,
            lambda s: s in (State.OFFBOARDED, State.OFFBOARD_FAILED),
            timeout=120,
            what="offboarding in the worker",
        )
        onboarding.refresh_from_db()
        assert state == State.OFFBOARDED, onboarding.message
    assert conn.identity.find_project(project_id) is None
