"""API tokens: an expiry by default, a clear answer once expired, and the read-only scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import ApiToken
from portal.services import api_token_create
from tests.factories import PASSWORD
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


def bearer(key: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {key}")


def test_a_new_token_expires_after_the_configured_days(member, settings):
    settings.KENNEL_API_TOKEN_DAYS = 30
    token, _key = api_token_create(user=member, name="cli", source="test")
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)


def test_with_zero_days_a_token_does_not_expire(member, settings):
    settings.KENNEL_API_TOKEN_DAYS = 0
    token, _key = api_token_create(user=member, name="cli", source="test")
    assert token.expires_at is None


def test_a_token_may_be_shorter_lived_but_never_longer_or_past(member, settings):
    settings.KENNEL_API_TOKEN_DAYS = 30
    soon = timezone.now() + timedelta(days=2)
    token, _key = api_token_create(user=member, name="cli", source="test", expires_at=soon)
    assert token.expires_at == soon
    with pytest.raises(ValidationError, match="at most 30 days"):
        api_token_create(user=member, name="x", source="test", expires_at=soon + timedelta(days=40))
    with pytest.raises(ValidationError, match="future"):
        api_token_create(user=member, name="x", source="test", expires_at=timezone.now())
    assert ApiToken.objects.count() == 1


def test_an_expired_token_gets_401_saying_it_expired(member):
    token, key = api_token_create(user=member, name="cli", source="test")
    assert bearer(key).get("/api/v1/me/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = bearer(key).get("/api/v1/me/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("This token expired on ")
    assert "kennel login" in response.json()["detail"]


def test_a_read_only_token_reads_and_gets_403_on_every_change(member, team):
    _token, key = api_token_create(user=member, name="ro", source="test", read_only=True)
    client = bearer(key)
    assert client.get("/api/v1/me/").status_code == 200
    assert client.get("/api/v1/tokens/").status_code == 200
    for method, path in [
        ("post", "/api/v1/tokens/"),
        ("delete", f"/api/v1/tokens/{_token.pk}/"),
        ("patch", f"/api/v1/people/{member.pk}/"),
        ("post", "/api/v1/vms/"),
        ("put", "/api/v1/vms/1/"),
        ("post", "/api/v1/quota-requests/"),
    ]:
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 403, (method, path)
        assert "read-only" in response.json()["detail"]
    assert ApiToken.objects.filter(pk=_token.pk).exists()
    # It may still give itself up.
    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert not ApiToken.objects.filter(pk=_token.pk).exists()


def test_the_api_creates_and_lists_tokens_with_expiry_and_scope(member, settings):
    settings.KENNEL_API_TOKEN_DAYS = 90
    api = APIClient()
    api.force_authenticate(member)
    created = api.post("/api/v1/tokens/", {"name": "ci", "read_only": True}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["read_only"] is True and body["expires_at"] and body["key"].startswith("kn_")
    listed = api.get("/api/v1/tokens/").json()["results"][0]
    assert (listed["read_only"], listed["expires_at"]) == (True, body["expires_at"])
    too_long = (timezone.now() + timedelta(days=400)).isoformat()
    refused = api.post("/api/v1/tokens/", {"name": "x", "expires_at": too_long}, format="json")
    assert refused.status_code == 400 and "90 days" in refused.json()["expires_at"][0]


def test_the_login_api_issues_a_read_only_token_on_request(member):
    response = APIClient().post(
        "/api/v1/auth/login/",
        {"username": "member", "password": PASSWORD, "read_only": True},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["read_only"] is True and body["expires_at"]
    assert bearer(body["key"]).post("/api/v1/tokens/", {"name": "x"}, format="json").status_code == 403


def test_the_tokens_page_shows_expiry_and_scope_and_makes_read_only_tokens(member, settings):
    settings.KENNEL_API_TOKEN_DAYS = 90
    client = Client()
    client.force_login(member)
    page = client.post(reverse("token-list"), {"name": "ro", "read_only": "on"})
    assert page.status_code == 200
    token = ApiToken.objects.get(user=member)
    assert token.read_only and token.expires_at is not None
    html = page.content.decode()
    assert "A new token expires after 90 days." in html
    expires = html.split(f'data-testid="expires-{token.pk}">')[1].split("</td>")[0]
    assert f">{timezone.localtime(token.expires_at):%Y-%m-%d %H:%M}</time>" in expires  # the one format
    assert html.split(f'data-testid="scope-{token.pk}">')[1].startswith("read-only")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert "(expired)" in client.get(reverse("token-list")).content.decode()


def test_the_tokens_page_matrix(people):
    check_matrix(
        people,
        reverse("token-list"),
        {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200},
    )
