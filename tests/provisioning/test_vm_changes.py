"""Snapshots, resize (confirm / revert), rebuild, lock and several VMs at once, through the services,
against the FakeCloud (which passes the same contract suite as the local cloud)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from portal.cloud.gateway import ServerAction
from portal.models import AuditEvent
from provisioning import selectors, services
from provisioning.models import CloudImage, VmRequest, VmSnapshot
from provisioning.server_states import ServerState
from quotas.models import TeamQuota
from tests.fixtures.fake_cloud import flavor, image
from tests.polling import until_done

pytestmark = pytest.mark.django_db
Status = VmRequest.Status


def settle(fake_cloud, vm):
    fake_cloud.settle()
    return services.vm_refresh(request_id=vm.pk)


def act(vm, user, action):
    services.vm_action_request(actor=user, vm=vm, action=action, source="test")
    services.vm_action_advance(request_id=vm.pk, action=action)


def test_a_resize_waits_for_confirm_then_holds_the_new_flavor(fake_cloud, vm, member):
    services.vm_resize_request(actor=member, vm=vm, flavor=flavor("m1.small"), source="test")
    assert services.vm_resize_advance(request_id=vm.pk, flavor_id=flavor("m1.small").pk)
    vm = settle(fake_cloud, vm)
    assert vm.server_state == ServerState.RESIZED and vm.server_status == "VERIFY_RESIZE"
    assert {"confirm_resize", "revert_resize"} <= vm.allowed_actions and "stop" not in vm.allowed_actions
    act(vm, member, ServerAction.CONFIRM_RESIZE)
    vm = settle(fake_cloud, vm)
    assert (vm.server_state, vm.flavor_name, vm.vcpus, vm.ram_mb) == ("running", "m1.small", 1, 2048)
    assert AuditEvent.objects.filter(action="vm.resize", detail__to="m1.small").exists()
    assert "asked to resize it from m1.tiny to m1.small" in " ".join(e.message for e in vm.events.all())


def test_a_reverted_resize_is_back_on_its_old_flavor(fake_cloud, vm, member):
    services.vm_resize_request(actor=member, vm=vm, flavor=flavor("m1.medium"), source="test")
    services.vm_resize_advance(request_id=vm.pk, flavor_id=flavor("m1.medium").pk)
    vm = settle(fake_cloud, vm)
    act(vm, member, ServerAction.REVERT_RESIZE)
    vm = settle(fake_cloud, vm)
    assert (vm.server_state, vm.flavor_name) == ("running", "m1.tiny")


def test_a_resize_the_quota_does_not_allow_is_refused_before_anything_is_sent(fake_cloud, vm, member, team):
    TeamQuota.objects.create(team=team, key="cores", limit=1)  # web1 uses the one core
    TeamQuota.objects.create(team=team, key="instances", limit=1)  # full, yet a resize adds no instance
    services.vm_resize_request(actor=member, vm=vm, flavor=flavor("m1.small"), source="test")  # 1 core too
    with pytest.raises(ValidationError, match=r"cores|vCPU") as refused:
        services.vm_resize_request(actor=member, vm=vm, flavor=flavor("m1.medium"), source="test")
    assert "flavor" in refused.value.message_dict
    assert fake_cloud.calls["resize_server"] == 0


def test_a_resize_to_the_same_flavor_or_of_a_stopped_busy_vm_is_refused(fake_cloud, vm, member):
    with pytest.raises(ValidationError, match=r"already has flavor m1\.tiny"):
        services.vm_resize_request(actor=member, vm=vm, flavor=flavor("m1.tiny"), source="test")
    VmRequest.objects.filter(pk=vm.pk).update(server_state=ServerState.REBOOTING)
    vm.refresh_from_db()
    with pytest.raises(services.VmStateConflict):
        services.vm_resize_request(actor=member, vm=vm, flavor=flavor("m1.small"), source="test")


def test_a_locked_vm_refuses_every_change_but_unlock_with_the_reason(fake_cloud, vm, member):
    act(vm, member, ServerAction.LOCK)
    vm.refresh_from_db()
    assert vm.locked and vm.allowed_actions >= {"unlock", "console"} and "stop" not in vm.allowed_actions
    for attempt in (
        lambda: services.vm_action_request(actor=member, vm=vm, action=ServerAction.STOP, source="test"),
        lambda: services.vm_resize_request(actor=member, vm=vm, flavor=flavor("m1.small"), source="test"),
        lambda: services.vm_rebuild_request(actor=member, vm=vm, image=image(), source="test"),
        lambda: services.vm_snapshot_request(actor=member, vm=vm, name="s1", source="test"),
        lambda: services.vm_delete_request(actor=member, vm=vm, source="test"),
    ):
        with pytest.raises(services.VmStateConflict, match="web1 is locked against changes; unlock it first"):
            attempt()
    act(vm, member, ServerAction.UNLOCK)
    vm.refresh_from_db()
    assert not vm.locked and "stop" in vm.allowed_actions


def test_a_lock_taken_in_the_cloud_shows_on_the_vm(fake_cloud, vm):
    fake_cloud.server_action(vm.server_id, ServerAction.LOCK)
    assert services.vm_refresh(request_id=vm.pk).locked


def test_a_rebuild_takes_an_image_of_the_vms_architecture_only(fake_cloud, vm, member):
    with pytest.raises(ValidationError, match="ppc64le"):
        services.vm_rebuild_request(actor=member, vm=vm, image=image("ppc64le"), source="test")
    centos = image("x86_64", "centos")  # needs 10 GB; web1 is an m1.tiny (1 GB)
    with pytest.raises(ValidationError, match="larger flavor"):
        services.vm_rebuild_request(actor=member, vm=vm, image=centos, source="test")
    services.vm_rebuild_request(actor=member, vm=vm, image=image(), source="test")
    assert services.vm_rebuild_advance(request_id=vm.pk, image_id=image().pk)
    assert fake_cloud.calls["rebuild_server"] == 1
    vm = settle(fake_cloud, vm)
    assert vm.server_state == "running" and fake_cloud.get_server(vm.server_id).image_id == image().cloud_id


def test_a_snapshot_becomes_the_teams_own_image_for_its_architecture_only(
    fake_cloud, vm, member, team, outsider, other_team
):
    snapshot = services.vm_snapshot_request(actor=member, vm=vm, name="web1-gold", source="test")
    until_done(lambda: services.vm_snapshot_advance(snapshot_id=snapshot.pk), what="snapshot")
    snapshot.refresh_from_db()
    assert snapshot.status == VmSnapshot.Status.ACTIVE and snapshot.image is not None
    own = snapshot.image
    assert (own.team, own.architecture, own.status) == (team, "x86_64", "active")
    assert own.properties["kennel_snapshot"] == str(snapshot.pk)
    assert fake_cloud.get_image(own.cloud_id).owner == team.openstack_project_id
    # Offered to its team on its architecture, to nobody else, without an admin offering it.
    assert own in selectors.image_list(user=member, architecture="x86_64", team=team)
    assert own not in selectors.image_list(user=member, architecture="ppc64le", team=team)
    assert own not in selectors.image_list(user=outsider, team=other_team)
    assert own not in selectors.image_list(user=outsider)
    # The catalog's refresh keeps it the team's.
    services.catalog_refresh()
    assert CloudImage.objects.get(pk=own.pk).team == team
    # A new VM from it.
    again = services.vm_request_submit(
        actor=member, team=team, name="web2", image=own, flavor=flavor(), source="test"
    )
    until_done(lambda: services.vm_request_build_advance(request_id=again.pk), what="building web2")
    again.refresh_from_db()
    assert again.status == Status.ACTIVE and again.image_name == "web1-gold"
    with pytest.raises(ValidationError, match="already has an image named web1-gold"):
        services.vm_snapshot_request(actor=member, vm=vm, name="web1-gold", source="test")


def test_another_teams_image_cannot_be_built_from(fake_cloud, vm, member, team, other_team, lead):
    snapshot = services.vm_snapshot_request(actor=member, vm=vm, name="gold", source="test")
    until_done(lambda: services.vm_snapshot_advance(snapshot_id=snapshot.pk), what="snapshot")
    snapshot.refresh_from_db()
    from portal.models import Membership
    from tests.factories import MembershipFactory

    MembershipFactory(user=member, team=other_team, level=Membership.Level.MEMBER)
    with pytest.raises(ValidationError, match="belongs to another team"):
        services.vm_request_submit(
            actor=member, team=other_team, name="x1", image=snapshot.image, flavor=flavor(), source="test"
        )


def test_a_snapshot_retried_after_a_lost_answer_makes_one_image(fake_cloud, vm, member):
    snapshot = services.vm_snapshot_request(actor=member, vm=vm, name="once", source="test")
    fake_cloud.fail_next("create_server_image", after=True)
    with pytest.raises(Exception, match="timed out"):
        services.vm_snapshot_advance(snapshot_id=snapshot.pk)
    until_done(lambda: services.vm_snapshot_advance(snapshot_id=snapshot.pk), what="snapshot")
    assert [i.name for i in fake_cloud.list_images()].count("once") == 1
    assert fake_cloud.calls["create_server_image"] == 1


def test_several_vms_are_requested_at_once_with_numbered_names(fake_cloud, member, team):
    vms = services.vm_requests_submit(
        actor=member, team=team, name="web", count=3, image=image(), flavor=flavor(), source="test"
    )
    assert [v.name for v in vms] == ["web-1", "web-2", "web-3"]
    assert all("hostname: web-" in v.user_data for v in vms)


def test_a_count_the_quota_cannot_hold_is_refused_as_a_whole(fake_cloud, member, team):
    TeamQuota.objects.create(team=team, key="instances", limit=2)
    with pytest.raises(ValidationError, match="Only 2 of the 3 VMs fit"):
        services.vm_requests_submit(
            actor=member, team=team, name="web", count=3, image=image(), flavor=flavor(), source="test"
        )
    assert not VmRequest.objects.filter(team=team).exists()
    assert fake_cloud.calls["create_server"] == 0


def test_a_count_the_hosts_cannot_hold_is_refused_as_a_whole(fake_cloud, member, team):
    # p1 holds 1800 GB of disk: 11 m1.xlarge (160 GB) fit, not 12.
    with pytest.raises(ValidationError, match="room for 11"):
        services.vm_requests_submit(
            actor=member,
            team=team,
            name="big",
            count=12,
            image=image("ppc64le"),
            flavor=flavor("m1.xlarge"),
            source="test",
        )
    assert not VmRequest.objects.exists()


def test_a_name_taken_by_one_of_the_batch_refuses_it(fake_cloud, vm, member, team):
    services.vm_request_submit(
        actor=member, team=team, name="api-2", image=image(), flavor=flavor(), source="test"
    )
    with pytest.raises(ValidationError, match="api-2"):
        services.vm_requests_submit(
            actor=member, team=team, name="api", count=3, image=image(), flavor=flavor(), source="test"
        )


def test_a_resize_needs_another_host_of_the_architecture(fake_cloud, member, team):
    # p1 is the only ppc64le host: Nova (allow_resize_to_same_host off) would find no valid host.
    vm = services.vm_request_submit(
        actor=member, team=team, name="power1", image=image("ppc64le"), flavor=flavor(), source="test"
    )
    until_done(lambda: services.vm_request_build_advance(request_id=vm.pk), what="building power1")
    vm.refresh_from_db()
    with pytest.raises(ValidationError, match="No ppc64le host other than p1 has room"):
        services.vm_resize_request(actor=member, vm=vm, flavor=flavor("m1.small"), source="test")
