"""API additions the CLI relies on: the architecture check, SSH keys and packages on a request,
flavors counted per architecture, and a profile's detail with its user-data."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from kennel.demo import _demo_profile
from provisioning import services
from provisioning.models import Profile, VmRequest
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH2D1p8xL7s4S1y2VQpLQ9yJmvH3oMmnH1qu2TQd3kRv ci@box"


def as_user(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def request_body(**extra):
    return {"team": "alpha", "name": "apivm", "image": "cirros-0.6-ppc64le", "flavor": "m1.tiny", **extra}


def test_a_request_whose_image_is_of_another_architecture_is_refused(member, fake_cloud):
    response = as_user(member).post("/api/v1/vms/", request_body(architecture="x86_64"), format="json")
    assert response.status_code == 400
    assert response.json()["image"] == [
        "Image 'cirros-0.6-ppc64le' is ppc64le, not x86_64; choose one of that architecture's images."
    ]
    assert not VmRequest.objects.exists()
    ok = as_user(member).post("/api/v1/vms/", request_body(architecture="ppc64le"), format="json")
    assert ok.status_code == 201


def test_an_unknown_architecture_is_refused_by_name(member, fake_cloud):
    response = as_user(member).post("/api/v1/vms/", request_body(architecture="sparc"), format="json")
    assert response.status_code == 400 and "architecture" in response.json()


def test_without_keys_the_imported_keys_go_on_the_vm_and_given_keys_replace_them(member, fake_cloud):
    services.ssh_key_add(user=member, name="laptop", public_key=KEY, source="test")
    default = as_user(member).post("/api/v1/vms/", request_body(name="dflt"), format="json")
    assert default.status_code == 201
    assert KEY in VmRequest.objects.get(name="dflt").user_data
    given = as_user(member).post(
        "/api/v1/vms/", request_body(name="given", ssh_keys=[OTHER_KEY], packages=["tmux"]), format="json"
    )
    assert given.status_code == 201, given.json()
    user_data = VmRequest.objects.get(name="given").user_data
    assert OTHER_KEY in user_data and KEY not in user_data and "tmux" in user_data


def test_a_malformed_key_is_refused_with_the_reason(member, fake_cloud):
    response = as_user(member).post(
        "/api/v1/vms/", request_body(ssh_keys=["ssh-ed25519 not-base64!"]), format="json"
    )
    assert response.status_code == 400
    assert "not valid base64 key data" in str(response.json()["ssh_keys"])
    assert not VmRequest.objects.exists()


def test_flavors_count_what_fits_on_an_architecture(member, fake_cloud):
    api = as_user(member)
    ppc = {
        f["name"]: f["fits"] for f in api.get("/api/v1/catalog/flavors/", {"architecture": "ppc64le"}).json()
    }
    x86 = {
        f["name"]: f["fits"] for f in api.get("/api/v1/catalog/flavors/", {"architecture": "x86_64"}).json()
    }
    assert all(isinstance(n, int) for n in [*ppc.values(), *x86.values()])
    # Three x86 hosts against one Power host in the fake estate.
    assert x86["m1.tiny"] > ppc["m1.tiny"] > 0
    assert all(f["fits"] is None for f in api.get("/api/v1/catalog/flavors/").json())
    bad = api.get("/api/v1/catalog/flavors/", {"architecture": "sparc"})
    assert bad.status_code == 400 and "sparc" in bad.json()["architecture"][0]


@pytest.fixture
def profile(db):
    _demo_profile()
    return Profile.objects.get(name="dc1-standard")


def test_profile_detail_shows_parts_and_user_data_per_architecture(member, profile, fake_cloud):
    body = as_user(member).get("/api/v1/catalog/profiles/dc1-standard/").json()
    assert body["name"] == "dc1-standard" and body["parts"] == [p["kind"] for p in profile.parts]
    assert set(body["user_data"]) == {"x86_64", "ppc64le"}
    assert all(text.startswith("#cloud-config") for text in body["user_data"].values())
    assert as_user(member).get(f"/api/v1/catalog/profiles/{profile.pk}/").json()["name"] == "dc1-standard"


def test_profile_detail_matrix(people, profile, fake_cloud):
    url = "/api/v1/catalog/profiles/dc1-standard/"
    everyone = {"anonymous": 401, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, url, everyone, api=True)
    Profile.objects.filter(pk=profile.pk).update(is_active=False)
    # The catalog lists what can be requested: a profile no longer offered is gone from it for everyone.
    gone = {"anonymous": 401, "member": 404, "outsider": 404, "manager": 404, "admin": 404}
    check_matrix(people, url, gone, api=True)
