"""Floating IPs owned properly (FakeCloud): a deleted VM's address is released with it; the team page
and the API list the project's addresses from the mirror with what each is attached to; a lead
releases an unused one through a worker; outages are waited out."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from portal.cloud.gateway import CloudUnavailable, QuotaService
from portal.models import AuditEvent
from provisioning import floating_ips, services
from provisioning.models import CloudFloatingIp, CloudSync, VmRequest
from quotas.selectors import team_quota_table
from tests.matrix import check_matrix
from tests.provisioning.test_services import build, submit

pytestmark = pytest.mark.django_db


def attach(vm):
    services.vm_floating_ip_request(actor=vm.owner, vm=vm, attach=True, source="test")
    services.vm_floating_ip_advance(request_id=vm.pk, attach=True)
    vm.refresh_from_db()
    assert vm.floating_ip
    return vm


def delete(vm):
    services.vm_delete_request(actor=vm.owner, vm=vm, source="test")
    for _ in range(10):
        if services.vm_delete_advance(request_id=vm.pk):
            break
    vm.refresh_from_db()
    return vm


def neutron_count(fake, team) -> int:
    return fake.get_quota_usage(team.openstack_project_id, QuotaService.NETWORK)["floatingip"]


def leak(fake, team):
    """An address allocated to the team's project and attached to nothing (what the old delete left)."""
    public = fake.list_networks(external=True)[0]
    return fake.create_floating_ip(project_id=team.openstack_project_id, external_network_id=public.id)


def test_deleting_a_vm_releases_the_floating_ip_kennel_gave_it_and_says_so(fake_cloud, member, team):
    before = neutron_count(fake_cloud, team)
    vm = attach(build(submit(member, team)))
    address = vm.floating_ip
    assert neutron_count(fake_cloud, team) == before + 1
    vm = delete(vm)
    assert vm.status == VmRequest.Status.DELETED
    assert fake_cloud.list_floating_ips(project_id=team.openstack_project_id) == []
    assert neutron_count(fake_cloud, team) == before
    assert team_quota_table(team).line("floating_ips").used == before, "the quota page reads it again at once"
    assert (vm.floating_ip, vm.floating_ip_id) == (None, "")
    assert f"Floating IP {address} released." in [e.message for e in vm.events.all()]
    assert AuditEvent.objects.filter(action="vm.floating_ip_released", detail__address=address).exists()


def test_an_outage_while_releasing_with_the_vm_is_retried_and_releases_once(fake_cloud, member, team):
    vm = attach(build(submit(member, team)))
    services.vm_delete_request(actor=member, vm=vm, source="test")
    fake_cloud.fail_next("delete_floating_ip", after=True)  # Neutron released it; the answer was lost
    with pytest.raises(CloudUnavailable):
        services.vm_delete_advance(request_id=vm.pk)
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.DELETING and vm.floating_ip_id  # not forgotten
    vm = delete(vm)
    assert vm.status == VmRequest.Status.DELETED and vm.floating_ip_id == ""
    assert fake_cloud.list_floating_ips(project_id=team.openstack_project_id) == []
    assert sum("released" in e.message for e in vm.events.all()) == 1


def test_the_mirror_lists_every_projects_addresses_with_what_holds_them(fake_cloud, member, team, other_team):
    vm = attach(build(submit(member, team)))
    spare = leak(fake_cloud, team)
    theirs = leak(fake_cloud, other_team)
    assert floating_ips.floating_ips_refresh() >= 3
    rows = {f.address: f for f in CloudFloatingIp.objects.all()}
    assert (rows[vm.floating_ip].team, rows[vm.floating_ip].vm, rows[vm.floating_ip].unused) == (
        team,
        vm,
        False,
    )
    assert (rows[spare.address].team, rows[spare.address].vm, rows[spare.address].unused) == (
        team,
        None,
        True,
    )
    assert rows[theirs.address].team == other_team
    assert CloudSync.objects.get(part="floating_ips").succeeded_at is not None
    fake_cloud.delete_floating_ip(theirs.id)
    fake_cloud.available = False
    with pytest.raises(CloudUnavailable):
        floating_ips.floating_ips_refresh()
    assert CloudFloatingIp.objects.filter(address=theirs.address).exists(), "an outage keeps the last mirror"
    assert "refused" in CloudSync.objects.get(part="floating_ips").error
    fake_cloud.available = True
    floating_ips.floating_ips_refresh()
    assert not CloudFloatingIp.objects.filter(address=theirs.address).exists()


def test_a_lead_releases_an_unused_address_through_a_worker(
    fake_cloud, member, lead, outsider, team, django_capture_on_commit_callbacks
):
    vm = attach(build(submit(member, team)))
    spare = leak(fake_cloud, team)
    before = neutron_count(fake_cloud, team)
    floating_ips.floating_ips_refresh()
    row = CloudFloatingIp.objects.get(cloud_id=spare.id)
    used = CloudFloatingIp.objects.get(cloud_id=vm.floating_ip_id)
    with pytest.raises(PermissionDenied):
        floating_ips.floating_ip_release_request(actor=member, fip=row)  # a member, not a lead
    with pytest.raises(PermissionDenied):
        floating_ips.floating_ip_release_request(actor=outsider, fip=row)
    with pytest.raises(ValidationError, match="attached to a server"):
        floating_ips.floating_ip_release_request(actor=lead, fip=used)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        floating_ips.floating_ip_release_request(actor=lead, fip=row, source="test")
    assert len(queued) == 1
    with pytest.raises(ValidationError, match="already being released"):
        floating_ips.floating_ip_release_request(actor=lead, fip=row)
    assert floating_ips.floating_ip_release_advance(fip_pk=row.pk) is None
    assert floating_ips.floating_ip_release_advance(fip_pk=row.pk) is None  # a duplicated task: nothing
    assert spare.id not in {f.id for f in fake_cloud.list_floating_ips()}
    assert not CloudFloatingIp.objects.filter(pk=row.pk).exists()
    assert neutron_count(fake_cloud, team) == before - 1
    asked = AuditEvent.objects.get(action="floating_ip.release")
    done = AuditEvent.objects.get(action="floating_ip.released")
    assert (asked.actor, asked.team, done.outcome) == (lead, team, AuditEvent.Outcome.SUCCESS)
    assert fake_cloud.list_floating_ips(project_id=team.openstack_project_id)[0].id == vm.floating_ip_id


def test_an_address_attached_meanwhile_is_kept_and_an_outage_is_waited_out(fake_cloud, member, lead, team):
    vm = build(submit(member, team))
    spare = leak(fake_cloud, team)
    floating_ips.floating_ips_refresh()
    row = CloudFloatingIp.objects.get(cloud_id=spare.id)
    floating_ips.floating_ip_release_request(actor=lead, fip=row)
    fake_cloud.available = False
    with pytest.raises(CloudUnavailable):
        floating_ips.floating_ip_release_advance(fip_pk=row.pk)
    row.refresh_from_db()
    assert row.release == CloudFloatingIp.Release.REQUESTED and "Waiting for the cloud" in row.release_error
    fake_cloud.available = True
    fake_cloud.attach_floating_ip(floating_ip_id=spare.id, server_id=vm.server_id)  # someone was quicker
    assert floating_ips.floating_ip_release_advance(fip_pk=row.pk) is not None
    row.refresh_from_db()
    assert row.release == CloudFloatingIp.Release.FAILED and row.port_id
    assert row.release_error == floating_ips.ATTACHED_MEANWHILE
    assert spare.id in {f.id for f in fake_cloud.list_floating_ips()}


def test_team_page_api_and_matrix(fake_cloud, people, member, lead, team, django_capture_on_commit_callbacks):
    vm = attach(build(submit(member, team)))
    spare = leak(fake_cloud, team)
    floating_ips.floating_ips_refresh()
    row = CloudFloatingIp.objects.get(cloud_id=spare.id)
    client = Client()
    client.force_login(lead)
    page = client.get(f"/teams/{team.slug}/").content.decode()
    assert f'data-address="{vm.floating_ip}"' in page and f'href="/vms/{vm.pk}/"' in page
    assert f'data-testid="release-{spare.address}"' in page and "unused" in page
    assert f'data-testid="release-{vm.floating_ip}"' not in page, "an attached address has no Release button"
    client.force_login(member)
    assert f'data-testid="release-{spare.address}"' not in client.get(f"/teams/{team.slug}/").content.decode()
    listed = client.get(f"/api/v1/floating-ips/?team={team.slug}").json()["results"]
    assert {(f["address"], f["unused"], f["attached_to"]) for f in listed} == {
        (vm.floating_ip, False, vm.name),
        (spare.address, True, None),
    }
    # Who may release: the team's leads and admins; members 403; other teams and managers cannot.
    with django_capture_on_commit_callbacks(execute=False):
        check_matrix(
            people,
            f"/api/v1/floating-ips/{row.pk}/release/",
            {"anonymous": 401, "member": 403, "outsider": 404, "manager": 403, "admin": 202},
            method="post",
            api=True,
        )
    CloudFloatingIp.objects.filter(pk=row.pk).update(release="")
    with django_capture_on_commit_callbacks(execute=False):
        check_matrix(
            people,
            f"/vms/floating-ips/{row.pk}/release/",
            {"anonymous": 302, "member": 403, "outsider": 404, "manager": 403, "admin": 302},
            method="post",
        )
    check_matrix(
        people,
        f"/api/v1/floating-ips/{row.pk}/",
        {"anonymous": 401, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
    )
    client.force_login(lead)
    CloudFloatingIp.objects.filter(pk=row.pk).update(release="")
    with django_capture_on_commit_callbacks(execute=False):
        answer = client.post(f"/api/v1/floating-ips/{row.pk}/release/", content_type="application/json")
    assert answer.status_code == 202 and answer.json()["release"] == "requested"
    used = CloudFloatingIp.objects.get(cloud_id=vm.floating_ip_id)
    refused = client.post(f"/api/v1/floating-ips/{used.pk}/release/", content_type="application/json")
    assert refused.status_code == 400 and "attached to a server" in str(refused.json())


@pytest.mark.parametrize("notices", ["refresh", "reconcile"])
def test_a_vm_deleted_outside_kennel_loses_its_floating_ip_too(
    fake_cloud, member, team, notices, django_capture_on_commit_callbacks
):
    from provisioning.tasks import vm_floating_ip_release

    vm = attach(build(submit(member, team)))
    address = vm.floating_ip
    fake_cloud.delete_server(vm.server_id)
    fake_cloud.settle()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        if notices == "refresh":
            services.vm_refresh(request_id=vm.pk)
        else:
            services.vm_reconcile(full=True)
    assert len(queued) == 1
    vm_floating_ip_release.apply(args=(vm.pk,))
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.DELETED and vm.floating_ip_id == ""
    assert fake_cloud.list_floating_ips(project_id=team.openstack_project_id) == []
    assert f"Floating IP {address} released." in [e.message for e in vm.events.all()]
