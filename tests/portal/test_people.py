"""The People page: managers read, admins change roles and who may sign in."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from portal.models import AuditEvent, Role
from portal.services import api_token_create
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_people_page_matrix(people):
    check_matrix(
        people,
        reverse("people"),
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200},
    )


def test_managers_read_and_cannot_change(people):
    manager = client_for(people["manager"])
    page = manager.get(reverse("people")).content.decode()
    assert "member" in page and 'name="role"' not in page
    response = manager.post(reverse("people"), {"user": people["member"].pk, "active": "0"})
    assert response.status_code == 404
    people["member"].refresh_from_db()
    assert people["member"].is_active


def test_an_admin_keeps_a_person_out_of_the_portal_and_its_api(people):
    member = people["member"]
    _token, key = api_token_create(user=member, name="cli", source="test")
    session = client_for(member)
    admin = client_for(people["admin"])
    response = admin.post(reverse("people"), {"user": member.pk, "active": "0"})
    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.is_active
    assert session.get(reverse("home")).status_code == 302  # the open session ends
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/me/").status_code == 401
    assert AuditEvent.objects.filter(action="user.deactivate", target_id=str(member.pk)).exists()
    admin.post(reverse("people"), {"user": member.pk, "active": "1"})
    member.refresh_from_db()
    assert member.is_active and api.get("/api/v1/me/").status_code == 200


def test_an_admin_changes_a_role_but_not_their_own_and_cannot_lock_themselves_out(people):
    admin = client_for(people["admin"])
    admin.post(reverse("people"), {"user": people["member"].pk, "role": Role.MANAGER})
    people["member"].refresh_from_db()
    assert people["member"].role == Role.MANAGER
    page = admin.post(reverse("people"), {"user": people["admin"].pk, "role": Role.DEVELOPER}, follow=True)
    assert "cannot change your own role" in page.content.decode()
    page = admin.post(reverse("people"), {"user": people["admin"].pk, "active": "0"}, follow=True)
    assert "cannot deactivate yourself" in page.content.decode()
    people["admin"].refresh_from_db()
    assert people["admin"].is_active and people["admin"].role == Role.ADMIN
    page = admin.post(reverse("people"), {"user": people["member"].pk, "role": "root"}, follow=True)
    assert "Unknown role" in page.content.decode()


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_people_api_is_scoped_like_the_teams(people):
    check_matrix(
        people,
        f"/api/v1/people/{people['outsider'].pk}/",
        {"anonymous": 401, "member": 404, "outsider": 200, "manager": 200, "admin": 200},
        api=True,
    )
    names = {p["username"] for p in api_for(people["manager"]).get("/api/v1/people/").json()["results"]}
    assert {"member", "outsider", "manager", "admin"} <= names
    assert {p["username"] for p in api_for(people["member"]).get("/api/v1/people/").json()["results"]} == {
        "member"
    }


def test_only_admins_change_people_through_the_api(people):
    url = f"/api/v1/people/{people['member'].pk}/"
    refused = api_for(people["manager"]).patch(url, {"is_active": False}, format="json")
    assert refused.status_code == 403
    changed = api_for(people["admin"]).patch(url, {"role": "manager", "is_active": False}, format="json")
    assert changed.status_code == 200 and (changed.json()["role"], changed.json()["is_active"]) == (
        "manager",
        False,
    )
    own = api_for(people["admin"]).patch(
        f"/api/v1/people/{people['admin'].pk}/", {"is_active": False}, format="json"
    )
    assert own.status_code == 400 and "yourself" in own.json()["non_field_errors"][0]
    assert api_for(people["admin"]).patch(url, {}, format="json").status_code == 400
