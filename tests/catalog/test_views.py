"""The catalog's pages and API: admins only, the permission matrix on each, and what they do."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.test import Client
from django.urls import reverse

from catalog.models import ImageImport, ImagePropertyChange
from provisioning.models import CloudFlavor, CloudImage
from tests.fixtures.disks import make_qcow2
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db

ADMINS = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
ADMINS_POST = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302}
API_ADMINS = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 200}


@pytest.fixture
def an_import(fake, admin, import_dirs):
    make_qcow2(import_dirs / "m.qcow2", data_mib=0)
    from catalog import services

    return services.image_import_create(
        actor=admin, name="matrix", architecture="x86_64", path="m.qcow2", source="test"
    )


def cirros(arch="x86_64"):
    return CloudImage.objects.get(name=f"cirros-0.6-{arch}")


def test_pages_permission_matrix(people, fake, an_import):
    for name in ("catalog:images", "catalog:flavors", "catalog:imports"):
        check_matrix(people, reverse(name), ADMINS)
    check_matrix(people, reverse("catalog:import-detail", args=[an_import.pk]), ADMINS)


def test_actions_permission_matrix(people, fake, an_import):
    image, flavor = cirros(), CloudFlavor.objects.get(name="m1.tiny")
    check_matrix(
        people,
        reverse("catalog:image-offer", args=[image.pk]),
        ADMINS_POST,
        method="post",
        data={"offered": "on", "display_name": "CirrOS"},
    )
    assert CloudImage.objects.get(pk=image.pk).offered
    check_matrix(
        people,
        reverse("catalog:image-properties", args=[image.pk]),
        ADMINS_POST,
        method="post",
        data={"architecture": "x86_64", "os_distro": "cirros", "os_version": "0.6.3", "machine_type": "q35",
              "min_disk_gb": 1, "min_ram_mb": 128},
    )  # fmt: skip
    assert ImagePropertyChange.objects.get().properties == {"os_version": "0.6.3", "hw_machine_type": "q35"}
    check_matrix(
        people, reverse("catalog:flavor-offer", args=[flavor.pk]), ADMINS_POST, method="post", data={}
    )
    assert not CloudFlavor.objects.get(pk=flavor.pk).offered
    check_matrix(people, reverse("catalog:import-retry", args=[an_import.pk]), ADMINS_POST, method="post")
    check_matrix(people, reverse("catalog:import-discard", args=[an_import.pk]), ADMINS_POST, method="post")


def test_api_permission_matrix(people, fake, an_import):
    image = cirros()
    for url in (
        "/api/v1/catalog/manage/images/",
        f"/api/v1/catalog/manage/images/{image.cloud_id}/",
        "/api/v1/catalog/manage/flavors/",
        "/api/v1/catalog/manage/property-changes/",
        "/api/v1/image-imports/",
        f"/api/v1/image-imports/{an_import.pk}/",
    ):
        check_matrix(people, url, API_ADMINS, api=True)
    check_matrix(
        people,
        f"/api/v1/catalog/manage/images/{image.cloud_id}/offer/",
        {**API_ADMINS, "admin": 200},
        method="post",
        data={"offered": True, "display_name": "CirrOS"},
        api=True,
    )
    check_matrix(
        people,
        f"/api/v1/catalog/manage/images/{image.cloud_id}/properties/",
        {**API_ADMINS, "admin": 202},
        method="post",
        data={"architecture": "x86_64", "os_distro": "cirros", "os_version": "9", "machine_type": "",
              "min_disk_gb": 1, "min_ram_mb": 128},
        api=True,
    )  # fmt: skip
    flavor = CloudFlavor.objects.get(name="m1.small")
    check_matrix(
        people,
        f"/api/v1/catalog/manage/flavors/{flavor.cloud_id}/offer/",
        API_ADMINS,
        method="post",
        data={"offered": False},
        api=True,
    )
    for verb in ("retry", "discard"):
        check_matrix(
            people,
            f"/api/v1/image-imports/{an_import.pk}/{verb}/",
            {**API_ADMINS, "admin": 409},  # it has not failed
            method="post",
            api=True,
        )


def test_the_api_imports_from_a_path_and_refuses_traversal_and_unknown_architectures(
    fake, admin, import_dirs
):
    client = Client()
    client.force_login(admin)
    make_qcow2(import_dirs / "api.qcow2", data_mib=0)
    created = client.post(
        "/api/v1/image-imports/",
        {"path": "api.qcow2", "name": "from-api", "architecture": "ppc64le", "offer": True},
        content_type="application/json",
    )
    assert created.status_code == 202, created.json()
    assert (created.json()["state"], created.json()["machine_type"]) == ("uploaded", "pseries")
    refused = client.post(
        "/api/v1/image-imports/",
        {"path": "../../etc/passwd", "name": "x", "architecture": "x86_64"},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "import directory" in str(refused.json()["path"])
    refused = client.post(
        "/api/v1/image-imports/",
        {"path": "api.qcow2", "name": "x", "architecture": "s390x"},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "architecture" in refused.json()
    from drf_spectacular.generators import SchemaGenerator

    from catalog.api.urls import urlpatterns

    paths = SchemaGenerator(patterns=urlpatterns).get_schema(request=None, public=True)["paths"]
    assert {
        "/image-imports/",
        "/image-imports/{id}/retry/",
        "/catalog/manage/images/{id}/properties/",
    } <= set(paths)
    assert "requestBody" in paths["/image-imports/"]["post"]


def test_an_upload_streams_to_a_file_that_the_import_moves(fake, admin, import_dirs, tmp_path, settings):
    disk = make_qcow2(tmp_path / "upload.qcow2", size="16M", data_mib=1)
    client = Client()
    client.force_login(admin)
    seen = []
    original = TemporaryUploadedFile.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.temporary_file_path())

    TemporaryUploadedFile.__init__ = spy
    try:
        with disk.open("rb") as f:
            response = client.post(
                reverse("catalog:imports"),
                {"file": f, "name": "uploaded-vm", "architecture": "x86_64", "min_disk_gb": 0,
                 "min_ram_mb": 0, "target_format": "qcow2"},
            )  # fmt: skip
    finally:
        TemporaryUploadedFile.__init__ = original
    imp = ImageImport.objects.get()
    assert response.status_code == 302 and response.url == reverse("catalog:import-detail", args=[imp.pk])
    assert seen and seen[0].startswith(settings.FILE_UPLOAD_TEMP_DIR)  # on disk, never in memory
    assert imp.source == ImageImport.Source.UPLOAD and imp.original_filename == "upload.qcow2"
    assert imp.source_path.startswith(str(settings.KENNEL_IMPORT_WORK_DIR / "sources"))
    with open(imp.source_path, "rb") as stored:
        assert stored.read() == disk.read_bytes()


def test_the_import_form_says_what_is_wrong(fake, admin, import_dirs):
    client = Client()
    client.force_login(admin)
    response = client.post(
        reverse("catalog:imports"),
        {"path": "nothing-here.qcow2", "name": "x", "architecture": "x86_64", "min_disk_gb": 0,
         "min_ram_mb": 0, "target_format": "qcow2"},
    )  # fmt: skip
    assert response.status_code == 400 and "There is no file" in response.content.decode()
    assert not ImageImport.objects.exists()


def test_the_import_page_polls_until_the_import_is_finished_and_shows_progress(fake, admin, an_import):
    client = Client()
    client.force_login(admin)
    url = reverse("catalog:import-detail", args=[an_import.pk])
    ImageImport.objects.filter(pk=an_import.pk).update(
        state=ImageImport.State.UPLOADING, progress_bytes=50, progress_total=200
    )
    page = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in page and 'value="50" max="200"' in page and "25 %" in page
    ImageImport.objects.filter(pk=an_import.pk).update(state=ImageImport.State.DONE)
    page = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in page and "<progress" not in page


def test_the_catalog_page_groups_by_architecture_and_shows_a_pending_change(fake, admin):
    client = Client()
    client.force_login(admin)
    response = client.post(
        reverse("catalog:image-properties", args=[cirros("ppc64le").pk]),
        {"architecture": "ppc64le", "os_distro": "cirros", "os_version": "0.6", "machine_type": "pseries",
         "min_disk_gb": 1, "min_ram_mb": 128},
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get(reverse("catalog:images")).content.decode()
    assert page.index("<h2>ppc64le") < page.index("cirros-0.6-ppc64le") < page.index("<h2>x86_64")
    assert "Pending" in page and 'hx-trigger="every 2s"' in page
    page = client.get(reverse("catalog:flavors")).content.decode()
    assert "m1.xlarge" in page


def test_developers_request_form_offers_only_offered_images_under_their_friendly_name(fake, admin, member):
    from catalog import services

    services.image_offer_set(actor=admin, image=cirros("ppc64le"), offered=True, display_name="CirrOS 0.6")
    client = Client()
    client.force_login(member)
    page = client.get(reverse("provisioning:vm-request"), {"architecture": "ppc64le"}).content.decode()
    assert "CirrOS 0.6 (cirros 0.6)" in page and "centos" not in page.lower()
    found = client.get("/api/v1/catalog/images/").json()
    assert [i["name"] for i in found] == ["cirros-0.6-ppc64le"]


def test_the_flavor_catalog_fits_each_flavor_to_the_largest_host_of_each_architecture(
    admin, django_assert_max_num_queries
):
    """Placement's rule ((total - reserved) * ratio) on the largest host per architecture, summed in
    the database: the same queries at 2 hosts as at 40."""
    from django.utils import timezone

    from catalog.selectors import flavor_catalog
    from provisioning.models import CloudFlavor, CloudHost

    def host(name, arch, vcpu, ram_mb, disk_gb):
        inv = lambda total: {"total": total, "reserved": 0, "allocation_ratio": 1.0, "used": 0}  # noqa: E731
        CloudHost.objects.create(
            name=name, architecture=arch, state="up", status="enabled", seen_at=timezone.now(),
            inventories={"VCPU": inv(vcpu), "MEMORY_MB": inv(ram_mb), "DISK_GB": inv(disk_gb)},
        )  # fmt: skip

    host("x-small", "x86_64", 4, 8192, 100)
    host("x-large", "x86_64", 64, 262144, 2000)
    host("p-only", "ppc64le", 8, 16384, 200)
    CloudFlavor.objects.create(
        cloud_id="big", name="big", vcpus=32, ram_mb=65536, disk_gb=500, seen_at=timezone.now()
    )
    CloudFlavor.objects.create(
        cloud_id="tiny", name="tiny", vcpus=1, ram_mb=512, disk_gb=1, seen_at=timezone.now()
    )
    with django_assert_max_num_queries(4) as few:
        arches, rows = flavor_catalog(user=admin)
    fits = {row.flavor.name: {fit.architecture: fit.host_fits for fit in row.fits} for row in rows}
    assert arches == ["ppc64le", "x86_64"]
    assert fits == {"big": {"ppc64le": False, "x86_64": True}, "tiny": {"ppc64le": True, "x86_64": True}}
    for n in range(40):
        host(f"more-{n}", "x86_64", 2, 2048, 20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        flavor_catalog(user=admin)
