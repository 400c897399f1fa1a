"""A real browser signs in with a company account (the real slapd of tests/conftest.py) and lands as
the role its directory groups give."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from portal.models import User

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_directory_admin_signs_in_through_the_browser(page: Page, live_server, ldap_settings):
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-secret")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_test_id("landing-admin")).to_be_visible()
    expect(page.get_by_test_id("who")).to_contain_text("alice")
    assert User.objects.get(username="alice").directory_dn.startswith("uid=alice,")

    page.goto(f"{live_server.url}/admin/portal/auditevent/")  # and, as a portal admin, Django's admin
    expect(page.get_by_text("user.create").first).to_be_visible()
