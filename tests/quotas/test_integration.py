"""Quotas against the real local OpenStack: what Nova and Neutron report after Kennel applies.

Each test links its team to a fresh project, so the demo projects' quotas are never touched."""

from __future__ import annotations

import contextlib
import uuid

import pytest

from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, QuotaService
from portal.models import Membership
from portal.services import team_link_project
from provisioning.services import catalog_refresh
from quotas import services
from quotas.models import QuotaRequest
from tests.fixtures.local_cloud import wait_active, wait_gone
from tests.live import celery_worker
from tests.polling import eventually
from tests.portal.cloud.test_contract import flavor, image_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = QuotaRequest.Status


@pytest.fixture
def fresh_team(team, lead):
    gateway = cloud()
    project = gateway.create_project(name=f"quota-{uuid.uuid4().hex[:8]}", description="quota tests")
    team_link_project(actor=None, team=team, project=project.id)
    catalog_refresh()  # the hardware bounds a request is checked against
    services.quota_sync(team_ids=[team.pk])
    yield team
    for server in gateway.list_servers(project_id=project.id):
        with contextlib.suppress(CloudNotFound):
            gateway.delete_server(server.id)
        wait_gone(gateway, server.id)
    gateway.delete_project(project.id)


def status_of(request):
    request.refresh_from_db()
    return request.status


def test_an_approval_reaches_nova_and_neutron(fresh_team, lead, admin):
    request = services.quota_request_submit(
        actor=lead, team=fresh_team, values={"instances": 15, "cores": 40, "floating_ips": 7}, reason="CI"
    )
    with celery_worker():
        services.quota_request_approve(actor=admin, request=request)
        eventually(
            lambda: status_of(request),
            lambda s: s in (Status.APPLIED, Status.FAILED),
            timeout=60,
            what="applying the quota",
        )
    assert request.status == Status.APPLIED, request.error
    project_id = fresh_team.openstack_project_id
    compute = cloud().get_quotas(project_id, QuotaService.COMPUTE)
    assert (compute["instances"], compute["cores"]) == (15, 40)
    assert cloud().get_quotas(project_id, QuotaService.NETWORK)["floatingip"] == 7
    assert set(request.results) == {"compute", "network"}


def test_a_refusal_in_one_service_leaves_a_request_that_resumes(fresh_team, lead, admin):
    gateway = cloud()
    project_id = fresh_team.openstack_project_id
    # A server made behind Kennel's back (not reconciled yet): Nova counts its vCPU, Kennel does not.
    server = gateway.create_server(
        project_id=project_id,
        name="by-hand",
        image_id=image_for(gateway, "x86_64").id,
        flavor_id=flavor(gateway).id,
    )
    wait_active(gateway, server.id)
    Membership.objects.filter(user=lead).update(level=Membership.Level.LEAD)
    request = services.quota_request_submit(
        actor=lead, team=fresh_team, values={"floating_ips": 5, "cores": 0}, reason="shrink"
    )
    assert request.auto_approved  # lowering a limit needs nobody's approval
    services.quota_request_apply(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == Status.FAILED
    assert "greater than or equal to already used" in request.error
    assert request.results["network"]["status"] == "applied"
    assert request.results["compute"]["status"] == "failed"
    assert gateway.get_quotas(project_id, QuotaService.NETWORK)["floatingip"] == 5
    network_applied_at = request.results["network"]["at"]

    gateway.delete_server(server.id)
    wait_gone(gateway, server.id)
    services.quota_request_retry(actor=admin, request=request)
    services.quota_request_apply(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == Status.APPLIED, request.error
    assert request.results["network"]["at"] == network_applied_at  # skipped on the retry
    assert gateway.get_quotas(project_id, QuotaService.COMPUTE)["cores"] == 0
