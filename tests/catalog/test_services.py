"""The catalog's services: offering, Glance property changes, and the import state machine with resume."""

from __future__ import annotations

import hashlib
import struct
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from catalog import services
from catalog.models import ImageImport, ImagePropertyChange
from portal.cloud.gateway import CloudRequestError, CloudUnavailable
from provisioning import selectors
from provisioning.models import CloudFlavor, CloudHost, CloudImage
from tests.fixtures.disks import make_qcow2

pytestmark = pytest.mark.django_db
State = ImageImport.State


def cirros(arch="x86_64"):
    return CloudImage.objects.get(name=f"cirros-0.6-{arch}")


def start_import(admin, path, **fields):
    values = {"name": "old-vm", "architecture": "x86_64", "os_distro": "debian", "os_version": "12"}
    return services.image_import_create(actor=admin, path=str(path), source="test", **{**values, **fields})


def glance_images_of(fake, imp):
    return [i for i in fake.list_images() if i.properties.get("kennel_import_id") == str(imp.pk)]


# --- offering ------------------------------------------------------------------------------------------


def test_a_new_image_is_not_offered_and_developers_see_only_offered_images(fake, admin, member):
    assert not CloudImage.objects.filter(offered=True).exists()
    assert selectors.image_list(user=member).count() == 0
    assert selectors.architecture_list() == []
    services.image_offer_set(actor=admin, image=cirros("ppc64le"), offered=True, display_name="CirrOS 0.6")
    assert [i.label for i in selectors.image_list(user=member)] == ["CirrOS 0.6"]
    assert [a.architecture for a in selectors.architecture_list()] == ["ppc64le"]
    assert selectors.image_list(user=member, architecture="x86_64").count() == 0


def test_an_image_without_architecture_or_not_active_or_of_no_hypervisor_cannot_be_offered(fake, admin):
    image = cirros()
    CloudImage.objects.filter(pk=image.pk).update(architecture="")
    image.refresh_from_db()
    with pytest.raises(ValidationError, match="no hw_architecture"):
        services.image_offer_set(actor=admin, image=image, offered=True, display_name="")
    CloudImage.objects.filter(pk=image.pk).update(architecture="x86_64", status="queued")
    image.refresh_from_db()
    with pytest.raises(ValidationError, match="only an active image"):
        services.image_offer_set(actor=admin, image=image, offered=True, display_name="")
    ppc = cirros("ppc64le")
    CloudHost.objects.filter(architecture="ppc64le").delete()
    with pytest.raises(ValidationError, match="No hypervisor"):
        services.image_offer_set(actor=admin, image=ppc, offered=True, display_name="")
    assert not CloudImage.objects.filter(offered=True).exists()


def test_offering_survives_the_mirror_refresh(fake, admin):
    from provisioning.services import catalog_refresh

    services.image_offer_set(actor=admin, image=cirros(), offered=True, display_name="CirrOS")
    catalog_refresh()
    assert (cirros().offered, cirros().display_name) == (True, "CirrOS")


def test_flavors_are_offered_by_default_and_a_withdrawn_or_arch_pinned_one_is_not_listed(fake, admin, member):
    services.image_offer_set(actor=admin, image=cirros("ppc64le"), offered=True, display_name="")
    image = cirros("ppc64le")
    tiny, small = CloudFlavor.objects.get(name="m1.tiny"), CloudFlavor.objects.get(name="m1.small")
    assert {"m1.tiny", "m1.small"} <= {f.name for f in selectors.flavor_list(user=member, image=image)}
    services.flavor_offer_set(actor=admin, flavor=tiny, offered=False)
    CloudFlavor.objects.filter(pk=small.pk).update(extra_specs={"trait:HW_ARCH_X86_64": "required"})
    names = {f.name for f in selectors.flavor_list(user=member, image=image)}
    assert "m1.tiny" not in names and "m1.small" not in names and "m1.medium" in names
    small.refresh_from_db()
    assert small.suits_architecture("x86_64") and not small.suits_architecture("ppc64le")


def test_a_vm_request_for_an_image_that_is_not_offered_is_refused(fake, admin, member, team):
    from provisioning.services import vm_request_submit

    project = fake.find_project("alpha")
    team.openstack_project_id = project.id
    team.save()
    with pytest.raises(ValidationError) as refused:
        vm_request_submit(
            actor=member,
            team=team,
            name="web",
            image=cirros(),
            flavor=CloudFlavor.objects.get(name="m1.tiny"),
            source="test",
        )
    assert "not offered" in str(refused.value.message_dict["image"])


# --- Glance properties ---------------------------------------------------------------------------------


def test_a_property_change_reaches_glance_and_the_mirror(fake, admin):
    image = cirros("ppc64le")
    change = services.image_properties_request(
        actor=admin,
        image=image,
        architecture="ppc64le",
        os_distro="cirros",
        os_version="0.6.2",
        machine_type="pseries",
        min_disk_gb=2,
        min_ram_mb=256,
        source="test",
    )
    assert (change.status, change.properties) == (
        ImagePropertyChange.Status.PENDING,
        {"os_version": "0.6.2", "hw_machine_type": "pseries"},
    )
    services.image_properties_apply(change_id=change.pk)
    change.refresh_from_db()
    assert change.status == ImagePropertyChange.Status.DONE, change.message
    glance = fake.get_image(image.cloud_id)
    assert glance.properties["hw_machine_type"] == "pseries" and glance.properties["os_version"] == "0.6.2"
    assert (glance.min_disk_gb, glance.min_ram_mb) == (2, 256)
    mirrored = cirros("ppc64le")
    assert (mirrored.os_version, mirrored.min_disk_gb, mirrored.properties["hw_machine_type"]) == (
        "0.6.2",
        2,
        "pseries",
    )


def test_property_changes_that_cannot_work_are_refused(fake, admin):
    image = cirros("ppc64le")
    same = {"architecture": "ppc64le", "os_distro": "cirros", "os_version": "0.6", "min_disk_gb": 1}
    with pytest.raises(ValidationError, match="not a machine type for ppc64le"):
        services.image_properties_request(
            actor=admin, image=image, machine_type="q35", min_ram_mb=128, source="test", **same
        )
    with pytest.raises(ValidationError, match="nothing to change"):
        services.image_properties_request(
            actor=admin, image=image, machine_type="", min_ram_mb=128, source="test", **same
        )
    with pytest.raises(ValidationError, match="No hypervisor"):
        services.image_properties_request(
            actor=admin,
            image=image,
            machine_type="",
            min_ram_mb=128,
            source="test",
            **{**same, "architecture": "s390x"},
        )
    services.image_properties_request(
        actor=admin, image=image, machine_type="pseries", min_ram_mb=128, source="test", **same
    )
    with pytest.raises(ValidationError, match="already on its way"):
        services.image_properties_request(
            actor=admin, image=image, machine_type="pseries", min_ram_mb=256, source="test", **same
        )


def test_a_change_waits_out_an_outage_and_a_refusal_fails_it(fake, admin):
    image = cirros()
    change = services.image_properties_request(
        actor=admin, image=image, architecture="x86_64", os_distro="cirros", os_version="1",
        machine_type="", min_disk_gb=1, min_ram_mb=128, source="test",
    )  # fmt: skip
    fake.fail_next("update_image")
    with pytest.raises(CloudUnavailable):
        services.image_properties_apply(change_id=change.pk)
    change.refresh_from_db()
    assert change.status == ImagePropertyChange.Status.PENDING and "Waiting for the cloud" in change.message
    fake.delete_image(image.cloud_id)  # gone from Glance meanwhile
    services.image_properties_apply(change_id=change.pk)
    change.refresh_from_db()
    assert change.status == ImagePropertyChange.Status.FAILED and "Glance refused" in change.message


# --- imports: accepting --------------------------------------------------------------------------------


def test_only_files_inside_the_import_directory_can_be_named(fake, admin, import_dirs, tmp_path):
    outside = tmp_path / "secret.qcow2"
    make_qcow2(outside, data_mib=0)
    (import_dirs / "link.qcow2").symlink_to(outside)
    for path in ("../secret.qcow2", str(outside), "link.qcow2", "missing.qcow2", "", "."):
        with pytest.raises(ValidationError):
            services.import_path_resolve(path)
    make_qcow2(import_dirs / "ok.qcow2", data_mib=0)
    assert services.import_path_resolve("ok.qcow2") == (import_dirs / "ok.qcow2").resolve()
    assert services.import_path_resolve(str(import_dirs / "ok.qcow2")).name == "ok.qcow2"


def test_an_architecture_no_hypervisor_runs_is_refused_before_anything_happens(fake, admin, import_dirs):
    make_qcow2(import_dirs / "p.qcow2", data_mib=0)
    CloudHost.objects.filter(architecture="ppc64le").delete()
    with pytest.raises(ValidationError) as refused:
        start_import(admin, "p.qcow2", architecture="ppc64le")
    assert "No hypervisor in the cloud runs ppc64le" in str(refused.value.message_dict["architecture"])
    assert not ImageImport.objects.exists()


# --- imports: the state machine --------------------------------------------------------------------------


def test_an_import_runs_every_step_and_ends_verified_offered_and_cleaned_up(fake, admin, import_dirs):
    source = make_qcow2(import_dirs / "old.qcow2", size="64M", data_mib=2)
    imp = start_import(
        admin, "old.qcow2", architecture="ppc64le", offer=True, display_name="Old VM", min_ram_mb=512
    )
    assert (imp.state, imp.completed, imp.machine_type) == (State.UPLOADED, "", "pseries")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert (imp.state, imp.completed) == (State.DONE, "verified"), imp.message
    assert (imp.source_format, imp.virtual_size_bytes) == ("qcow2", 64 * 1024**2)
    glance = fake.get_image(imp.glance_image_id)
    assert (glance.status, glance.disk_format, glance.visibility) == ("active", "qcow2", "public")
    assert {k: glance.properties.get(k) for k in ("hw_architecture", "os_distro", "hw_machine_type")} == {
        "hw_architecture": "ppc64le",
        "os_distro": "debian",
        "hw_machine_type": "pseries",
    }
    assert (glance.min_disk_gb, glance.min_ram_mb) == (1, 512)  # at least the disk's 64 MiB, rounded up
    assert glance.hash_value == imp.local_sha512
    mirrored = CloudImage.objects.get(cloud_id=imp.glance_image_id)
    assert (mirrored.offered, mirrored.display_name) == (True, "Old VM")
    assert not Path(imp.converted_path).exists()
    assert source.exists()  # an admin's own file on the host is left where it was


def test_converting_to_raw_stores_the_whole_disk(fake, admin, import_dirs):
    make_qcow2(import_dirs / "r.qcow2", size="8M", data_mib=1)
    imp = start_import(admin, "r.qcow2", target_format="raw")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.DONE, imp.message
    assert (imp.converted_bytes, fake.get_image(imp.glance_image_id).disk_format) == (8 * 1024**2, "raw")


def test_a_file_that_is_not_a_disk_image_fails_at_inspecting_with_the_reason(fake, admin, import_dirs):
    (import_dirs / "notes.txt").write_text("these are my notes\n" * 100)
    imp = start_import(admin, "notes.txt")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.FAILED and imp.completed == ""
    assert "not a disk image" in imp.message and imp.message.startswith("Inspecting failed")
    assert not glance_images_of(fake, imp)


def test_a_truncated_qcow2_is_refused_as_damaged(fake, admin, import_dirs):
    whole = make_qcow2(import_dirs / "whole.qcow2", size="64M", data_mib=4)
    (import_dirs / "cut.qcow2").write_bytes(whole.read_bytes()[: 300 * 1024])
    imp = start_import(admin, "cut.qcow2")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.FAILED and "damaged" in imp.message and "truncated" in imp.message


def raw_disk(path: Path, *, partitioned: bool) -> Path:
    """A 4 MiB raw disk with an MBR: one Linux partition as fdisk writes it, or none at all."""
    subprocess.run(["truncate", "-s", "4M", str(path)], check=True)
    with path.open("r+b") as f:
        f.seek(510)
        f.write(b"\x55\xaa")
        if partitioned:
            f.seek(446)
            f.write(struct.pack("<B3BB3BII", 0, 0, 2, 0, 0x83, 0, 0, 0, 2048, 8192 - 2048))
    return path


def test_a_raw_disk_with_a_partition_table_is_accepted(fake, admin, import_dirs):
    raw_disk(import_dirs / "disk.img", partitioned=True)
    imp = start_import(admin, "disk.img", target_format="raw")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert (imp.state, imp.source_format) == (State.DONE, "raw"), imp.message


def test_glances_refusal_of_the_data_lands_on_the_row_and_leaves_no_image(fake, admin, import_dirs):
    raw_disk(import_dirs / "bare.img", partitioned=False)
    imp = start_import(admin, "bare.img", target_format="raw")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.FAILED and imp.completed == "converted"
    assert imp.message.startswith("Uploading to Glance failed") and "safety checks" in imp.message
    assert imp.glance_image_id == "" and not glance_images_of(fake, imp)


def test_an_architecture_that_lost_its_hosts_fails_the_import_with_the_reason(fake, admin, import_dirs):
    make_qcow2(import_dirs / "p.qcow2", data_mib=0)
    imp = start_import(admin, "p.qcow2", architecture="ppc64le")
    CloudHost.objects.filter(architecture="ppc64le").delete()
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.FAILED and "no hypervisor in the cloud runs ppc64le" in imp.message


def test_an_outage_during_upload_resumes_with_the_same_glance_image(fake, admin, import_dirs):
    make_qcow2(import_dirs / "o.qcow2", data_mib=1)
    imp = start_import(admin, "o.qcow2")
    fake.fail_next("upload_image_data")
    with pytest.raises(CloudUnavailable):
        services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert (imp.state, imp.completed, imp.claim) == (State.UPLOADING, "converted", "")
    first = imp.glance_image_id
    assert first and fake.get_image(first).status == "queued"  # saved before any data was sent
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert (imp.state, imp.glance_image_id) == (State.DONE, first), imp.message
    assert [i.id for i in glance_images_of(fake, imp)] == [first]


def test_an_upload_whose_answer_was_lost_is_verified_not_sent_again(fake, admin, import_dirs):
    make_qcow2(import_dirs / "l.qcow2", data_mib=1)
    imp = start_import(admin, "l.qcow2")
    fake.fail_next("upload_image_data", after=True)  # Glance stored it; the answer never came
    with pytest.raises(CloudUnavailable):
        services.image_import_advance(import_id=imp.pk)
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.DONE, imp.message
    assert len(glance_images_of(fake, imp)) == 1
    assert fake.get_image(imp.glance_image_id).hash_value == imp.local_sha512


def test_a_checksum_mismatch_deletes_the_half_image_and_a_retry_uploads_again(fake, admin, import_dirs):
    make_qcow2(import_dirs / "c.qcow2", data_mib=1)
    imp = start_import(admin, "c.qcow2", offer=True)
    fake.fail_next("get_image")  # stop the worker once it reaches verifying
    with pytest.raises(CloudUnavailable):
        services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.VERIFYING
    half = imp.glance_image_id
    ImageImport.objects.filter(pk=imp.pk).update(local_sha512=hashlib.sha512(b"other bits").hexdigest())
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.FAILED and "checksum differs" in imp.message
    assert (imp.glance_image_id, imp.completed, imp.resumes_at) == ("", "converted", "Uploading to Glance")
    assert half not in {i.id for i in fake.list_images()}
    assert not CloudImage.objects.filter(offered=True, cloud_id=half).exists()

    services.image_import_retry(actor=admin, imp=imp, source="test")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.DONE, imp.message
    assert CloudImage.objects.get(cloud_id=imp.glance_image_id).offered


def test_a_half_image_is_never_offered(fake, admin, import_dirs):
    make_qcow2(import_dirs / "h.qcow2", data_mib=1)
    imp = start_import(admin, "h.qcow2")
    fake.fail_next("get_image")
    with pytest.raises(CloudUnavailable):
        services.image_import_advance(import_id=imp.pk)
    from provisioning.services import catalog_refresh

    catalog_refresh()
    half = CloudImage.objects.get(cloud_id=ImageImport.objects.get(pk=imp.pk).glance_image_id)
    assert (half.status, half.visibility, half.offered) == ("active", "private", False)  # not even public
    with pytest.raises(ValidationError, match="not verified yet"):
        services.image_offer_set(actor=admin, image=half, offered=True, display_name="")


def test_a_failed_step_is_retried_from_where_it_stopped_and_only_a_failed_import(fake, admin, import_dirs):
    make_qcow2(import_dirs / "g.qcow2", data_mib=1)
    imp = start_import(admin, "g.qcow2")
    with pytest.raises(ValidationError, match="Only a failed import"):
        services.image_import_retry(actor=admin, imp=imp, source="test")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    # Make the converted file vanish after the fact, then run the upload step again by hand.
    ImageImport.objects.filter(pk=imp.pk).update(state=State.FAILED, completed="converted")
    Path(imp.converted_path).unlink(missing_ok=True)
    services.image_import_retry(actor=admin, imp=imp, source="test")
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.FAILED and "converted file" in imp.message and imp.resumes_at == "Converting"


def test_an_import_held_by_a_live_worker_is_left_alone_and_a_stale_hold_is_taken_over(
    fake, admin, import_dirs, monkeypatch
):
    from catalog import tasks

    enqueued: list[int] = []
    monkeypatch.setattr(tasks.image_import_run, "delay", enqueued.append)  # no broker in this test
    make_qcow2(import_dirs / "w.qcow2", data_mib=0)
    imp = start_import(admin, "w.qcow2")
    ImageImport.objects.filter(pk=imp.pk).update(claim="other", heartbeat_at=timezone.now())
    services.image_import_advance(import_id=imp.pk)
    assert ImageImport.objects.get(pk=imp.pk).state == State.UPLOADED
    ImageImport.objects.filter(pk=imp.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    assert services.image_imports_resume() == 1 and enqueued == [imp.pk]
    services.image_import_advance(import_id=imp.pk)
    assert ImageImport.objects.get(pk=imp.pk).state == State.DONE


def test_a_discard_whose_cleaning_gave_up_is_cleaned_again_later(fake, admin, import_dirs, monkeypatch):
    from catalog import tasks

    cleaned: list[int] = []
    monkeypatch.setattr(tasks.image_import_clean, "delay", cleaned.append)  # no broker in this test
    make_qcow2(import_dirs / "g.qcow2", data_mib=1)
    imp = start_import(admin, "g.qcow2")
    fake.fail_next("get_image", CloudRequestError("Glance says no"))  # fails at verifying
    services.image_import_advance(import_id=imp.pk)
    services.image_import_discard(actor=admin, imp=ImageImport.objects.get(pk=imp.pk), source="test")
    fake.available = False  # the cleaning's retries all meet an outage, and it gives up
    with pytest.raises(CloudUnavailable):
        services.image_import_clean(import_id=imp.pk)
    fake.available = True
    ImageImport.objects.filter(pk=imp.pk).update(updated_at=timezone.now() - timedelta(minutes=30))
    cleaned.clear()
    assert services.image_imports_resume() == 1 and cleaned == [imp.pk]
    services.image_import_clean(import_id=imp.pk)
    assert not glance_images_of(fake, ImageImport.objects.get(pk=imp.pk))
    ImageImport.objects.filter(pk=imp.pk).update(updated_at=timezone.now() - timedelta(minutes=30))
    assert services.image_imports_resume() == 0  # nothing left: not cleaned again


def test_the_state_machine_resumes_after_the_last_completed_step():
    imp = ImageImport()
    expected = [
        ("", State.INSPECTING),
        ("inspected", State.CONVERTING),
        ("converted", State.UPLOADING),
        ("uploaded", State.VERIFYING),
        ("verified", State.DONE),
    ]
    for completed, state in expected:
        imp.completed = completed
        assert imp.next_state() == state


def test_a_discarded_import_leaves_nothing_in_glance_or_on_disk(fake, admin, import_dirs):
    make_qcow2(import_dirs / "d.qcow2", data_mib=1)
    imp = start_import(admin, "d.qcow2")
    fake.fail_next("get_image", CloudRequestError("Glance says no"))  # fails at verifying
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.state == State.FAILED and imp.glance_image_id and Path(imp.converted_path).exists()
    leftover = imp.glance_image_id
    with pytest.raises(ValidationError, match="Only a failed import"):
        services.image_import_discard(actor=admin, imp=ImageImport(pk=0), source="test")
    services.image_import_discard(actor=admin, imp=imp, source="test")
    assert ImageImport.objects.get(pk=imp.pk).state == State.DISCARDED
    services.image_import_clean(import_id=imp.pk)
    imp.refresh_from_db()
    assert leftover not in {i.id for i in fake.list_images()} and not glance_images_of(fake, imp)
    assert not Path(imp.converted_path).exists() and (import_dirs / "d.qcow2").exists()
    assert "nothing of it is left" in imp.message and imp.finished
    with pytest.raises(ValidationError):
        services.image_import_retry(actor=admin, imp=imp, source="test")
