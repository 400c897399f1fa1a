"""The People page: managers read, admins change roles and who may sign in."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from portal.models import ApiToken, AuditEvent, Role, User
from portal.services import api_token_create
from tests.factories import MembershipFactory, TeamFactory, UserFactory
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
    assert "member" in page and 'aria-label="Role of' not in page  # the filter's role select is no form
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
    # Let in again: neither the old token nor the old session comes back.
    assert member.is_active and api.get("/api/v1/me/").status_code == 401
    assert session.get(reverse("home")).status_code == 302
    assert not ApiToken.objects.filter(user=member).exists()


@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.signed_cookies",
        "django.contrib.sessions.backends.cache",
    ],
)
def test_keeping_someone_out_ends_their_sessions_for_good_in_any_session_store(
    people, settings, clean_cache, engine
):
    settings.SESSION_ENGINE = engine
    member = people["member"]
    old = client_for(member)
    cookie = old.cookies[settings.SESSION_COOKIE_NAME].value
    assert old.get(reverse("home")).status_code == 200
    _token, key = api_token_create(user=member, name="cli", source="test")
    admin = client_for(people["admin"])
    admin.post(reverse("people"), {"user": member.pk, "active": "0"})
    admin.post(reverse("people"), {"user": member.pk, "active": "1"})
    # The old cookie, replayed by a fresh client (nothing flushed on the client's side).
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert replay.get(reverse("home")).status_code == 302
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/me/").status_code == 401
    # A new sign-in works, and a person never kept out keeps their session across all this.
    member.refresh_from_db()
    assert client_for(member).get(reverse("home")).status_code == 200
    assert admin.get(reverse("home")).status_code == 200
    event = AuditEvent.objects.get(action="user.deactivate", target_id=str(member.pk))
    assert event.detail == {"tokens_revoked": 1, "sessions_ended": True}


def test_the_api_keeps_someone_out_for_good_too(people):
    member = people["member"]
    _token, key = api_token_create(user=member, name="cli", source="test")
    url = f"/api/v1/people/{member.pk}/"
    assert api_for(people["admin"]).patch(url, {"is_active": False}, format="json").status_code == 200
    assert api_for(people["admin"]).patch(url, {"is_active": True}, format="json").status_code == 200
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/me/").status_code == 401


def make_superuser(username: str = "root"):
    from portal.models import User

    return User.objects.create_superuser(username, "root@example.org", "x-long-enough-pass")


def test_a_superuser_is_shown_and_stored_as_admin(people):
    root = make_superuser()
    assert root.role == Role.ADMIN and root.portal_role == Role.ADMIN
    page = client_for(people["admin"]).get(reverse("people")).content.decode()
    row = page.split(f'data-user="{root.username}"')[1].split("</tr>")[0]
    assert '<option value="admin" selected>' in row and "superuser" in row
    body = api_for(people["manager"]).get(f"/api/v1/people/{root.pk}/").json()
    assert (body["role"], body["is_superuser"]) == ("admin", True)


def test_a_superuser_whose_stored_role_lies_is_shown_as_admin(people):
    root = make_superuser()
    type(root).objects.filter(pk=root.pk).update(role=Role.DEVELOPER)  # as before this release
    page = client_for(people["manager"]).get(reverse("people")).content.decode()
    row = page.split(f'data-user="{root.username}"')[1].split("</tr>")[0]
    assert "Admin" in row and "Developer" not in row
    assert api_for(people["manager"]).get(f"/api/v1/people/{root.pk}/").json()["role"] == "admin"


@pytest.mark.parametrize("channel", ["page", "api"])
def test_demoting_a_superuser_takes_effect(people, channel):
    root = make_superuser()
    admin = people["admin"]
    if channel == "page":
        response = client_for(admin).post(reverse("people"), {"user": root.pk, "role": Role.DEVELOPER})
        assert response.status_code == 302
    else:
        response = api_for(admin).patch(f"/api/v1/people/{root.pk}/", {"role": "developer"}, format="json")
        assert response.status_code == 200 and response.json()["role"] == "developer"
        assert response.json()["is_superuser"] is False
    root.refresh_from_db()
    assert (root.portal_role, root.is_superuser, root.is_staff) == (Role.DEVELOPER, False, False)
    # What applies: the People page is for managers and admins only now.
    assert client_for(root).get(reverse("people")).status_code == 403
    event = AuditEvent.objects.get(action="user.set_role", target_id=str(root.pk))
    assert event.detail == {"from": "admin", "to": "developer", "superuser_removed": True}


def test_a_superuser_cannot_demote_themselves(people):
    root = make_superuser()
    response = api_for(root).patch(f"/api/v1/people/{root.pk}/", {"role": "manager"}, format="json")
    assert response.status_code == 400
    root.refresh_from_db()
    assert root.is_superuser and root.portal_role == Role.ADMIN


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


def _crowd(n: int) -> None:
    """``n`` more people, each in a team of their own (the page shows their teams)."""
    teams = TeamFactory.create_batch(n)
    for i, team in enumerate(teams):
        MembershipFactory(user=UserFactory(username=f"crowd{i:03d}", first_name="Crowd"), team=team)


def test_the_people_page_is_paged_searched_and_sorted_by_the_database(people):
    _crowd(60)
    manager = client_for(people["manager"])
    first = manager.get(reverse("people")).content.decode()
    assert first.count("data-user=") == 50 and "Page 1 of 2" in first
    second = manager.get(reverse("people") + "?page=2").content.decode()
    assert second.count("data-user=") == User.objects.count() - 50
    assert manager.get(reverse("people") + "?page=3").status_code == 404
    found = manager.get(reverse("people") + "?q=crowd017").content.decode()
    assert found.count("data-user=") == 1 and 'data-user="crowd017"' in found
    last = manager.get(reverse("people") + "?q=crowd&ordering=-user").content.decode()
    assert last.index('data-user="crowd059"') < last.index('data-user="crowd058"')
    admins = manager.get(reverse("people") + "?role=admin").content.decode()
    assert admins.count("data-user=") == 1 and f'data-user="{people["admin"].username}"' in admins


def test_a_change_comes_back_to_the_same_page_and_search(people):
    _crowd(3)
    admin = client_for(people["admin"])
    url = reverse("people") + "?q=crowd&ordering=-user"
    response = admin.post(url, {"user": User.objects.get(username="crowd001").pk, "active": "0"})
    assert response.status_code == 302 and response["Location"] == url
    assert not User.objects.get(username="crowd001").is_active


@pytest.mark.parametrize("n", [5, 120])
def test_the_people_page_costs_the_same_queries_for_5_or_120_people(n, people, django_assert_max_num_queries):
    _crowd(n)
    admin = client_for(people["admin"])
    # Session, user, count, the page of people, their memberships with teams, the messages: as many
    # for 5 people as for 120.
    with django_assert_max_num_queries(7):
        response = admin.get(reverse("people"))
    assert response.status_code == 200
    assert response.content.decode().count("data-user=") == min(50, User.objects.count())


def test_the_people_api_pages_searches_and_refuses_an_odd_page(people):
    _crowd(60)
    api = APIClient()
    api.force_authenticate(people["manager"])
    first = api.get("/api/v1/people/").json()
    assert first["count"] == User.objects.count() and len(first["results"]) == 50
    assert api.get("/api/v1/people/?page=3").status_code == 404
    assert api.get("/api/v1/people/?page=x").status_code == 404
    found = api.get("/api/v1/people/?q=crowd042").json()
    assert [p["username"] for p in found["results"]] == ["crowd042"]
