"""Sign-in limits (django-axes) on the login page and the API's login, by account and by address,
and the client address behind a trusted reverse proxy (portal.origin.client_ip)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from portal.models import ApiToken
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"
PROXY = "10.9.8.7"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.KENNEL_LOGIN_COOLOFF_SECONDS = 600
    settings.AXES_COOLOFF_TIME = __import__("datetime").timedelta(seconds=600)


def web_login(client: Client, username: str, password: str, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def api_login(username: str, password: str, **extra):
    return APIClient().post(LOGIN, {"username": username, "password": password}, format="json", **extra)


def test_fifty_wrong_passwords_on_the_login_page_then_the_right_one_is_refused(member):
    client = Client()
    codes = [web_login(client, "member", f"wrong-{n}").status_code for n in range(50)]
    first_refusal = codes.index(429) + 1
    print(f"web: attempts until lockout = {first_refusal}")
    assert codes[:4] == [200] * 4 and set(codes[4:]) == {429}
    right = web_login(client, "member", PASSWORD)
    assert right.status_code == 429 and int(right["Retry-After"]) == 600
    message = right.context["locked_out"]
    print(f"web: wait message = {message!r}")
    assert message == (
        "Too many failed sign-ins for this account or from this address. Try again in 10 minutes; "
        "each attempt before then starts the wait again."
    )
    assert message in right.text
    assert "_auth_user_id" not in client.session


def test_the_lockout_message_is_translated(member):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    for _ in range(5):
        response = web_login(client, "member", "wrong")
    assert response.status_code == 429
    assert "10 分钟" in response.context["locked_out"]


def test_fifty_wrong_passwords_on_the_api_then_the_right_one_gets_429_with_retry_after(member):
    codes = [api_login("member", f"wrong-{n}").status_code for n in range(50)]
    print(f"api: attempts until lockout = {codes.index(429) + 1}")
    assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}
    right = api_login("member", PASSWORD)
    assert right.status_code == 429 and right["Retry-After"] == "600"
    assert right.json() == {
        "detail": "Too many failed sign-ins for this account or from this address. Try again in 10 minutes; "
        "each attempt before then starts the wait again."
    }
    assert not ApiToken.objects.exists()


def test_the_account_is_locked_from_every_address_and_on_both_doors(member):
    for n in range(5):
        api_login("member", "wrong", REMOTE_ADDR=f"192.0.2.{n + 1}")
    # Each address failed once only; the account's own count locks it, on the web form too.
    assert web_login(Client(REMOTE_ADDR="198.51.100.1"), "member", PASSWORD).status_code == 429
    assert api_login("member", PASSWORD, REMOTE_ADDR="198.51.100.2").status_code == 429


def test_after_the_address_limit_another_account_from_that_address_is_refused_too(member, admin):
    for n in range(5):  # a spray: one wrong password each for five accounts
        api_login(f"someone-{n}", "wrong", REMOTE_ADDR="203.0.113.9")
    assert api_login("admin", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
    assert web_login(Client(REMOTE_ADDR="203.0.113.9"), "member", PASSWORD).status_code == 429
    # Another address still signs in.
    assert api_login("admin", PASSWORD, REMOTE_ADDR="203.0.113.10").status_code == 201


def test_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_change_the_address(member, settings):
    settings.KENNEL_TRUSTED_PROXIES = [PROXY]
    for n in range(5):
        api_login(f"someone-{n}", "wrong", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    # Every attempt counted against 203.0.113.9, whatever it claimed.
    fresh = api_login("member", PASSWORD, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.77")
    assert fresh.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(member, settings):
    settings.KENNEL_TRUSTED_PROXIES = ["10.9.8.0/24"]
    for n in range(5):
        api_login(f"someone-{n}", "wrong", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    # The attacker behind the proxy is locked out; another client behind the same proxy is not,
    # even when it sends its own (forged) X-Forwarded-For first: the proxy appends the real peer.
    locked = api_login("member", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert locked.status_code == 429
    other = api_login(
        "member", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.20"
    )
    assert other.status_code == 201
    assert other.wsgi_request.META["REMOTE_ADDR"] == PROXY


def test_the_audit_log_records_the_address_the_limits_use(member, settings):
    from portal.models import AuditEvent

    settings.KENNEL_TRUSTED_PROXIES = [PROXY]
    api_login("member", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert AuditEvent.objects.get(action="token.create").source == "api 198.51.100.20"
    api_login("member", PASSWORD, REMOTE_ADDR="192.0.2.50", HTTP_X_FORWARDED_FOR="198.51.100.21")
    assert AuditEvent.objects.filter(action="token.create").first().source == "api 192.0.2.50"


@pytest.mark.parametrize(
    ("peer", "header", "expected"),
    [
        ("192.0.2.1", "", "192.0.2.1"),
        ("192.0.2.1", "198.51.100.1", "192.0.2.1"),  # untrusted peer: header ignored
        (PROXY, "", PROXY),
        (PROXY, "198.51.100.1", "198.51.100.1"),
        (PROXY, "198.51.100.1, 10.9.8.1", "198.51.100.1"),  # a chain of trusted proxies
        (PROXY, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client's own claim is left of it
        (PROXY, "not-an-address", PROXY),
        (PROXY, "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_ip(rf, settings, peer, header, expected):
    from portal.origin import client_ip

    settings.KENNEL_TRUSTED_PROXIES = ["10.9.8.0/24"]
    request = rf.get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=header)
    assert client_ip(request) == expected


def test_a_success_below_the_limit_signs_in(member):
    client = Client()
    for _ in range(4):
        assert web_login(client, "member", "wrong").status_code == 200
    assert web_login(client, "member", PASSWORD).status_code == 302


def test_a_bad_trusted_proxy_setting_stops_the_start():
    from django.core.exceptions import ImproperlyConfigured

    from portal.origin import trusted_proxy_networks

    with pytest.raises(ImproperlyConfigured, match="not-a-net"):
        trusted_proxy_networks(("10.0.0.0/8", "not-a-net"))


def test_unknown_usernames_count_too(db):
    UserFactory(username="real")
    for n in range(5):
        api_login("real", "wrong", REMOTE_ADDR=f"192.0.2.{n + 1}")
    assert api_login("real", PASSWORD, REMOTE_ADDR="192.0.2.99").status_code == 429


def test_a_peer_that_is_no_ip_address_is_counted_by_account_alone(member):
    codes = [api_login("member", "wrong", REMOTE_ADDR="unix:/run/kennel.sock").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 401, 429]
    assert api_login("member", PASSWORD, REMOTE_ADDR="unix:/run/kennel.sock").status_code == 429
