"""The REST API skeleton: authentication, scoping, pagination, schema."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import ApiToken, AuditEvent
from portal.services import api_token_create, audit_record
from tests.factories import TeamFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_me_with_a_token_names_role_and_teams(member, team):
    _token, key = api_token_create(user=member, name="cli", source="test")
    body = bearer(key).get("/api/v1/me/").json()
    assert body["username"] == "member" and body["role"] == "developer"
    assert body["teams"] == [{"slug": "alpha", "name": "Alpha", "level": "member"}]


def test_a_bad_token_gets_401_with_what_to_do(member):
    response = bearer("kn_not-a-token").get("/api/v1/me/")
    assert response.status_code == 401
    assert "kennel login" in response.json()["detail"]


def test_an_expired_token_is_refused(member):
    token, key = api_token_create(user=member, name="old", source="test")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timezone.timedelta(minutes=1))
    assert bearer(key).get("/api/v1/me/").status_code == 401


def test_a_deactivated_users_token_is_refused(member):
    _token, key = api_token_create(user=member, name="cli", source="test")
    member.is_active = False
    member.save()
    assert bearer(key).get("/api/v1/me/").status_code == 401


def test_token_api_creates_shows_key_once_and_revokes(member):
    client = APIClient()
    client.force_authenticate(member)
    created = client.post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert created.status_code == 201
    key = created.json()["key"]
    assert bearer(key).get("/api/v1/me/").status_code == 200
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["ci"] and "key" not in listed[0]
    assert client.delete(f"/api/v1/tokens/{created.json()['id']}/").status_code == 204
    assert bearer(key).get("/api/v1/me/").status_code == 401
    assert AuditEvent.objects.filter(action="token.revoke", actor=member).exists()


def test_token_api_rejects_a_missing_name_with_a_reason(member):
    client = APIClient()
    client.force_authenticate(member)
    response = client.post("/api/v1/tokens/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["This field is required."]}
    assert not ApiToken.objects.exists()


def test_team_endpoint_matrix(people, team):
    check_matrix(
        people,
        f"/api/v1/teams/{team.slug}/",
        {"anonymous": 401, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
        api=True,
    )


def test_team_list_is_scoped(people, team, other_team):
    client = APIClient()
    client.force_authenticate(people["member"])
    assert [t["slug"] for t in client.get("/api/v1/teams/").json()["results"]] == ["alpha"]
    client.force_authenticate(people["manager"])
    assert [t["slug"] for t in client.get("/api/v1/teams/").json()["results"]] == ["alpha", "beta"]


def test_audit_endpoint_gives_developers_only_their_own_entries(people):
    audit_record(actor=people["admin"], action="server.power_off")
    audit_record(actor=people["member"], action="vm.create")
    client = APIClient()
    client.force_authenticate(people["member"])
    assert [e["action"] for e in client.get("/api/v1/audit/").json()["results"]] == ["vm.create"]
    client.force_authenticate(people["manager"])
    actions = {e["action"] for e in client.get("/api/v1/audit/", {"action": "server"}).json()["results"]}
    assert actions == {"server.power_off"}


def test_lists_are_paginated_on_the_server(manager):
    for n in range(55):
        TeamFactory(slug=f"t{n:02d}", name=f"T{n:02d}")
    client = APIClient()
    client.force_authenticate(manager)
    first = client.get("/api/v1/teams/").json()
    assert first["count"] == 55 and len(first["results"]) == 50 and first["next"]
    assert len(client.get(first["next"]).json()["results"]) == 5


def test_openapi_schema_describes_the_api(member):
    client = APIClient()
    client.force_authenticate(member)
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert {"/api/v1/me/", "/api/v1/teams/", "/api/v1/tokens/", "/api/v1/servers/"} <= set(schema["paths"])
    assert "apiToken" in schema["components"]["securitySchemes"]


def test_servers_endpoint_matrix(people):
    check_matrix(
        people,
        "/api/v1/servers/",
        {"anonymous": 401, "member": 200, "outsider": 200, "manager": 200, "admin": 200},
        api=True,
    )
    client = APIClient()
    client.force_authenticate(people["member"])
    assert client.get("/api/v1/servers/").json()["count"] == 0


def test_the_openapi_schema_generates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", "/dev/null")
