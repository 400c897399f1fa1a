"""A real Celery worker killed with SIGKILL in the middle of its work; a new worker (and beat) finish it.

The worker is stopped at an exact point by ``KENNEL_FAILPOINT`` (portal.failpoints) and then killed, so
no shutdown code runs and its message stays unacknowledged in Redis (it would come back only after the
broker's visibility timeout, an hour): what brings the work back is beat's resume tasks, run here every
3 s with work taken over after 8 s without a heartbeat (QUICK_RECOVERY). Each test prints how long the
new worker took to finish, and checks that the work was done exactly once.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from catalog import services as catalog_services
from catalog.models import ImageImport
from onboarding import services as onboarding_services
from onboarding.models import Onboarding, QuotaTemplate
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, QuotaService
from portal.models import Role
from portal.services import team_link_project
from provisioning import services as vm_services
from provisioning.models import VmEvent, VmRequest
from quotas import services as quota_services
from quotas.models import QuotaRequest, QuotaRequestEvent
from tests.factories import UserFactory
from tests.faults.processes import QUICK_RECOVERY, broker, celery_beat, kill_hard, wait_for_failpoint
from tests.fixtures.disks import make_qcow2
from tests.fixtures.fake_cloud import flavor, image
from tests.fixtures.local_cloud import admin_connection, wait_gone
from tests.live import celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def kill_and_recover(
    *,
    failpoint: str,
    redis,
    tmp_path: Path,
    start: Callable[[], Any],
    probe: Callable[[], Any],
    done: Callable[[Any], bool],
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> tuple[Any, float]:
    """Start the work with a worker that stops at ``failpoint``, SIGKILL it there, then start a new
    worker and beat and wait until ``done(probe())``. Returns the work (what ``start`` returned) and the
    seconds from the new worker's start to done."""
    env = {"REDIS_URL": redis.url(), **(env or {})}
    with broker(redis.url()):
        stopping = {**env, "KENNEL_FAILPOINT": failpoint, "KENNEL_FAILPOINT_DIR": str(tmp_path)}
        with celery_worker(env=stopping) as first:
            work = start()
            wait_for_failpoint(tmp_path, failpoint, first)
            kill_hard(first)
        began = time.monotonic()
        recovering = {**env, **QUICK_RECOVERY}
        with celery_worker(env=recovering), celery_beat(env=recovering):
            eventually(probe, done, timeout=timeout, what=f"recovering from a kill at {failpoint}")
            elapsed = time.monotonic() - began
    print(f"\n[fault] worker SIGKILLed at {failpoint}: converged {elapsed:.1f} s after a new worker started")
    return work, elapsed


# --- a VM build -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("failpoint", ["vm-build-before-create", "vm-build-after-create"])
def test_a_build_killed_around_the_create_call_makes_exactly_one_server(
    failpoint, member, linked_team, private_redis, tmp_path
):
    name = f"kill-{failpoint.split('-')[2]}-{uuid.uuid4().hex[:4]}"
    gateway = cloud()
    project_id = linked_team.openstack_project_id

    def start() -> VmRequest:
        return vm_services.vm_request_submit(
            actor=member, team=linked_team, name=name, image=image("x86_64"), flavor=flavor(), source="test"
        )

    def status():
        return VmRequest.objects.values_list("status", "status_message").get(name=name)

    try:
        vm, _elapsed = kill_and_recover(
            failpoint=failpoint,
            redis=private_redis,
            tmp_path=tmp_path,
            start=start,
            probe=status,
            done=lambda s: s[0] in (VmRequest.Status.ACTIVE, VmRequest.Status.FAILED),
        )
        vm.refresh_from_db()
        assert vm.status == VmRequest.Status.ACTIVE, vm.status_message
        servers = [
            s
            for s in gateway.find_servers_by_metadata(
                project_id=project_id, key=vm_services.METADATA_KEY, value=str(vm.pk)
            )
            if s.name in [name]
        ]
        assert [s.id for s in servers] == [
            vm.server_id
        ]  # one, the one Kennel shows (by name too: other test runs share the project)
        accepted = VmEvent.objects.filter(request=vm, message__startswith="The cloud accepted")
        assert accepted.count() == 1
        assert vm.attempts >= 1
    finally:
        for pk in VmRequest.objects.filter(name=name).values_list("pk", flat=True):
            for server in [
                s
                for s in gateway.find_servers_by_metadata(
                    project_id=project_id, key=vm_services.METADATA_KEY, value=str(pk)
                )
                if s.name in [name]
            ]:
                with contextlib.suppress(CloudNotFound):
                    gateway.delete_server(server.id)
                wait_gone(gateway, server.id)


# --- a quota apply --------------------------------------------------------------------------------------


@pytest.fixture
def fresh_team(team, lead):
    gateway = cloud()
    project = gateway.create_project(name=f"fault-{uuid.uuid4().hex[:8]}", description="fault tests")
    team_link_project(actor=None, team=team, project=project.id)
    vm_services.catalog_refresh()
    quota_services.quota_sync(team_ids=[team.pk])
    yield team
    gateway.delete_project(project.id)


def test_a_quota_apply_killed_between_services_is_finished_once(
    fresh_team, lead, admin, private_redis, tmp_path
):
    request = quota_services.quota_request_submit(
        actor=lead, team=fresh_team, values={"instances": 13, "cores": 26, "floating_ips": 5}, reason="fault"
    )

    def status():
        request.refresh_from_db()
        return request.status

    kill_and_recover(
        failpoint="quota-apply-between-services",
        redis=private_redis,
        tmp_path=tmp_path,
        start=lambda: quota_services.quota_request_approve(actor=admin, request=request),
        probe=status,
        done=lambda s: s in (QuotaRequest.Status.APPLIED, QuotaRequest.Status.FAILED),
    )
    assert request.status == QuotaRequest.Status.APPLIED, request.error
    project_id = fresh_team.openstack_project_id
    compute = cloud().get_quotas(project_id, QuotaService.COMPUTE)
    assert (compute["instances"], compute["cores"]) == (13, 26)
    assert cloud().get_quotas(project_id, QuotaService.NETWORK)["floatingip"] == 5
    applied = [
        e.params["service"]
        for e in QuotaRequestEvent.objects.filter(request=request)
        if "service" in e.params
    ]
    assert sorted(applied) == ["compute", "network"]  # each service applied once, none twice


# --- an onboarding step ---------------------------------------------------------------------------------


def test_an_onboarding_killed_after_a_step_made_its_network_finishes_with_one_network(
    private_redis, tmp_path
):
    tag = uuid.uuid4().hex[:6]
    slug = f"flt-{tag}"
    admin = UserFactory(username=f"flt{tag}-root", role=Role.ADMIN)
    lead = UserFactory(username=f"flt{tag}-lead")
    template = QuotaTemplate.objects.create(name=f"fault-{tag}", values={"instances": 2, "cores": 4})

    def start() -> Onboarding:
        return onboarding_services.team_onboard(
            actor=admin, name=f"Team {slug}", slug=slug, members=[], leads=[lead], quota_template=template
        )

    def state():
        return Onboarding.objects.values_list("state", "message").get(team__slug=slug)

    conn = admin_connection()
    try:
        onboarding, _elapsed = kill_and_recover(
            failpoint="onboarding-after-network",
            redis=private_redis,
            tmp_path=tmp_path,
            start=start,
            probe=state,
            done=lambda s: s[0] in (Onboarding.State.DONE, Onboarding.State.FAILED),
        )
        onboarding.refresh_from_db()
        assert onboarding.state == Onboarding.State.DONE, onboarding.message
        project = conn.identity.find_project(slug, domain_id="default")
        networks = [n.name for n in conn.network.networks(project_id=project.id)]
        assert networks == [f"{slug}-net"]  # the network the killed worker made, found, not made again
        assert [s.name for s in conn.network.subnets(project_id=project.id)] == [f"{slug}-subnet"]
        assert len(list(conn.network.routers(project_id=project.id))) == 1
    finally:
        _remove_project(conn, slug, [lead.username])


def _remove_project(conn, slug: str, usernames: list[str]) -> None:
    project = conn.identity.find_project(slug, domain_id="default")
    if project is not None:
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
    for username in usernames:
        found = conn.identity.find_user(username, domain_id="default")
        if found is not None and (found.description or "").startswith("Kennel:"):
            conn.identity.delete_user(found, ignore_missing=True)


# --- a disk import upload -------------------------------------------------------------------------------


def test_an_import_killed_mid_upload_ends_with_one_verified_image(admin, private_redis, tmp_path):
    incoming, work = tmp_path / "incoming", tmp_path / "work"
    incoming.mkdir()
    work.mkdir()
    points = tmp_path / "points"
    points.mkdir()
    make_qcow2(incoming / "old.qcow2", size="512M", data_mib=48)
    vm_services.catalog_refresh()
    dirs = {"KENNEL_IMPORT_DIR": str(incoming), "KENNEL_IMPORT_WORK_DIR": str(work)}
    gateway = cloud()

    def start() -> ImageImport:
        from django.test import override_settings

        with override_settings(KENNEL_IMPORT_DIR=incoming, KENNEL_IMPORT_WORK_DIR=work):
            return catalog_services.image_import_create(
                actor=admin,
                path="old.qcow2",
                name=f"kennel-fault-{uuid.uuid4().hex[:6]}",
                architecture="x86_64",
                source="test",
            )

    def state():
        return ImageImport.objects.values_list("state", "message").get()

    def images_of(imp: ImageImport) -> list:
        # By name too: other test runs share this Glance, and their import ids repeat.
        return [
            i
            for i in gateway.list_images()
            if i.properties.get("kennel_import_id") == str(imp.pk) and i.name == imp.name
        ]

    imp = None
    try:
        imp, _elapsed = kill_and_recover(
            failpoint="image-import-mid-upload",
            redis=private_redis,
            tmp_path=points,
            start=start,
            probe=state,
            done=lambda s: s[0] in (ImageImport.State.DONE, ImageImport.State.FAILED),
            env=dirs,
        )
        imp.refresh_from_db()
        assert imp.state == ImageImport.State.DONE, imp.message
        found = images_of(imp)
        assert [i.id for i in found] == [imp.glance_image_id]  # the half upload left no second image
        assert found[0].status == "active" and found[0].hash_value == imp.local_sha512
    finally:
        if imp is not None:
            for leftover in images_of(imp):
                with contextlib.suppress(CloudNotFound):
                    gateway.delete_image(leftover.id)
