"""Imports and property changes against the real local cloud (Glance): what lands there is checked
through the real gateway, and every image a test makes is deleted afterwards."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess

import pytest

from catalog import services
from catalog.models import ImageImport, ImagePropertyChange
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound
from provisioning.models import CloudImage
from provisioning.services import catalog_refresh
from tests.fixtures.disks import make_qcow2

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
State = ImageImport.State


@pytest.fixture
def mirrored(db):
    catalog_refresh()


@pytest.fixture
def cleanup():
    """Glance ids to delete after the test, whatever happened."""
    ids: list[str] = []
    yield ids
    for image_id in ids:
        with contextlib.suppress(CloudNotFound):
            cloud().delete_image(image_id)


def test_an_imported_qcow2_lands_in_glance_with_its_properties_and_checksum(
    mirrored, admin, import_dirs, cleanup
):
    disk = make_qcow2(import_dirs / "legacy.qcow2", size="256M", data_mib=3)
    imp = services.image_import_create(
        actor=admin,
        path="legacy.qcow2",
        name="kennel-it-legacy",
        architecture="ppc64le",
        os_distro="debian",
        os_version="12",
        min_ram_mb=512,
        offer=True,
        display_name="Legacy build box",
        source="test",
    )
    services.image_import_advance(import_id=imp.pk)
    imp.refresh_from_db()
    cleanup.append(imp.glance_image_id)
    assert imp.state == State.DONE, imp.message
    converted = subprocess.run(  # what went up: qemu-img's qcow2 of the disk, hashed independently
        ["qemu-img", "info", "--output=json", str(disk)], capture_output=True, check=True
    )
    assert b'"virtual-size": 268435456' in converted.stdout
    glance = cloud().get_image(imp.glance_image_id)
    assert (glance.status, glance.disk_format, glance.virtual_size_bytes) == (
        "active",
        "qcow2",
        256 * 1024**2,
    )
    assert glance.visibility == "public"  # private until verified
    assert glance.properties["hw_architecture"] == "ppc64le"
    assert glance.properties["hw_machine_type"] == "pseries"
    assert (glance.properties["os_distro"], glance.properties["os_version"]) == ("debian", "12")
    assert glance.properties["kennel_import_id"] == str(imp.pk)
    assert (glance.min_disk_gb, glance.min_ram_mb) == (1, 512)
    assert glance.hash_algo == "sha512" and glance.hash_value == imp.local_sha512
    assert glance.checksum == imp.local_md5 and glance.size_bytes == imp.converted_bytes
    mirrored_image = CloudImage.objects.get(cloud_id=glance.id)
    assert (mirrored_image.offered, mirrored_image.label) == (True, "Legacy build box")

    cloud().delete_image(glance.id)
    cleanup.clear()
    with pytest.raises(CloudNotFound):
        cloud().get_image(glance.id)


def test_a_file_that_is_not_a_disk_and_a_truncated_qcow2_are_refused_with_reasons(
    mirrored, admin, import_dirs, cleanup
):
    (import_dirs / "notes.txt").write_text("definitely not a disk\n" * 1000)
    whole = make_qcow2(import_dirs / "whole.qcow2", size="64M", data_mib=4)
    (import_dirs / "cut.qcow2").write_bytes(whole.read_bytes()[: 256 * 1024])
    reasons = {}
    for name in ("notes.txt", "cut.qcow2"):
        imp = services.image_import_create(
            actor=admin, path=name, name=f"kennel-it-{name}", architecture="x86_64", source="test"
        )
        services.image_import_advance(import_id=imp.pk)
        imp.refresh_from_db()
        assert (imp.state, imp.glance_image_id) == (State.FAILED, ""), imp.message
        reasons[name] = imp.message
    assert "not a disk image" in reasons["notes.txt"]
    assert "damaged" in reasons["cut.qcow2"] and "truncated" in reasons["cut.qcow2"]
    assert not [i for i in cloud().list_images() if i.name.startswith("kennel-it-")]


def test_a_property_edit_reaches_glance(mirrored, admin, cleanup, tmp_path):
    disk = tmp_path / "p.raw"
    disk.write_bytes(b"\0" * 1024 * 1024)
    image = cloud().create_image(
        name="kennel-it-props",
        disk_format="raw",
        visibility="private",
        properties={"hw_architecture": "x86_64"},
    )
    cleanup.append(image.id)
    with disk.open("rb") as stream:
        cloud().upload_image_data(image.id, stream, size=disk.stat().st_size)
    catalog_refresh()
    mirrored_image = CloudImage.objects.get(cloud_id=image.id)
    change = services.image_properties_request(
        actor=admin,
        image=mirrored_image,
        architecture="ppc64le",
        os_distro="rhel",
        os_version="9.4",
        machine_type="pseries",
        min_disk_gb=10,
        min_ram_mb=2048,
        source="test",
    )
    services.image_properties_apply(change_id=change.pk)
    change.refresh_from_db()
    assert change.status == ImagePropertyChange.Status.DONE, change.message
    glance = cloud().get_image(image.id)
    assert {
        k: glance.properties.get(k) for k in ("hw_architecture", "os_distro", "os_version", "hw_machine_type")
    } == {
        "hw_architecture": "ppc64le",
        "os_distro": "rhel",
        "os_version": "9.4",
        "hw_machine_type": "pseries",
    }
    assert (glance.min_disk_gb, glance.min_ram_mb) == (10, 2048)
    mirrored_image.refresh_from_db()
    assert (mirrored_image.architecture, mirrored_image.os_version) == (
        "ppc64le",
        "9.4",
    )  # the mirror followed
    assert glance.hash_value == hashlib.sha512(disk.read_bytes()).hexdigest()
