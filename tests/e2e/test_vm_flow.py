"""dev1 requests a ppc64le VM with a profile in Chromium, watches it go active, reboots it, deletes it:
live server, real Celery worker, real local OpenStack."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.live import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)  # two cores shared with the whole cloud: htmx swaps can take seconds


def test_dev1_requests_a_power_vm_watches_it_build_reboots_and_deletes_it(page: Page, live_server, demo):
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("dev1")
    page.get_by_label("Password").fill(demo["dev1"])
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/vms/new/")
    page.get_by_label("ppc64le").check()
    image = page.get_by_test_id("image")
    # Only the offered images of the architecture, under their friendly names.
    expect(image.locator("option", has_text="CirrOS 0.6 (cirros 0.6)")).to_have_count(1)
    expect(image.locator("option", has_text="CentOS Stream 9")).to_have_count(1)
    image.select_option(label="CirrOS 0.6 (cirros 0.6)")
    flavor = page.get_by_test_id("flavor")
    page.screenshot(path="var/e2e/request-form.png", full_page=True)
    expect(flavor.locator("option", has_text="m1.tiny")).to_have_count(1)
    flavor.select_option(index=1)
    page.get_by_label("Cloud-init profile").select_option(label="dc1-standard")
    page.locator("input[name=name]").fill("e2e-power")
    page.get_by_test_id("preview").click()
    expect(page.get_by_test_id("user-data")).to_contain_text("proxy.dc1.example")

    with celery_worker():
        page.get_by_test_id("submit-request").click()
        status = page.get_by_test_id("vm-status")
        expect(status).to_have_attribute("data-status", "active", timeout=120_000)  # htmx polling
        expect(page.locator("table")).to_contain_text("p1")  # the Power host
        page.get_by_test_id("action-reboot").click()
        expect(page.get_by_test_id("vm-events")).to_contain_text("reboot")
        expect(page.get_by_test_id("vm-status")).to_have_attribute(
            "data-server-status", "ACTIVE", timeout=60_000
        )
        page.get_by_test_id("delete").click()
        page.get_by_test_id("confirm-name").fill("e2e-power")
        page.get_by_test_id("confirm-delete").click()
        expect(page.get_by_test_id("vm-status")).to_have_attribute("data-status", "deleted", timeout=120_000)
    expect(page).to_have_url(re.compile(r"/vms/\d+/$"))
