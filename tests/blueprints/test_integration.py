"""Team services end to end: the CI agent blueprint deployed, scaled, upgraded and rolled back by a real
Celery worker on the real local OpenStack (at most 5 servers at a time; everything deleted after)."""

from __future__ import annotations

import contextlib
import time

import pytest
import yaml
from celery import current_app

from blueprints import services
from blueprints.documents import document_dump
from blueprints.models import Service, ServiceVm
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound
from provisioning import cloudinit
from provisioning.models import VmRequest
from tests.faults.processes import QUICK_RECOVERY, celery_beat
from tests.fixtures.local_cloud import wait_gone
from tests.live import celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = Service.Status
VmStatus = VmRequest.Status
X86_HOSTS = {"x2", "x3", "x4"}


@pytest.fixture(autouse=True)
def _no_eager_tasks():
    assert not current_app.conf.task_always_eager


def settled(service: Service, timeout: float = 240) -> Service:
    eventually(
        lambda: Service.objects.values_list("status", flat=True).get(pk=service.pk),
        lambda s: s not in Service.BUSY,
        timeout=timeout,
        what=f"service {service.name} settling",
    )
    service.refresh_from_db()
    return service


def live(service: Service) -> dict[str, list[ServiceVm]]:
    result: dict[str, list[ServiceVm]] = {}
    for member in (
        ServiceVm.objects.filter(service=service)
        .exclude(vm__status=VmStatus.DELETED)
        .select_related("vm", "version")
    ):
        result.setdefault(member.architecture, []).append(member)
    return result


def next_version(version, change):
    data = yaml.safe_load(document_dump(name=version.blueprint.name, description="", spec=version.spec))
    change(data)
    return services.blueprint_import(actor=None, team=None, text=yaml.safe_dump(data), source="test")


def clean_up(team) -> None:
    """Every server a service of this test made, gone (by id and by Kennel's metadata)."""
    gateway = cloud()
    for vm in VmRequest.objects.filter(service_member__isnull=False):
        ids = {vm.server_id} if vm.server_id else set()
        ids |= {
            s.id
            for s in gateway.find_servers_by_metadata(
                project_id=team.openstack_project_id, key="kennel-request", value=str(vm.pk)
            )
            if s.name == vm.name
        }
        for server_id in ids:
            with contextlib.suppress(CloudNotFound):
                gateway.delete_server(server_id)
            wait_gone(gateway, server_id, timeout=120)


def test_the_ci_agent_deployed_scaled_upgraded_one_at_a_time_and_rolled_back(lead, linked_team):
    v1 = {v.blueprint.name: v for v in services.blueprint_examples_load(source="test")}["ci-agent"]
    try:
        # Beat's resume tasks too, quick as in the fault tests: a task lost to a hiccup of the shared
        # database or cloud is picked up again in seconds, as production does in minutes.
        with celery_worker(env=QUICK_RECOVERY), celery_beat(env=QUICK_RECOVERY):
            began = time.monotonic()
            service = services.service_deploy(
                actor=lead,
                team=linked_team,
                version=v1,
                name="it-ci",
                parameters={"admins": ["alice"]},
                counts={"x86_64": 1, "ppc64le": 1},
                source="test",
            )
            service = settled(service)
            print(f"\n[services] 1+1 deployed in {time.monotonic() - began:.1f} s")
            assert service.status == Status.READY, service.status_message
            gateway = cloud()
            for arch, members in live(service).items():
                for member in members:
                    vm = member.vm
                    host = gateway.get_server(vm.server_id).host
                    assert host in (X86_HOSTS if arch == "x86_64" else {"p1"}), (arch, host)
                    assert cloudinit.validate_user_data(vm.user_data) == []
                    assert vm.expires_at is None

            began = time.monotonic()
            services.service_scale(
                actor=lead, service=service, counts={"x86_64": 2, "ppc64le": 2}, source="test"
            )
            service = settled(service)
            print(f"[services] scaled to 2+2 in {time.monotonic() - began:.1f} s")
            assert service.status == Status.READY, service.status_message
            assert {a: len(m) for a, m in live(service).items()} == {"x86_64": 2, "ppc64le": 2}

            v2 = next_version(v1, lambda d: d["packages"].append("make"))
            began = time.monotonic()
            services.service_upgrade(actor=lead, service=service, version=v2, source="test")
            most = {"x86_64": 0, "ppc64le": 0}

            def watch():
                for arch, members in live(service).items():
                    most[arch] = max(most[arch], len(members))
                return Service.objects.values_list("status", flat=True).get(pk=service.pk)

            eventually(watch, lambda s: s not in Service.BUSY, timeout=900, what="the upgrade")
            service.refresh_from_db()
            print(f"[services] 2+2 upgraded one VM at a time in {time.monotonic() - began:.1f} s")
            assert service.status == Status.READY, service.status_message
            assert most == {"x86_64": 3, "ppc64le": 3}  # never more than one extra VM per architecture
            assert {a: sorted(m.version.number for m in ms) for a, ms in live(service).items()} == {
                "x86_64": [2, 2],
                "ppc64le": [2, 2],
            }
            # Each old VM was deleted only once its replacement was active: the replacement's
            # "Built" event comes before the old VM's deletion was asked for.
            retired = VmRequest.objects.filter(service_member__service=service, service_member__version=v1)
            replacements = VmRequest.objects.filter(
                service_member__service=service, service_member__version=v2
            )
            built = sorted(vm.events.get(status=VmStatus.ACTIVE).at for vm in replacements)
            asked = sorted(
                vm.events.filter(status=VmStatus.DELETING).order_by("at").first().at for vm in retired
            )
            assert all(b < a for b, a in zip(built, asked[: len(built)], strict=False)), (built, asked)

            began = time.monotonic()
            services.service_rollback(actor=lead, service=service, source="test")
            service = settled(service, timeout=900)
            print(f"[services] rolled back in {time.monotonic() - began:.1f} s")
            assert service.status == Status.READY and service.version == v1, service.status_message
            assert {a: sorted(m.version.number for m in ms) for a, ms in live(service).items()} == {
                "x86_64": [1, 1],
                "ppc64le": [1, 1],
            }

            services.service_delete(actor=lead, service=service, source="test")
            service = settled(service)
            assert service.status == Status.DELETED and live(service) == {}
    finally:
        clean_up(linked_team)
