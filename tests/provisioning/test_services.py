"""VM requests through the service layer, against the FakeCloud."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from portal.cloud.gateway import CloudUnavailable, QuotaService, ServerAction
from portal.models import AuditEvent
from provisioning import services
from provisioning.models import CloudFlavor, CloudHost, CloudSync, VmRequest
from provisioning.selectors import architecture_list, host_fit_count
from tests.fixtures.fake_cloud import flavor, image

pytestmark = pytest.mark.django_db
Status = VmRequest.Status


def submit(user, team, *, name="vm1", arch="x86_64", size="m1.tiny", **kwargs):
    return services.vm_request_submit(
        actor=user, team=team, name=name, image=image(arch), flavor=flavor(size), source="test", **kwargs
    )


def build(vm, rounds=10):
    for _ in range(rounds):
        if services.vm_request_build_advance(request_id=vm.pk):
            break
    vm.refresh_from_db()
    return vm


def test_the_mirror_holds_images_flavors_and_hosts_with_freshness(fake_cloud):
    assert {a.architecture for a in architecture_list()} == {"x86_64", "ppc64le"}
    assert CloudHost.objects.get(name="p1").architecture == "ppc64le"
    assert CloudSync.objects.get(part="catalog").succeeded_at is not None


def test_the_mirror_keeps_its_last_good_state_and_records_the_outage(fake_cloud):
    fake_cloud.available = False
    with pytest.raises(CloudUnavailable, match="refused"):
        services.catalog_refresh()
    sync = CloudSync.objects.get(part="catalog")
    assert "refused" in sync.error and CloudHost.objects.count() == 4


def test_host_fit_uses_placements_rule(fake_cloud):
    # x86 hosts: 32 pCPU * 16 = 512 vCPU, (262144 - 4096) MB * 1.2, 1800 GB: disk binds for m1.small.
    assert host_fit_count(architecture="x86_64", flavor=flavor("m1.small")) == 3 * (1800 // 20)
    assert host_fit_count(architecture="ppc64le", flavor=flavor("m1.tiny")) == min(
        160 * 16, int(520192 * 1.2) // 512, 1800
    )


@pytest.mark.parametrize(("arch", "hosts"), [("x86_64", {"x2", "x3", "x4"}), ("ppc64le", {"p1"})])
def test_a_request_builds_on_a_host_of_its_architecture(fake_cloud, member, team, arch, hosts):
    vm = submit(member, team, arch=arch)
    assert vm.status == Status.QUEUED and vm.expires_at > timezone.now() + timedelta(days=29)
    vm = build(vm)
    assert vm.status == Status.ACTIVE and vm.host in hosts
    assert [e.status for e in vm.events.all()] == ["queued", "building", "active"]
    assert AuditEvent.objects.filter(action="vm.request", target_id=str(vm.pk), actor=member).exists()


def test_running_the_build_twice_makes_one_server(fake_cloud, member, team):
    vm = submit(member, team)
    build(vm)
    build(vm)
    assert len(fake_cloud.list_servers(project_id=team.openstack_project_id)) == 1


def test_a_lost_answer_after_create_still_yields_one_server(fake_cloud, member, team):
    vm = submit(member, team)
    fake_cloud.fail_next("create_server", after=True)  # Nova creates it, the answer never arrives
    with pytest.raises(CloudUnavailable, match="timed out"):
        services.vm_request_build_advance(request_id=vm.pk)
    vm.refresh_from_db()
    assert vm.server_id == ""
    vm = build(vm)
    assert vm.status == Status.ACTIVE
    servers = fake_cloud.list_servers(project_id=team.openstack_project_id)
    assert [s.id for s in servers] == [vm.server_id]


def test_the_first_build_spares_the_cloud_the_lookup_and_the_network_listing(fake_cloud, member, team):
    vm = submit(member, team)
    fake_cloud.calls.clear()
    build(vm)
    assert vm.status == Status.ACTIVE
    assert fake_cloud.calls["create_server"] == 1
    # Nothing can exist before the first create; the team's network comes from the mirror.
    assert fake_cloud.calls["find_servers_by_metadata"] == 0 and fake_cloud.calls["list_networks"] == 0
    assert next(iter(vm.addresses)) == "alpha-net"


def test_an_image_removed_before_the_build_fails_the_request_without_asking_nova(fake_cloud, member, team):
    vm = submit(member, team)
    vm.image.delete()  # the mirror lost it (removed from Glance): the request keeps no image
    fake_cloud.calls.clear()
    build(vm)
    assert vm.status == Status.FAILED and "removed from the cloud; request the VM again" in vm.status_message
    assert fake_cloud.calls["create_server"] == 0


def test_a_build_retried_after_a_create_was_tried_looks_before_creating(fake_cloud, member, team):
    vm = submit(member, team)
    fake_cloud.fail_next("create_server", after=True)  # created, but the answer was lost
    with pytest.raises(CloudUnavailable):
        services.vm_request_build_advance(request_id=vm.pk)
    fake_cloud.calls.clear()
    build(vm)
    assert fake_cloud.calls["find_servers_by_metadata"] == 1 and fake_cloud.calls["create_server"] == 0
    assert (
        vm.status == Status.ACTIVE and len(fake_cloud.list_servers(project_id=team.openstack_project_id)) == 1
    )


def test_an_outage_delays_the_request_and_loses_nothing(fake_cloud, member, team):
    vm = submit(member, team)
    fake_cloud.available = False
    with pytest.raises(CloudUnavailable, match="refused"):
        services.vm_request_build_advance(request_id=vm.pk)
    services.vm_request_wait_for_cloud(request_id=vm.pk, error="down")
    vm.refresh_from_db()
    assert vm.status == Status.QUEUED and "Waiting for the cloud" in vm.status_message
    fake_cloud.available = True
    assert build(vm).status == Status.ACTIVE


def test_the_teams_quota_failure_says_what_to_do(fake_cloud, member, team):
    fake_cloud.set_quotas(team.openstack_project_id, QuotaService.COMPUTE, {"instances": 0})
    vm = build(submit(member, team))
    assert vm.status == Status.FAILED
    assert "quota does not allow this VM" in vm.status_message and "request more quota" in vm.status_message


def test_a_bad_name_is_refused_with_a_reason_and_nothing_is_saved(fake_cloud, member, team):
    with pytest.raises(ValidationError) as error:
        submit(member, team, name="Not A Hostname!")
    assert "lowercase letters" in error.value.message_dict["name"][0]
    assert not VmRequest.objects.exists()


def test_a_flavor_too_small_for_the_image_is_refused(fake_cloud, member, team):
    with pytest.raises(ValidationError) as error:
        services.vm_request_submit(
            actor=member,
            team=team,
            name="c9",
            image=image("x86_64", "centos"),
            flavor=flavor("m1.tiny"),
            source="test",
        )
    assert "too small for centos-stream-9-x86_64" in error.value.message_dict["flavor"][0]


def test_no_room_on_the_architecture_is_refused_before_nova_says_no_valid_host(fake_cloud, member, team):
    huge = CloudFlavor.objects.create(
        cloud_id="huge", name="huge", vcpus=4096, ram_mb=1024, disk_gb=1, seen_at=timezone.now()
    )
    with pytest.raises(ValidationError) as error:
        services.vm_request_submit(
            actor=member, team=team, name="big", image=image("ppc64le"), flavor=huge, source="test"
        )
    assert "No ppc64le host has room for a huge VM" in error.value.message_dict["flavor"][0]


def test_a_duplicate_name_in_the_team_is_refused(fake_cloud, member, team):
    submit(member, team, name="web")
    with pytest.raises(ValidationError, match="already has a VM named web"):
        submit(member, team, name="web")


def test_a_developer_cannot_request_for_another_team(fake_cloud, outsider, team):
    with pytest.raises(PermissionDenied):
        submit(outsider, team)


def test_actions_and_delete(fake_cloud, member, team):
    vm = build(submit(member, team))
    services.vm_action_request(actor=member, vm=vm, action=ServerAction.STOP, source="test")
    services.vm_action_advance(request_id=vm.pk, action=ServerAction.STOP)
    fake_cloud.settle()
    vm = services.vm_refresh(request_id=vm.pk)
    assert vm.server_status == "SHUTOFF"
    services.vm_delete_request(actor=member, vm=vm, source="test")
    vm.refresh_from_db()
    assert vm.status == Status.DELETING
    for _ in range(5):
        if services.vm_delete_advance(request_id=vm.pk):
            break
    vm.refresh_from_db()
    assert vm.status == Status.DELETED
    assert fake_cloud.list_servers(project_id=team.openstack_project_id) == []


def test_only_the_owner_a_lead_or_an_admin_act_on_a_vm(fake_cloud, member, lead, admin, team):
    from tests.factories import MembershipFactory, UserFactory

    colleague = UserFactory(username="colleague")
    MembershipFactory(user=colleague, team=team)
    vm = build(submit(member, team))
    with pytest.raises(PermissionDenied):
        services.vm_action_request(actor=colleague, vm=vm, action=ServerAction.STOP, source="test")
    services.vm_action_request(actor=lead, vm=vm, action=ServerAction.STOP, source="test")
    services.vm_action_request(actor=admin, vm=vm, action=ServerAction.REBOOT_SOFT, source="test")


def test_a_queued_request_can_be_cancelled_before_it_is_built(fake_cloud, member, team):
    vm = submit(member, team)
    services.vm_delete_request(actor=member, vm=vm, source="test")
    assert services.vm_request_build_advance(request_id=vm.pk) is True
    vm.refresh_from_db()
    assert vm.status == Status.DELETED and fake_cloud.list_servers() == []


def test_stale_waiting_requests_are_resumed(fake_cloud, member, team, monkeypatch):
    vm = submit(member, team)
    VmRequest.objects.filter(pk=vm.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    sent = []
    monkeypatch.setattr("provisioning.tasks.vm_request_build.delay", sent.append)
    assert services.vm_requests_resume() == [vm.pk]
    assert sent == [vm.pk]


def test_a_profiles_user_data_goes_with_the_request(fake_cloud, member, team):
    from kennel.demo import _demo_profile
    from provisioning.models import Profile

    _demo_profile()
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"
    vm = submit(
        member,
        team,
        name="withprofile",
        profile=Profile.objects.get(name="dc1-standard"),
        ssh_keys=[key],
        packages=["htop"],
    )
    assert vm.user_data.startswith("#cloud-config\n")
    assert "proxy.dc1.example" in vm.user_data and key in vm.user_data and "htop" in vm.user_data
    vm = build(vm)
    assert vm.status == Status.ACTIVE


def test_a_bad_ssh_key_in_the_request_is_refused(fake_cloud, member, team):
    with pytest.raises(ValidationError) as error:
        submit(member, team, ssh_keys=["ssh-rsa not-base64!"])
    assert "profile" in error.value.message_dict
    assert not VmRequest.objects.exists()


def test_reconcile_marks_vanished_vms_and_lists_unmanaged_servers(fake_cloud, member, team):
    from provisioning.models import UnmanagedServer

    vm = build(submit(member, team))
    kept = build(submit(member, team, name="kept"))
    fake_cloud.delete_server(vm.server_id)  # someone deleted it with the openstack CLI
    fake_cloud.settle()
    outsider = fake_cloud.create_server(
        project_id=team.openstack_project_id,
        name="by-hand",
        image_id=image().cloud_id,
        flavor_id=flavor().cloud_id,
    )
    fake_cloud.settle()
    fake_cloud.server_action(kept.server_id, ServerAction.STOP)
    fake_cloud.settle()

    counts = services.vm_reconcile()

    vm.refresh_from_db()
    kept.refresh_from_db()
    assert vm.status == Status.DELETED and "outside Kennel" in vm.status_message
    assert kept.server_status == "SHUTOFF"
    unmanaged = UnmanagedServer.objects.get()
    assert (unmanaged.server_id, unmanaged.team) == (outsider.id, team)
    assert (counts["updated"], counts["vanished"], counts["unmanaged"]) == (1, 1, 1)


def test_a_lease_extends_within_the_limit(fake_cloud, member, team, settings):
    settings.KENNEL_VM_LEASE_MAX_DAYS = 40
    vm = build(submit(member, team))
    before = vm.expires_at
    vm = services.vm_lease_extend(actor=member, vm=vm, days=7, source="test")
    assert (vm.expires_at - before).days == 7
    with pytest.raises(ValidationError, match="at most 40 days"):
        services.vm_lease_extend(actor=member, vm=vm, days=30, source="test")
    with pytest.raises(ValidationError):
        services.vm_lease_extend(actor=member, vm=vm, days=0, source="test")


def test_leases_remind_once_then_stop_the_vm(fake_cloud, member, team, mailoutbox, monkeypatch):
    stopped = []
    monkeypatch.setattr("provisioning.tasks.vm_action.delay", lambda pk, action: stopped.append((pk, action)))
    # The reminder goes through the mail queue; here its task runs at once.
    monkeypatch.setattr(
        "provisioning.tasks.vm_lease_reminder_send.delay",
        lambda pk: services.vm_lease_reminder_email(vm_id=pk),
    )
    vm = build(submit(member, team))
    VmRequest.objects.filter(pk=vm.pk).update(expires_at=timezone.now() + timedelta(days=1))
    assert services.vm_leases_enforce() == {"reminded": 1, "expired": 0}
    assert services.vm_leases_enforce() == {"reminded": 0, "expired": 0}
    assert mailoutbox[0].to == [member.email] and "vm1" in mailoutbox[0].subject
    VmRequest.objects.filter(pk=vm.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert services.vm_leases_enforce()["expired"] == 1
    assert stopped == [(vm.pk, "stop")]


def test_a_floating_ip_is_attached_once_and_released(fake_cloud, member, team):
    vm = build(submit(member, team))
    services.vm_floating_ip_request(actor=member, vm=vm, attach=True, source="test")
    fake_cloud.fail_next("attach_floating_ip")  # allocated, then the attach times out: the retry reuses it
    with pytest.raises(CloudUnavailable, match="timed out"):
        services.vm_floating_ip_advance(request_id=vm.pk, attach=True)
    services.vm_floating_ip_advance(request_id=vm.pk, attach=True)
    vm.refresh_from_db()
    ips = fake_cloud.list_floating_ips(project_id=team.openstack_project_id)
    assert [(ip.id, ip.server_id) for ip in ips] == [(vm.floating_ip_id, vm.server_id)]
    assert vm.floating_ip == ips[0].address
    with pytest.raises(ValidationError, match="already has a floating IP"):
        services.vm_floating_ip_request(actor=member, vm=vm, attach=True, source="test")
    services.vm_floating_ip_advance(request_id=vm.pk, attach=False)
    vm.refresh_from_db()
    assert (vm.floating_ip, vm.floating_ip_id) == (None, "")
    assert fake_cloud.list_floating_ips(project_id=team.openstack_project_id) == []


def test_a_console_url_arrives_on_the_row(fake_cloud, member, team):
    vm = build(submit(member, team))
    services.vm_console_request(actor=member, vm=vm, source="test")
    services.vm_console_advance(request_id=vm.pk)
    vm.refresh_from_db()
    assert vm.console_url.startswith("http://127.0.0.1:6080/") and vm.console_url_at is not None


def test_flavor_room_reads_the_hosts_and_the_quota_once_whatever_the_number_of_flavors(fake_cloud, team):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from provisioning.selectors import flavor_room

    flavors = list(CloudFlavor.objects.order_by("vcpus"))
    counts = []
    for some in (flavors[:1], flavors):
        with CaptureQueriesContext(connection) as captured:
            rooms = flavor_room(flavors=some, architecture="x86_64", team=team)
        counts.append(len(captured))
    assert len(flavors) > 1 and len(rooms) == len(flavors) and counts[0] == counts[1]
    assert [r.host_fits for r in rooms] == [host_fit_count(architecture="x86_64", flavor=f) for f in flavors]
