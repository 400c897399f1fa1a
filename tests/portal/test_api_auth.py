"""Password login for the CLI (POST /api/v1/auth/login/) and logout of the token in use."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from portal.models import ApiToken, AuditEvent
from portal.services import api_token_create
from tests.factories import PASSWORD
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"
LOGOUT = "/api/v1/auth/logout/"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_login_with_the_password_returns_a_named_working_token_and_audits_it(member):
    response = APIClient().post(
        LOGIN, {"username": "member", "password": PASSWORD, "name": "laptop"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "laptop" and body["username"] == "member" and body["key"].startswith("kn_")
    assert bearer(body["key"]).get("/api/v1/me/").json()["username"] == "member"
    token = ApiToken.objects.get(pk=body["id"])
    assert token.user == member and token.digest == ApiToken.digest_of(body["key"])
    event = AuditEvent.objects.get(action="token.create")
    assert event.actor == member and event.source == "api 127.0.0.1"


def test_a_wrong_password_gets_401_with_a_reason_and_is_audited(member):
    response = APIClient().post(LOGIN, {"username": "member", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Wrong username or password, or the account is disabled."}
    assert not ApiToken.objects.exists()
    failed = AuditEvent.objects.get(action="auth.login")
    assert failed.outcome == AuditEvent.Outcome.FAILURE and "member" in failed.actor_name
    assert failed.source == "api 127.0.0.1"


def test_a_disabled_account_cannot_log_in(member):
    member.is_active = False
    member.save()
    response = APIClient().post(LOGIN, {"username": "member", "password": PASSWORD}, format="json")
    assert response.status_code == 401 and not ApiToken.objects.exists()


def test_missing_fields_get_400_naming_them(member):
    response = APIClient().post(LOGIN, {"username": "member"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"password": ["This field is required."]}


def test_a_stale_token_in_the_header_does_not_block_a_new_login(member):
    response = bearer("kn_revoked-long-ago").post(
        LOGIN, {"username": "member", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201 and response.json()["name"] == "kennel CLI"


def test_logout_revokes_exactly_the_token_in_use(member):
    _kept, kept_key = api_token_create(user=member, name="ci", source="test")
    _used, used_key = api_token_create(user=member, name="laptop", source="test")
    assert bearer(used_key).post(LOGOUT).status_code == 204
    assert bearer(used_key).get("/api/v1/me/").status_code == 401
    assert bearer(kept_key).get("/api/v1/me/").status_code == 200
    revoked = AuditEvent.objects.get(action="token.revoke")
    assert revoked.actor == member and revoked.target_repr.startswith("laptop")


def test_logout_with_a_session_says_it_needs_a_token(member):
    client = APIClient()
    client.force_login(member)
    response = client.post(LOGOUT)
    assert response.status_code == 400 and "API token" in response.json()["detail"]


def test_auth_endpoint_matrix(people):
    # Signed in with a session, nobody has a token to revoke; anonymous callers are refused.
    check_matrix(
        people,
        LOGOUT,
        {"anonymous": 401, "member": 400, "outsider": 400, "manager": 400, "admin": 400},
        method="post",
        api=True,
    )
    check_matrix(
        people,
        LOGIN,
        {"anonymous": 400, "member": 400, "outsider": 400, "manager": 400, "admin": 400},
        method="post",
        data={},
        api=True,
    )
