"""An admin withdraws a cloud-init profile and is asked before a part is removed, in Chromium at a
phone's width and a laptop's (live server; no cloud needed)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from kennel.demo import _demo_profile
from portal.models import Role, User
from provisioning.models import Profile
from tests.e2e.test_quota_flow import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)
PASSWORD = "e2e-profiles-pw"


@pytest.fixture
def profile(transactional_db) -> Profile:
    User.objects.create_user("ada", password=PASSWORD, role=Role.ADMIN)
    _demo_profile()
    return Profile.objects.get(name="dc1-standard")


@pytest.mark.parametrize("width", [390, 1366])
def test_an_admin_withdraws_a_profile_and_is_asked_before_a_part_goes(
    page: Page, live_server, profile, width
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "ada", PASSWORD)
    page.goto(live_server.url + reverse("provisioning:profile-detail", args=[profile.pk]))
    state = page.get_by_test_id("profile-state")
    expect(state).to_have_attribute("data-state", "offered")
    page.get_by_test_id("withdraw").click()
    expect(page.get_by_test_id("profile-state")).to_have_attribute("data-state", "not_offered")
    profile.refresh_from_db()
    assert not profile.is_active
    before = len(profile.parts)
    page.get_by_test_id("remove-part").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Remove the")
    expect(page.get_by_text("VMs already built keep theirs")).to_be_visible()
    profile.refresh_from_db()
    assert len(profile.parts) == before  # asking removed nothing
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    page.get_by_test_id("confirm-remove").click()
    expect(page.get_by_test_id("profile-state")).to_be_visible()
    profile.refresh_from_db()
    assert len(profile.parts) == before - 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
