"""In a real browser, at a phone's width and a laptop's: a VM's history reads in Chinese (messages stored
by workers as catalogue ids), an admin cancels a power action that waits for a second admin, and adds a
person who gets a first sign-in link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from playwright.sync_api import Page, expect

from inventory.models import PowerRequest, ServerRole
from portal.models import Membership, Role, User
from provisioning import stored_messages as texts
from provisioning.models import VmEvent, VmRequest
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    PowerRequestFactory,
    ServerFactory,
    TeamFactory,
    UserFactory,
    VmRequestFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "e2e"
WIDTHS = [390, 1366]


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("who")).to_contain_text(username)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_vms_history_reads_in_chinese(page: Page, live_server, width):
    dev1 = UserFactory(username="dev1")
    team = TeamFactory(slug="alpha", name="Team Alpha")
    MembershipFactory(user=dev1, team=team, level=Membership.Level.LEAD)
    vm = VmRequestFactory(owner=dev1, team=team, name="web1", host="x2")
    for status, message in [
        (VmRequest.Status.QUEUED, texts.REQUESTED(user="dev1")),
        (VmRequest.Status.BUILDING, texts.CLOUD_ACCEPTED(id="5f0c6e2a")),
        (VmRequest.Status.ACTIVE, texts.BUILT(host="x2")),
        (
            VmRequest.Status.ACTIVE,
            texts.ACTION_ASKED(user="dev1", action=texts.ACTION_VERBS["reboot_soft"]()),
        ),
        (VmRequest.Status.ACTIVE, texts.FLOATING_IP_ATTACHED(ip="203.0.113.10")),
        (VmRequest.Status.ACTIVE, texts.LEASE_EXTENDED(user="dev1", date="2027-01-31")),
    ]:
        VmEvent.objects.create(
            request=vm, status=status, message=message.english(), message_ref=message.ref()
        )
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "dev1")
    # What the language selector stores (at 390 px it sits in the folded menu).
    page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "zh-hans", "url": live_server.url}]
    )

    page.goto(f"{live_server.url}/vms/{vm.pk}/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    history = page.get_by_test_id("vm-events")
    expect(history.locator("li")).to_have_count(6)
    text = history.inner_text()
    assert "由 dev1 申请。" in text and "已在 x2 上创建。" in text, text
    assert not re.search(r"Requested by|Built on|asked to|accepted the request|attached|extended", text), text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"vm-history-zh-{width}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_cancels_a_power_action_awaiting_a_second_admin(page: Page, live_server, width):
    UserFactory(username="admin", role=Role.ADMIN)
    waiting = PowerRequestFactory(
        server=ServerFactory(name="ctl1", roles=[ServerRole.CONTROLLER.value]),
        status=PowerRequest.Status.AWAITING_CONFIRMATION,
    )
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "admin")
    page.goto(f"{live_server.url}/inventory/servers/{waiting.server_id}/")

    page.get_by_test_id("power-cancel").click()

    expect(page.get_by_text("Power action cancelled.")).to_be_visible()
    expect(page.get_by_test_id("power-cancel")).to_have_count(0)
    waiting.refresh_from_db()
    assert waiting.status == PowerRequest.Status.CANCELLED


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_adds_a_person_who_gets_a_sign_in_link(page: Page, live_server, settings, width):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from celery import current_app

    current_app.conf.task_always_eager = True
    try:
        UserFactory(username="admin", role=Role.ADMIN)
        page.set_viewport_size({"width": width, "height": 900})
        sign_in(page, live_server.url, "admin")
        page.goto(f"{live_server.url}/people/")
        page.get_by_test_id("person-add-link").click()
        page.get_by_label("User name").fill("newbie")
        page.get_by_label("E-mail").fill("newbie@example.org")
        page.get_by_role("button", name="Add and send the sign-in link").click()

        expect(page.get_by_text("newbie was added")).to_be_visible()
        expect(page.locator('tr[data-user="newbie"]')).to_be_visible()
        assert User.objects.get(username="newbie").has_usable_password() is False
        assert [m.to for m in mail.outbox] == [["newbie@example.org"]]
        link = re.search(r"/account/set-password/\S+/", mail.outbox[0].body).group(0)

        fresh = page.context.browser.new_page(viewport={"width": width, "height": 900})
        fresh.goto(f"{live_server.url}{link}")
        fresh.get_by_label("New password", exact=True).fill("a-long-new-passphrase-7")
        fresh.get_by_label("New password confirmation").fill("a-long-new-passphrase-7")
        fresh.get_by_role("button", name="Set the password").click()
        expect(fresh.get_by_role("heading", name="Sign in to Kennel")).to_be_visible()
        fresh.close()
        assert User.objects.get(username="newbie").check_password("a-long-new-passphrase-7")
    finally:
        current_app.conf.task_always_eager = False
