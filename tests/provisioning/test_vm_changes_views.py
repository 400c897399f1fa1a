"""Resize, rebuild, snapshot, lock and several VMs at once in the pages and the API: the permission
matrix, what the VM page offers, and the answers."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from portal.cloud.gateway import ServerAction
from provisioning import services
from provisioning.models import VmRequest, VmSnapshot
from tests.fixtures.fake_cloud import flavor, image
from tests.matrix import check_matrix
from tests.polling import until_done

pytestmark = pytest.mark.django_db

ACTS = {"anonymous": 302, "member": 302, "outsider": 404, "manager": 403, "admin": 302}
ACTS_API = {"anonymous": 401, "member": 202, "outsider": 404, "manager": 403, "admin": 202}


def test_the_change_pages_matrix(people, vm):
    for name, data in (
        ("provisioning:vm-resize", {"flavor": flavor("m1.small").pk}),
        ("provisioning:vm-rebuild", {"image": image().pk}),
        ("provisioning:vm-snapshot", {"name": "snap"}),
    ):
        check_matrix(people, reverse(name, args=[vm.pk]), ACTS, method="post", data=data)


def test_the_change_api_matrix(people, vm):
    for path, data in (("resize", {"flavor": "m1.small"}), ("rebuild", {"image": image().name})):
        check_matrix(people, f"/api/v1/vms/{vm.pk}/{path}/", ACTS_API, method="post", data=data, api=True)
    # The member's snapshot takes the name: the admin's (same name) is refused as a duplicate.
    check_matrix(
        people,
        f"/api/v1/vms/{vm.pk}/snapshot/",
        {**ACTS_API, "admin": 400},
        method="post",
        data={"name": "snap"},
        api=True,
    )
    check_matrix(
        people,
        "/api/v1/vms/batch/",
        # Not their team (outsider, manager); the admin asks after the member: the names are taken.
        {"anonymous": 401, "member": 201, "outsider": 400, "manager": 400, "admin": 400},
        method="post",
        data={"team": "alpha", "name": "web", "count": 2, "image": image().name, "flavor": "m1.tiny"},
        api=True,
    )


def test_the_vm_page_offers_resize_rebuild_snapshot_and_lock(client, member, vm):
    client.force_login(member)
    page = client.get(reverse("provisioning:vm-detail", args=[vm.pk])).text
    for testid in ("resize-flavor", "rebuild-image", "snapshot-name", "action-lock"):
        assert f'data-testid="{testid}"' in page
    assert "m1.small" in page and 'data-testid="action-unlock"' not in page
    rebuild = page.split('data-testid="rebuild-image"')[1].split("</select>")[0]
    too_big = image(name="centos")  # needs more disk than web1's m1.tiny holds
    assert too_big.min_disk_gb > vm.disk_gb and too_big.label not in rebuild
    assert image().label in rebuild


def test_a_locked_vm_shows_the_lock_and_refuses_with_the_reason(client, member, vm, fake_cloud):
    services.vm_action_request(actor=member, vm=vm, action=ServerAction.LOCK, source="test")
    services.vm_action_advance(request_id=vm.pk, action=ServerAction.LOCK)
    client.force_login(member)
    page = client.get(reverse("provisioning:vm-detail", args=[vm.pk])).text
    assert 'data-testid="locked"' in page and 'data-testid="action-unlock"' in page
    assert 'data-testid="resize-flavor"' not in page and 'data-testid="delete"' not in page
    answer = client.post(
        reverse("provisioning:vm-resize", args=[vm.pk]), {"flavor": flavor("m1.small").pk}, follow=True
    )
    assert "web1 is locked against changes; unlock it first." in answer.text
    api = APIClient()
    api.force_authenticate(member)
    refused = api.post(f"/api/v1/vms/{vm.pk}/action/", {"action": "stop"}, format="json")
    assert refused.status_code == 409 and "locked" in refused.json()["detail"]
    assert api.delete(f"/api/v1/vms/{vm.pk}/").status_code == 409
    assert api.get(f"/api/v1/vms/{vm.pk}/").json()["locked"] is True


def test_the_api_resizes_and_confirms(member, vm, fake_cloud):
    api = APIClient()
    api.force_authenticate(member)
    assert api.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": "m1.small"}, format="json").status_code == 202
    services.vm_resize_advance(request_id=vm.pk, flavor_id=flavor("m1.small").pk)
    fake_cloud.settle()
    services.vm_refresh(request_id=vm.pk)
    shown = api.get(f"/api/v1/vms/{vm.pk}/").json()
    assert shown["server_state"] == "resized" and "confirm_resize" in shown["allowed_actions"]
    assert (
        api.post(f"/api/v1/vms/{vm.pk}/action/", {"action": "confirm_resize"}, format="json").status_code
        == 202
    )
    unknown = api.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": "m9.huge"}, format="json")
    assert unknown.status_code == 400 and "flavor" in unknown.json()


def test_the_api_snapshot_is_listed_for_the_team_only(member, outsider, vm, team):
    api = APIClient()
    api.force_authenticate(member)
    answer = api.post(f"/api/v1/vms/{vm.pk}/snapshot/", {"name": "gold"}, format="json")
    assert answer.status_code == 202 and answer.json()["status"] == "requested"
    snapshot = VmSnapshot.objects.get(name="gold")
    until_done(lambda: services.vm_snapshot_advance(snapshot_id=snapshot.pk), what="snapshot")
    assert api.get(f"/api/v1/vms/{vm.pk}/").json()["snapshots"][0]["status"] == "active"
    mine = api.get("/api/v1/catalog/images/", {"team": "alpha", "architecture": "x86_64"}).json()
    assert {"name": "gold", "team": "alpha"}.items() <= next(i for i in mine if i["name"] == "gold").items()
    assert "gold" not in [
        i["name"] for i in api.get("/api/v1/catalog/images/", {"architecture": "ppc64le"}).json()
    ]
    api.force_authenticate(outsider)
    assert "gold" not in [i["name"] for i in api.get("/api/v1/catalog/images/").json()]
    created = APIClient()
    created.force_authenticate(member)
    again = created.post(
        "/api/v1/vms/",
        {"team": "alpha", "name": "from-gold", "image": "gold", "flavor": "m1.tiny"},
        format="json",
    )
    assert again.status_code == 201 and again.json()["image_name"] == "gold"


def test_the_request_form_asks_for_several_vms(client, member, team, fake_cloud):
    client.force_login(member)
    answer = client.post(
        reverse("provisioning:vm-request"),
        {
            "team": team.pk,
            "architecture": "x86_64",
            "image": image().pk,
            "flavor": flavor().pk,
            "name": "web",
            "count": 3,
        },
        follow=True,
    )
    assert "3 VMs requested: web-1, web-2, web-3." in answer.text
    assert sorted(VmRequest.objects.values_list("name", flat=True)) == ["web-1", "web-2", "web-3"]
    too_many = client.post(
        reverse("provisioning:vm-request"),
        {
            "team": team.pk,
            "architecture": "x86_64",
            "image": image().pk,
            "flavor": flavor().pk,
            "name": "x",
            "count": 500,
        },
    )
    assert too_many.status_code == 200 and VmRequest.objects.count() == 3
