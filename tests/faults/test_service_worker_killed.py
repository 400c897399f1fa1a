"""A worker SIGKILLed in the middle of a service's upgrade (just after it submitted a replacement VM):
a new worker and beat's ``services-resume`` finish the upgrade, each VM replaced once."""

from __future__ import annotations

import contextlib

import pytest
import yaml

from blueprints import services
from blueprints.documents import document_dump
from blueprints.models import Service, ServiceVm
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound
from provisioning.models import VmRequest
from tests.faults.processes import QUICK_RECOVERY, celery_beat
from tests.faults.test_worker_killed import kill_and_recover
from tests.fixtures.local_cloud import wait_gone
from tests.live import celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
VmStatus = VmRequest.Status


def test_an_upgrade_killed_after_a_replacement_is_finished_once(lead, linked_team, private_redis, tmp_path):
    examples = {v.blueprint.name: v for v in services.blueprint_examples_load(source="test")}
    v1 = examples["ci-agent"]
    data = yaml.safe_load(document_dump(name="ci-agent", description="", spec=v1.spec))
    data["packages"].append("make")
    v2 = services.blueprint_import(actor=None, team=None, text=yaml.safe_dump(data), source="test")
    gateway = cloud()

    def status():
        return Service.objects.values_list("status", "status_message").get(name="kill-ci")

    try:
        with celery_worker(env=QUICK_RECOVERY), celery_beat(env=QUICK_RECOVERY):
            service = services.service_deploy(
                actor=lead,
                team=linked_team,
                version=v1,
                name="kill-ci",
                parameters={},
                counts={"x86_64": 1, "ppc64le": 1},
                source="test",
            )
            eventually(status, lambda s: s[0] not in Service.BUSY, timeout=600, what="deploying")
        assert status()[0] == Service.Status.READY, status()

        kill_and_recover(
            failpoint="service-step-after-create",
            redis=private_redis,
            tmp_path=tmp_path,
            start=lambda: services.service_upgrade(actor=lead, service=service, version=v2, source="test"),
            probe=status,
            done=lambda s: s[0] not in Service.BUSY,
            timeout=900,
        )
        service.refresh_from_db()
        assert service.status == Service.Status.READY, service.status_message
        members = ServiceVm.objects.filter(service=service).select_related("vm", "version")
        alive = [m for m in members if m.vm.status != VmStatus.DELETED]
        assert sorted((m.architecture, m.version.number) for m in alive) == [("ppc64le", 2), ("x86_64", 2)]
        assert len(members) == 4  # two built at first, one replacement each: nothing built twice
        for member in alive:
            servers = gateway.find_servers_by_metadata(
                project_id=linked_team.openstack_project_id, key="kennel-request", value=str(member.vm.pk)
            )
            assert [s.id for s in servers if s.name == member.vm.name] == [member.vm.server_id]
    finally:
        for vm in VmRequest.objects.filter(service_member__isnull=False):
            for server in gateway.find_servers_by_metadata(
                project_id=linked_team.openstack_project_id, key="kennel-request", value=str(vm.pk)
            ):
                if server.name == vm.name:
                    with contextlib.suppress(CloudNotFound):
                        gateway.delete_server(server.id)
                    wait_gone(gateway, server.id, timeout=120)
