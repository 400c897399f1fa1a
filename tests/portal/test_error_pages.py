"""The portal's own error pages: status, the portal's layout (menu, a way home), translated, and never
Django's debug page unless in development mode."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal import errors
from tests.portal.test_settings import GOOD_FERNET_KEY, GOOD_SECRET, run_django

pytestmark = pytest.mark.django_db

TITLES = {
    400: ("Bad request", "请求无效"),
    403: ("Not allowed", "不允许"),
    404: ("Not found", "未找到"),
    500: ("Something went wrong", "出错了"),
    "csrf": ("The form could not be checked", "无法验证该表单"),
}


@pytest.fixture(autouse=True)
def production_like(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.portal.error_urls"


def signed_in(user, language="en", **kwargs) -> Client:
    client = Client(raise_request_exception=False, headers={"Accept-Language": language}, **kwargs)
    client.force_login(user)
    return client


def assert_portal_page(response, status, title: str, *, menu: bool = True) -> str:
    page = response.content.decode()
    assert response.status_code == status
    assert f'data-status="{status}"' in page and f"<h1>{title}</h1>" in page
    assert 'class="container-fluid topbar"' in page  # the portal's layout, not Django's page
    assert f'href="{reverse("home")}"' in page and 'data-testid="home-link"' in page
    assert "Traceback" not in page and "technical" not in page.lower()
    if menu:
        assert f'href="{reverse("provisioning:vm-list")}"' in page  # the person's menu
    return page


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_404_and_403_are_portal_pages_with_the_menu(member, language):
    client = signed_in(member, language)
    index = 0 if language == "en" else 1
    assert_portal_page(client.get("/no/such/page/"), 404, TITLES[404][index])
    assert_portal_page(client.get(reverse("people")), 403, TITLES[403][index])
    assert_portal_page(client.get(reverse("provisioning:vm-detail", args=[10**15])), 404, TITLES[404][index])


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_400_says_what_is_wrong(member, language):
    client = signed_in(member, language)
    index = 0 if language == "en" else 1
    page = assert_portal_page(client.get(reverse("provisioning:vm-list") + "?q=%00"), 400, TITLES[400][index])
    assert "%00" in page
    # Django's own 400s (here a host name not allowed) use the same page.
    refused = Client(raise_request_exception=False, headers={"Accept-Language": language})
    assert_portal_page(refused.get("/", HTTP_HOST="evil.example"), 400, TITLES[400][index], menu=False)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_500_is_the_portal_page_without_debug_details(member, language):
    client = signed_in(member, language)
    index = 0 if language == "en" else 1
    page = assert_portal_page(client.get("/boom/"), 500, TITLES[500][index], menu=False)
    assert "a bug nobody foresaw" not in page and "RuntimeError" not in page


def test_500_renders_without_the_database_or_a_user(django_db_blocker):
    request = RequestFactory().get("/boom/")  # no user, no session
    with CaptureQueriesContext(connection) as queries, django_db_blocker.block():
        response = errors.server_error(request)
    assert len(queries) == 0
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in response.content.decode()


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_refused_csrf_check_is_a_portal_page(member, language):
    client = signed_in(member, language, enforce_csrf_checks=True)
    index = 0 if language == "en" else 1
    response = client.post(reverse("provisioning:ssh-keys"), {"name": "x", "public_key": "y"})
    assert_portal_page(response, 403, TITLES["csrf"][index])


def test_production_mode_refuses_debug():
    result = run_django(
        {
            "KENNEL_MODE": "production",
            "DJANGO_DEBUG": "1",
            "DJANGO_SECRET_KEY": GOOD_SECRET,
            "DJANGO_ALLOWED_HOSTS": "kennel.example.org",
            "DATABASE_URL": "postgres://k@127.0.0.1/k",
            "KENNEL_ENCRYPTION_KEY": GOOD_FERNET_KEY,
        },
        "check",
    )
    assert result.returncode != 0 and "DJANGO_DEBUG must be off" in result.stderr


def test_debug_is_on_only_in_development_mode():
    production = run_django(
        {
            "KENNEL_MODE": "production",
            "DJANGO_SECRET_KEY": GOOD_SECRET,
            "DJANGO_ALLOWED_HOSTS": "kennel.example.org",
            "DATABASE_URL": "postgres://k@127.0.0.1/k",
            "KENNEL_ENCRYPTION_KEY": GOOD_FERNET_KEY,
        },
        "shell",
        "-c",
        "from django.conf import settings; print('DEBUG', settings.DEBUG)",
    )
    assert "DEBUG False" in production.stdout, production.stderr
    development = run_django(
        {}, "shell", "-c", "from django.conf import settings; print('DEBUG', settings.DEBUG)"
    )
    assert "DEBUG True" in development.stdout, development.stderr


def test_under_the_api_the_same_errors_are_json(member):
    client = signed_in(member)
    missing = client.get("/api/v1/no-such-endpoint/")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found."}
    failed = errors.server_error(RequestFactory().get("/api/v1/vms/"))
    assert failed.status_code == 500 and failed["Content-Type"] == "application/json"
