"""Team services on the FakeCloud: deploying a blueprint version through the VM request path (quota
first), scaling, upgrading one VM at a time, rolling back, deleting, and who may do what."""

from __future__ import annotations

import pytest
import yaml
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from blueprints import services
from blueprints.documents import document_dump
from blueprints.models import Service, ServiceVm
from portal.models import AuditEvent
from provisioning.models import VmRequest
from quotas.models import TeamQuota
from tests.blueprints.conftest import drive

pytestmark = pytest.mark.django_db
Status = Service.Status
VmStatus = VmRequest.Status


def deploy(lead, team, version, counts, name="ci", **kwargs):
    return services.service_deploy(
        actor=lead,
        team=team,
        version=version,
        name=name,
        parameters=kwargs.pop("parameters", {}),
        counts=counts,
        source="test",
        **kwargs,
    )


def live(service) -> dict[str, list[tuple[str, int]]]:
    """Per architecture, the live VMs as (name, version number)."""
    result: dict[str, list[tuple[str, int]]] = {}
    for member in (
        ServiceVm.objects.filter(service=service)
        .exclude(vm__status=VmStatus.DELETED)
        .select_related("vm", "version")
    ):
        result.setdefault(member.architecture, []).append((member.vm.name, member.version.number))
    return result


def new_version(lead, version, change):
    data = yaml.safe_load(document_dump(name=version.blueprint.name, description="", spec=version.spec))
    change(data)
    return services.blueprint_import(
        actor=None, team=version.blueprint.team, text=yaml.safe_dump(data), source="test"
    )


def test_a_deploy_builds_every_vm_through_the_request_path_without_a_lease(
    fake_cloud, lead, team, member, examples
):
    service = deploy(
        lead,
        team,
        examples["ci-agent"],
        {"x86_64": 1, "ppc64le": 1},
        maintainers=[member],
        parameters={"admins": "alice bob"},
    )
    service = drive(service)
    assert service.status == Status.READY, service.status_message
    vms = VmRequest.objects.filter(service_member__service=service)
    assert {(vm.architecture, vm.status, vm.expires_at) for vm in vms} == {
        ("x86_64", VmStatus.ACTIVE, None),
        ("ppc64le", VmStatus.ACTIVE, None),
    }
    assert sorted(vm.name for vm in vms) == ["ci-ppc-2", "ci-x86-1"]
    for vm in vms:  # its own user-data: host name and parameters substituted, schema-checked
        config = yaml.safe_load(vm.user_data)
        assert config["hostname"] == vm.name
        assert "CI_ADMINS=alice,bob" in config["write_files"][0]["content"]
    assert list(service.maintainers.all()) == [member]
    actions = set(
        AuditEvent.objects.filter(target_type="blueprints.service").values_list("action", flat=True)
    )
    assert {"service.deploy", "service.ready"} <= actions


def test_a_service_that_does_not_fit_the_quota_is_refused_with_nothing_built(
    fake_cloud, lead, team, examples
):
    TeamQuota.objects.update_or_create(team=team, key="instances", defaults={"limit": 1})
    with pytest.raises(ValidationError) as caught:
        deploy(lead, team, examples["ci-agent"], {"x86_64": 1, "ppc64le": 1})
    assert "quota" in str(caught.value)
    assert not Service.objects.exists() and not VmRequest.objects.exists()


def test_bad_parameters_counts_and_names_are_refused(fake_cloud, lead, team, examples):
    version = examples["ci-agent"]
    for counts, params, name in (
        ({"x86_64": 0}, {}, "ci"),
        ({"aarch64": 1}, {}, "ci"),
        ({"x86_64": 1}, {"executors": 99}, "ci"),
        ({"x86_64": 1}, {"server_url": "ftp://x\n"}, "ci"),
        ({"x86_64": 1}, {}, "Bad Name"),
    ):
        with pytest.raises(ValidationError):
            deploy(lead, team, version, counts, name=name, parameters=params)
    assert not VmRequest.objects.exists()


def test_only_leads_and_admins_deploy_and_maintainers_change(
    fake_cloud, lead, member, outsider, team, examples
):
    version = examples["http-file-server"]
    with pytest.raises(PermissionDenied):
        deploy(member, team, version, {"x86_64": 1})
    with pytest.raises(PermissionDenied):
        deploy(outsider, team, version, {"x86_64": 1})
    service = drive(deploy(lead, team, version, {"x86_64": 1}, name="files"))
    with pytest.raises(PermissionDenied):
        services.service_scale(actor=member, service=service, counts={"x86_64": 2}, source="test")
    service.maintainers.add(member)
    services.service_scale(actor=member, service=service, counts={"x86_64": 2}, source="test")
    with pytest.raises(PermissionDenied):
        services.service_delete(actor=member, service=service, source="test")


def test_scale_up_then_down(fake_cloud, lead, team, examples):
    service = drive(deploy(lead, team, examples["ci-agent"], {"x86_64": 1, "ppc64le": 1}))
    services.service_scale(actor=lead, service=service, counts={"x86_64": 2, "ppc64le": 2}, source="test")
    service = drive(service)
    assert service.status == Status.READY and {a: len(v) for a, v in live(service).items()} == {
        "x86_64": 2,
        "ppc64le": 2,
    }
    services.service_scale(actor=lead, service=service, counts={"x86_64": 1}, source="test")
    service = drive(service)
    assert service.status == Status.READY and {a: len(v) for a, v in live(service).items()} == {"x86_64": 1}


def test_an_upgrade_replaces_vms_one_at_a_time_and_a_rollback_goes_back(fake_cloud, lead, team, examples):
    v1 = examples["ci-agent"]
    service = drive(deploy(lead, team, v1, {"x86_64": 2, "ppc64le": 1}))
    v2 = new_version(lead, v1, lambda d: d["packages"].append("make"))
    assert v2.number == 2
    services.service_upgrade(actor=lead, service=service, version=v2, source="test")
    with pytest.raises(ValidationError):  # one change at a time
        services.service_scale(actor=lead, service=service, counts={"x86_64": 1}, source="test")
    service = drive(service)
    assert service.status == Status.READY, service.status_message
    assert {a: sorted(n for _name, n in v) for a, v in live(service).items()} == {
        "x86_64": [2, 2],
        "ppc64le": [2],
    }
    # One at a time: every old VM is deleted only after a new one became active, and never two new
    # ones of an architecture before an old one went.
    signs = [sign for sign, _name in service.trace]
    assert signs == ["+", "-"] * 3, service.trace
    for vm in VmRequest.objects.filter(service_member__service=service, service_member__version=v2):
        assert "make" in yaml.safe_load(vm.user_data)["packages"]

    services.service_rollback(actor=lead, service=service, source="test")
    service = drive(service)
    assert service.status == Status.READY and service.version == v1 and service.previous_version == v2
    assert {a: sorted(n for _name, n in v) for a, v in live(service).items()} == {
        "x86_64": [1, 1],
        "ppc64le": [1],
    }
    actions = list(
        AuditEvent.objects.filter(target_type="blueprints.service").values_list("action", flat=True)
    )
    assert actions.count("service.vm_retire") == 6 and "service.rollback" in actions


def test_a_step_run_twice_does_its_work_once(fake_cloud, lead, team, examples):
    v1 = examples["ci-agent"]
    service = drive(deploy(lead, team, v1, {"x86_64": 1}))
    v2 = new_version(lead, v1, lambda d: d["packages"].append("make"))
    services.service_upgrade(actor=lead, service=service, version=v2, source="test")
    for _ in range(3):  # duplicated tasks: the replacement is submitted once, then they wait for it
        services.service_advance(service_id=service.pk)
    assert ServiceVm.objects.filter(service=service, version=v2).count() == 1


def test_a_failed_vm_fails_the_change_and_retry_finishes_it(fake_cloud, lead, team, examples):
    service = deploy(lead, team, examples["http-file-server"], {"x86_64": 1}, name="files")
    VmRequest.objects.filter(service_member__service=service).update(
        status=VmStatus.FAILED, status_message="no host"
    )
    services.service_advance(service_id=service.pk)
    service.refresh_from_db()
    assert service.status == Status.FAILED and "no host" in service.status_message
    services.service_retry(actor=lead, service=service, source="test")
    service = drive(service)
    assert service.status == Status.READY and len(live(service)["x86_64"]) == 1


def test_delete_removes_every_vm(fake_cloud, lead, team, examples):
    service = drive(deploy(lead, team, examples["ci-agent"], {"x86_64": 1, "ppc64le": 1}))
    services.service_delete(actor=lead, service=service, source="test")
    service = drive(service)
    assert service.status == Status.DELETED and live(service) == {}
    # the name is free again
    drive(deploy(lead, team, examples["ci-agent"], {"x86_64": 1}))


def test_a_service_vm_is_changed_through_its_service_only(fake_cloud, lead, team, examples, client):
    from provisioning import services as vm_services
    from provisioning.models import CloudFlavor, CloudImage
    from provisioning.services import VmStateConflict

    service = drive(deploy(lead, team, examples["http-file-server"], {"x86_64": 1}, name="files"))
    vm = VmRequest.objects.get(service_member__service=service)
    bigger = CloudFlavor.objects.exclude(name=vm.flavor_name).filter(vcpus__gt=vm.vcpus).first()
    image = CloudImage.objects.filter(architecture="x86_64", status="active").first()
    assert bigger is not None and image is not None
    refusals = []
    for ask in (
        lambda: vm_services.vm_delete_request(actor=lead, vm=vm, source="test"),
        lambda: vm_services.vm_resize_request(actor=lead, vm=vm, flavor=bigger, source="test"),
        lambda: vm_services.vm_rebuild_request(actor=lead, vm=vm, image=image, source="test"),
    ):
        with pytest.raises(VmStateConflict) as caught:
            ask()
        refusals.append(" ".join(caught.value.messages))
    for refusal in refusals:
        assert "part of the service files" in refusal and "Scale, upgrade or delete the service" in refusal
    vm.refresh_from_db()
    assert vm.status == VmStatus.ACTIVE
    assert not AuditEvent.objects.filter(action__in=["vm.delete", "vm.resize", "vm.rebuild"]).exists()
    # Its page says so, links the service and offers no delete, resize or rebuild.
    client.force_login(lead)
    page = client.get(reverse("provisioning:vm-detail", args=[vm.pk])).content.decode()
    assert 'data-testid="vm-keeper"' in page
    assert reverse("blueprints:service-detail", args=[service.pk]) in page
    assert 'data-testid="delete"' not in page and 'data-testid="resize"' not in page
    assert 'data-testid="rebuild"' not in page
    # Starting and stopping stay the owner's (and the service keeps counting it).
    vm_services.vm_action_request(actor=lead, vm=vm, action="stop", source="test")
    # Once the service is deleted, nothing keeps its VMs.
    services.service_delete(actor=lead, service=service, source="test")
    assert drive(service).status == Status.DELETED


def test_a_vm_lost_outside_kennel_is_replaced_once(fake_cloud, lead, team, examples):
    from provisioning import services as vm_services

    service = drive(deploy(lead, team, examples["http-file-server"], {"x86_64": 2}, name="files"))
    assert services.services_repair() == []  # nothing lost
    lost = VmRequest.objects.filter(service_member__service=service).order_by("pk").first()
    fake_cloud.delete_server(lost.server_id)  # say, in Horizon
    vm_services.vm_reconcile(full=True)
    lost.refresh_from_db()
    assert lost.status == VmStatus.DELETED
    assert services.services_repair() == [service.pk]
    assert services.services_repair() == []  # already on it
    service = drive(service)
    assert service.status == Status.READY, service.status_message
    names = [name for name, _n in live(service)["x86_64"]]
    assert len(names) == 2 and lost.name not in names
    history = list(service.events.values_list("message", flat=True))
    assert f"{lost.name} was deleted outside Kennel; a replacement is being built." in history
    assert services.services_repair() == []  # whole again
    assert AuditEvent.objects.filter(action="service.repair", target_id=str(service.pk)).count() == 1


def test_a_stale_change_is_resumed(fake_cloud, lead, team, examples, settings):
    from datetime import timedelta

    from django.utils import timezone

    service = deploy(lead, team, examples["http-file-server"], {"x86_64": 1}, name="files")
    assert services.services_resume() == []  # just asked: its task is on its way
    Service.objects.filter(pk=service.pk).update(changed_at=timezone.now() - timedelta(minutes=5))
    assert services.services_resume() == [service.pk]


def test_blueprints_are_kept_by_admins_and_team_leads(
    fake_cloud, lead, member, team, other_team, admin, examples
):
    text = (
        (services.EXAMPLES_DIR / "squid-proxy.yaml").read_text().replace("name: squid-proxy", "name: proxy")
    )
    with pytest.raises(PermissionDenied):
        services.blueprint_import(actor=lead, team=None, text=text, source="test")
    with pytest.raises(PermissionDenied):
        services.blueprint_import(actor=member, team=team, text=text, source="test")
    with pytest.raises(PermissionDenied):
        services.blueprint_import(actor=lead, team=other_team, text=text, source="test")
    version = services.blueprint_import(actor=lead, team=team, text=text, source="test")
    assert version.blueprint.team == team and version.number == 1
    assert services.blueprint_import(actor=lead, team=team, text=text, source="test") == version  # unchanged
    assert services.blueprint_import(actor=admin, team=None, text=text, source="test").blueprint.team is None
    # a team's blueprint is not for another team's services
    with pytest.raises(PermissionDenied):
        services.service_deploy(
            actor=admin,
            team=other_team,
            version=version,
            name="p",
            parameters={},
            counts={"x86_64": 1},
            source="test",
        )
