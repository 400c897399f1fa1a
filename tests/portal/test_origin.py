"""X-Forwarded-* headers count only from a trusted proxy: a direct client cannot claim HTTPS."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PROXY = "10.9.8.7"


@pytest.fixture
def https_behind_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.KENNEL_TRUSTED_PROXIES = [PROXY]


def test_a_direct_client_claiming_https_is_still_redirected_to_https(https_behind_proxy):
    response = Client(REMOTE_ADDR="203.0.113.9").get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert "HTTP_X_FORWARDED_PROTO" not in response.wsgi_request.META


def test_the_trusted_proxy_saying_https_is_believed(https_behind_proxy):
    response = Client(REMOTE_ADDR=PROXY).get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response.wsgi_request.is_secure()


def test_without_trusted_proxies_no_forwarded_header_survives(settings):
    settings.KENNEL_TRUSTED_PROXIES = []
    response = Client(REMOTE_ADDR="127.0.0.1").get(
        "/login/",
        HTTP_X_FORWARDED_FOR="198.51.100.1",
        HTTP_X_FORWARDED_HOST="evil.example",
        HTTP_FORWARDED="for=x",
    )
    meta = response.wsgi_request.META
    assert not {"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED"} & set(meta)
