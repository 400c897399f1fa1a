"""A team's volumes on the FakeCloud with Cinder (the contract suite checks it against the real one):
asked for, made, attached, detached and deleted by the worker; refused at once with a reason when the
request cannot work; the cloud's refusals and outages leave the volume where it was, saying why;
what happens outside Kennel is followed."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from portal.cloud.gateway import CloudUnavailable, QuotaExceeded, QuotaService
from portal.models import AuditEvent
from provisioning import services
from provisioning.models import Volume
from quotas.models import TeamQuota
from tests.polling import until_done
from tests.provisioning.test_services import build, submit

pytestmark = pytest.mark.django_db
Status = Volume.Status


def advance(volume: Volume) -> Volume:
    until_done(lambda: services.volume_advance(volume_id=volume.pk), what=f"following {volume.name}")
    volume.refresh_from_db()
    return volume


def ask(user, team, name="data", size_gb=5) -> Volume:
    return services.volume_request(actor=user, team=team, name=name, size_gb=size_gb, source="test")


def in_cloud(fake, team):
    return {v.name: v for v in fake.list_volumes(project_id=team.openstack_project_id)}


def test_a_volume_is_made_attached_detached_and_deleted_by_the_worker(fake_cloud_with_volumes, member, team):
    fake = fake_cloud_with_volumes
    volume = ask(member, team)
    assert volume.status == Status.QUEUED and "data" not in in_cloud(fake, team)
    volume = advance(volume)
    assert volume.status == Status.AVAILABLE and volume.volume_id == in_cloud(fake, team)["data"].id
    assert in_cloud(fake, team)["data"].size_gb == 5

    vm = build(submit(member, team))
    services.volume_attach_request(actor=member, volume=volume, vm=vm, source="test")
    volume.refresh_from_db()
    assert (volume.status, volume.vm_id) == (Status.ATTACHING, vm.pk)
    volume = advance(volume)
    assert (volume.status, volume.vm_id, volume.device) == (Status.IN_USE, vm.pk, "/dev/sdb")
    assert in_cloud(fake, team)["data"].server_id == vm.server_id

    services.volume_detach_request(actor=member, volume=volume, source="test")
    volume = advance(volume)
    assert (volume.status, volume.vm_id, volume.device) == (Status.AVAILABLE, None, "")
    assert in_cloud(fake, team)["data"].server_id is None

    services.volume_delete_request(actor=member, volume=volume, source="test")
    volume = advance(volume)
    assert volume.status == Status.DELETED and in_cloud(fake, team) == {}
    assert list(
        AuditEvent.objects.filter(target_id=str(volume.pk), action__startswith="volume.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["volume.create", "volume.attach", "volume.detach", "volume.delete"]


@pytest.mark.parametrize(
    ("name", "size_gb", "field"),
    [("", 5, "name"), ("-x", 5, "name"), ("a b", 5, "name"), ("x" * 64, 5, "name"), ("ok", 0, "size_gb"),
     ("ok", 1025, "size_gb"), ("ok", "5", "size_gb"), ("ok", True, "size_gb")],
)  # fmt: skip
def test_a_bad_name_or_size_is_refused_and_nothing_is_made(
    fake_cloud_with_volumes, member, team, name, size_gb, field
):
    with pytest.raises(ValidationError) as refused:
        ask(member, team, name=name, size_gb=size_gb)
    assert field in refused.value.message_dict
    assert not Volume.objects.exists() and fake_cloud_with_volumes.calls["create_volume"] == 0


def test_the_team_volume_quota_and_names_are_checked_before_anything_is_asked(
    fake_cloud_with_volumes, member, team
):
    TeamQuota.objects.filter(team=team, key="volume_gb").update(limit=8)
    ask(member, team, name="a", size_gb=5)
    with pytest.raises(ValidationError) as refused:
        ask(member, team, name="b", size_gb=4)
    assert "quota allows 8 GB of Volume storage; 5 are in use and this volume needs 4 more" in str(
        refused.value.message_dict["size_gb"]
    )
    with pytest.raises(ValidationError, match="already has a volume named a"):
        ask(member, team, name="a", size_gb=1)
    ask(member, team, name="b", size_gb=3)  # exactly what is left


def test_only_the_team_acts_on_its_volumes(fake_cloud_with_volumes, member, outsider, team, other_team):
    with pytest.raises(PermissionDenied):
        ask(outsider, team)
    volume = advance(ask(member, team))
    for change in (
        lambda: services.volume_delete_request(actor=outsider, volume=volume, source="test"),
        lambda: services.volume_detach_request(actor=outsider, volume=volume, source="test"),
    ):
        with pytest.raises(PermissionDenied):
            change()
    theirs = build(submit(outsider, other_team, name="theirs"))
    with pytest.raises(ValidationError, match="Pick a running, unlocked VM of team"):
        services.volume_attach_request(actor=member, volume=volume, vm=theirs, source="test")
    assert Volume.objects.get(pk=volume.pk).status == Status.AVAILABLE


def test_an_attached_or_busy_volume_is_not_deleted_and_says_why(fake_cloud_with_volumes, member, team):
    vm = build(submit(member, team))
    volume = advance(ask(member, team))
    services.volume_attach_request(actor=member, volume=volume, vm=vm, source="test")
    with pytest.raises(ValidationError, match="is attaching; wait until the cloud is done with it"):
        services.volume_delete_request(actor=member, volume=volume, source="test")
    volume = advance(volume)
    with pytest.raises(ValidationError, match=f"is attached to {vm.name}; detach it first"):
        services.volume_delete_request(actor=member, volume=volume, source="test")
    other = build(submit(member, team, name="vm2"))
    with pytest.raises(ValidationError, match="detach it first"):
        services.volume_attach_request(actor=member, volume=volume, vm=other, source="test")


def test_the_clouds_refusal_fails_the_volume_with_a_reason_in_the_readers_language(
    fake_cloud_with_volumes, member, team
):
    fake = fake_cloud_with_volumes
    fake.fail_next("create_volume", QuotaExceeded("Maximum number of volumes allowed (10) exceeded."))
    volume = advance(ask(member, team))
    assert volume.status == Status.FAILED and in_cloud(fake, team) == {}
    assert volume.message_text.startswith("The volume quota refused it: Maximum number of volumes allowed")
    with translation.override("zh-hans"):
        assert "Maximum number of volumes allowed" in volume.message_text
        assert not volume.message_text.startswith("The volume quota")
    # A failed volume is deleted without asking the cloud (it was never made).
    services.volume_delete_request(actor=member, volume=volume, source="test")
    assert advance(volume).status == Status.DELETED


def test_an_outage_delays_the_volume_and_a_lost_answer_makes_no_second_one(
    fake_cloud_with_volumes, member, team
):
    fake = fake_cloud_with_volumes
    volume = ask(member, team)
    fake.available = False
    with pytest.raises(CloudUnavailable):
        services.volume_advance(volume_id=volume.pk)
    volume.refresh_from_db()
    assert volume.status == Status.QUEUED
    fake.available = True
    # The cloud makes it and the answer is lost on the way back: the next look finds it.
    fake.fail_next("create_volume", CloudUnavailable("connection reset"), after=True)
    with pytest.raises(CloudUnavailable):
        services.volume_advance(volume_id=volume.pk)
    volume = advance(volume)
    assert volume.status == Status.AVAILABLE
    assert [v.id for v in fake.list_volumes(project_id=team.openstack_project_id)] == [volume.volume_id]
    assert fake.calls["create_volume"] == 2  # the refused call and the one that was made; none after


def test_what_the_cloud_does_outside_kennel_is_followed(fake_cloud_with_volumes, member, team):
    fake = fake_cloud_with_volumes
    vm = build(submit(member, team))
    kept = advance(ask(member, team, name="kept"))
    services.volume_attach_request(actor=member, volume=kept, vm=vm, source="test")
    kept = advance(kept)
    lost = advance(ask(member, team, name="lost"))
    fake.delete_volume(lost.volume_id)  # in Horizon, say
    fake.delete_server(vm.server_id)  # Nova detaches what it held
    fake.settle()
    assert services.volumes_refresh() == 2
    kept.refresh_from_db()
    lost.refresh_from_db()
    assert (kept.status, kept.vm_id, kept.device) == (Status.AVAILABLE, None, "")
    assert lost.status == Status.DELETED and lost.message_text == "The volume was deleted outside Kennel."
    assert services.volumes_refresh() == 0  # nothing changed since


def test_the_clouds_usage_count_is_read_again_after_a_volume_is_made(fake_cloud_with_volumes, member, team):
    advance(ask(member, team, size_gb=7))
    assert TeamQuota.objects.get(team=team, key="volume_gb").cloud_used == 7
    assert fake_cloud_with_volumes.get_quota_usage(team.openstack_project_id, QuotaService.VOLUME) == {
        "gigabytes": 7,
        "volumes": 1,
    }
