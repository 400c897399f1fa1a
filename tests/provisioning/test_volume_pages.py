"""Volumes in the browser's pages and the API (FakeCloud with Cinder; the worker's steps are driven in
the test): ask for one, follow it, attach it from the list, see it and detach it on the VM's page,
delete it after a confirmation; refusals are form errors and 400s with the reason; other teams see
nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from provisioning.models import Volume
from tests.provisioning.test_services import build, submit
from tests.provisioning.test_volumes import advance

pytestmark = pytest.mark.django_db
Status = Volume.Status
LIST = "/vms/volumes/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_member_asks_attaches_detaches_and_deletes_a_volume_in_the_pages(
    fake_cloud_with_volumes, member, team
):
    vm = build(submit(member, team, name="web1"))
    web = client_for(member)
    page = web.get(LIST).content.decode()
    assert 'data-testid="volume-form"' in page and "No volumes yet." in page
    answer = web.post(LIST, {"team": team.pk, "name": "data", "size_gb": "5"}, follow=True)
    assert "Volume data asked for" in answer.content.decode()
    volume = Volume.objects.get(name="data")
    busy = web.get(LIST, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in busy and 'data-status="queued"' in busy  # the list follows it
    volume = advance(volume)

    page = web.get(LIST).content.decode()
    assert 'data-status="available"' in page and f'<option value="{vm.pk}">web1</option>' in page
    assert 'hx-trigger="every 2s"' not in page
    web.post(f"/vms/volumes/{volume.pk}/attach/", {"vm": vm.pk})
    volume = advance(volume)
    assert volume.status == Status.IN_USE
    vm_page = web.get(f"/vms/{vm.pk}/").content.decode()
    assert 'data-volume="data" data-status="in_use"' in vm_page and "<code>/dev/sdb</code>" in vm_page
    confirm = web.get(f"/vms/{vm.pk}/delete/").content.decode()
    assert "Its volumes are detached and kept: data" in confirm  # deleting the VM keeps the volume

    answer = web.post(f"/vms/volumes/{volume.pk}/detach/", {"from_vm": vm.pk})
    assert answer.status_code == 302 and answer["Location"] == f"/vms/{vm.pk}/"
    volume = advance(volume)
    vm_page = web.get(f"/vms/{vm.pk}/").content.decode()
    assert 'data-testid="attach-data"' in vm_page  # offered again, from the VM's page

    confirm = web.get(f"/vms/volumes/{volume.pk}/delete/").content.decode()
    assert "Its 5 GB of data are deleted for good" in confirm
    web.post(f"/vms/volumes/{volume.pk}/delete/")
    assert advance(volume).status == Status.DELETED
    assert "No volumes yet." in web.get(LIST).content.decode()


def test_a_bad_request_is_a_form_error_and_another_team_sees_nothing(
    fake_cloud_with_volumes, member, outsider, team
):
    web = client_for(member)
    answer = web.post(LIST, {"team": team.pk, "name": "data", "size_gb": "0"})
    assert answer.status_code == 400 and "greater than or equal to 1" in answer.content.decode()
    answer = web.post(LIST, {"team": team.pk, "name": "bad name", "size_gb": "1"})
    assert answer.status_code == 400 and "Use 1 to 63 letters" in answer.content.decode()
    assert not Volume.objects.exists()
    volume = advance(
        Volume.objects.get(
            pk=web.post(LIST, {"team": team.pk, "name": "ok", "size_gb": "1"}) and Volume.objects.get().pk
        )
    )
    theirs = client_for(outsider)
    assert 'data-volume="ok"' not in theirs.get(LIST).content.decode()
    assert theirs.get(f"/vms/volumes/{volume.pk}/delete/").status_code == 404
    for path in ("attach", "detach", "delete"):
        assert theirs.post(f"/vms/volumes/{volume.pk}/{path}/", {"vm": "1"}).status_code == 404
    # The outsider's own team is the only one their form offers.
    assert f'value="{team.pk}"' not in theirs.get(LIST).content.decode()


def test_the_api_asks_follows_attaches_and_refuses_with_reasons(fake_cloud_with_volumes, member, team):
    vm = build(submit(member, team, name="web1"))
    api = client_for(member)
    made = api.post(
        "/api/v1/volumes/", {"team": "alpha", "name": "data", "size_gb": 5}, content_type="application/json"
    )
    assert made.status_code == 201 and made.json()["status"] == "queued" and made.json()["busy"] is True
    volume = advance(Volume.objects.get(pk=made.json()["id"]))
    listed = api.get("/api/v1/volumes/", {"team": "alpha"}).json()["results"]
    assert [(v["name"], v["status"], v["size_gb"]) for v in listed] == [("data", "available", 5)]
    attached = api.post(
        f"/api/v1/volumes/{volume.pk}/attach/", {"vm": vm.pk}, content_type="application/json"
    )
    assert attached.status_code == 202 and attached.json()["status"] == "attaching"
    advance(volume)
    shown = api.get(f"/api/v1/volumes/{volume.pk}/").json()
    assert (shown["status"], shown["vm"], shown["vm_name"], shown["device"]) == (
        "in_use",
        vm.pk,
        "web1",
        "/dev/sdb",
    )
    refused = api.delete(f"/api/v1/volumes/{volume.pk}/")
    assert refused.status_code == 400 and "detach it first" in str(refused.json())
    for body, field in (({"team": "alpha", "name": "data", "size_gb": 1}, "name"),
                        ({"team": "alpha", "name": "x", "size_gb": 0}, "size_gb"),
                        ({"team": "nope", "name": "x", "size_gb": 1}, "team")):  # fmt: skip
        answer = api.post("/api/v1/volumes/", body, content_type="application/json")
        assert answer.status_code == 400 and field in answer.json(), (body, answer.json())
    assert (
        api.post(
            f"/api/v1/volumes/{volume.pk}/attach/", {"vm": 999999}, content_type="application/json"
        ).status_code
        == 400
    )
    assert api.post(f"/api/v1/volumes/{volume.pk}/detach/").status_code == 202
    advance(volume)
    assert api.delete(f"/api/v1/volumes/{volume.pk}/").status_code == 202
    assert advance(volume).status == Status.DELETED
    assert api.get(f"/api/v1/volumes/{volume.pk}/").status_code == 404
