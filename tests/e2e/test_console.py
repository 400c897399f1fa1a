"""In Chromium: pressing Console on a running VM shows the console link without reloading the page, the link
opens noVNC from the local cloud's console proxy, and the console log shows Nova's console output. Live
server, real Celery worker, real local OpenStack."""

from __future__ import annotations

import time
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from portal.models import Team, User
from provisioning import services
from provisioning.models import CloudFlavor, CloudImage, VmRequest
from tests.live import celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)  # two cores shared with the whole cloud: htmx swaps can take seconds


def test_the_console_button_shows_the_link_without_a_reload(page: Page, live_server, demo):
    page.set_default_timeout(20_000)
    dev1 = User.objects.get(username="dev1")
    with celery_worker():
        vm = services.vm_request_submit(
            actor=dev1,
            team=Team.objects.get(slug="alpha"),
            name="e2e-console",
            image=CloudImage.objects.get(name="cirros-0.6-x86_64"),
            flavor=CloudFlavor.objects.get(name="m1.tiny"),
            source="test",
        )
        try:
            eventually(
                lambda: VmRequest.objects.get(pk=vm.pk).status,
                lambda s: s in ("active", "failed"),
                timeout=120,
                what="building e2e-console",
            )
            page.goto(f"{live_server.url}/login/")
            page.get_by_label("Username").fill("dev1")
            page.get_by_label("Password").fill(demo["dev1"])
            page.get_by_role("button", name="Sign in").click()
            page.goto(f"{live_server.url}/vms/{vm.pk}/")
            expect(page.get_by_test_id("vm-state")).to_have_attribute("data-state", "running")
            # A reload would wipe this; htmx swaps keep it.
            page.evaluate("window.kennelNoReload = true")
            started = time.monotonic()
            page.get_by_test_id("console").click()
            link = page.get_by_test_id("console-link")
            expect(link).to_be_visible(timeout=30_000)
            shown_after = time.monotonic() - started
            assert page.evaluate("window.kennelNoReload === true"), "the page reloaded"
            # The rest of the page is still there: the section swapped itself, nothing else.
            expect(page.get_by_test_id("vm-events")).to_be_visible()
            href = link.get_attribute("href")
            assert href is not None and href.startswith("http://127.0.0.1:6080/vnc_auto.html?path=")
            with urllib.request.urlopen(href, timeout=10) as answer:  # noqa: S310 (the devcloud's proxy)
                assert answer.status == 200 and "noVNC" in answer.read().decode()
            page.get_by_test_id("console-log-refresh").click()
            expect(page.get_by_test_id("console-log-text")).to_contain_text(
                "FAKE CONSOLE OUTPUT", timeout=30_000
            )
            assert page.evaluate("window.kennelNoReload === true"), "the page reloaded"
            page.screenshot(path="var/e2e/console.png", full_page=True)
            print(f"\nconsole link shown {shown_after:.1f} s after pressing Console (no reload)")
        finally:  # the server goes even when an assertion failed: the cloud is shared
            services.vm_delete_request(actor=dev1, vm=vm, source="test")
            eventually(
                lambda: VmRequest.objects.get(pk=vm.pk).status,
                lambda s: s == "deleted",
                timeout=90,
                what="deleting e2e-console",
            )
