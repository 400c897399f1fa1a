"""dev1 in Chromium, against a live server, a real Celery worker and the local OpenStack: requests three
VMs at once (web-1 … web-3), resizes one and confirms it, snapshots one and requests a new VM from the
snapshot. At most four servers at a time; every server and image made here is removed afterwards."""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import Page, expect

from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound
from provisioning.models import VmRequest, VmSnapshot
from tests.fixtures.local_cloud import wait_gone
from tests.live import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)


@pytest.fixture
def cleanup():
    """Deletes the servers and snapshot images the test made, whatever happened."""
    yield
    gateway = cloud()
    servers = list(VmRequest.objects.exclude(server_id="").values_list("server_id", flat=True))
    for server_id in servers:
        with contextlib.suppress(CloudNotFound):
            gateway.delete_server(server_id)
    for snapshot in VmSnapshot.objects.exclude(image_cloud_id=""):
        with contextlib.suppress(CloudNotFound):
            gateway.delete_image(snapshot.image_cloud_id)
    for server_id in servers:
        wait_gone(gateway, server_id, timeout=120)


def sign_in(page: Page, url: str, password: str) -> None:
    page.set_default_timeout(20_000)
    page.goto(f"{url}/login/")
    page.get_by_label("Username").fill("dev1")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def request_form(page: Page, url: str, *, name: str, image: str | re.Pattern[str], count: int = 1) -> None:
    page.goto(f"{url}/vms/new/")
    page.get_by_label("x86_64").check()
    choice = page.get_by_test_id("image").locator("option", has_text=image)
    expect(choice).to_have_count(1)
    page.get_by_test_id("image").select_option(value=choice.get_attribute("value"))
    page.get_by_test_id("flavor").select_option(index=1)  # m1.tiny, the first that fits
    page.locator("input[name=name]").fill(name)
    page.get_by_test_id("count").fill(str(count))
    page.get_by_test_id("submit-request").click()


def vm_page(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/vms/{VmRequest.objects.get(name=name).pk}/")


def test_three_vms_at_once_then_one_resized_and_confirmed(page: Page, live_server, demo, cleanup):
    sign_in(page, live_server.url, demo["dev1"])
    with celery_worker():
        request_form(page, live_server.url, name="web", image="CirrOS 0.6 (cirros 0.6)", count=3)
        expect(page.locator(".flash")).to_contain_text("3 VMs requested: web-1, web-2, web-3.")
        for name in ("web-1", "web-2", "web-3"):
            vm_page(page, live_server.url, name)
            expect(page.get_by_test_id("vm-status")).to_have_attribute(
                "data-status", "active", timeout=180_000
            )

        vm_page(page, live_server.url, "web-1")
        page.get_by_test_id("resize-flavor").select_option(label="m1.small (1 vCPU, 2 GiB RAM, 20 GB)")
        page.get_by_test_id("resize").click()
        status = page.get_by_test_id("vm-status")
        # Nova resizes (~20 s here), then the VM waits for its owner: the page follows it without reload.
        expect(status).to_have_attribute("data-server-state", "resized", timeout=120_000)
        page.screenshot(path="var/e2e/resized.png", full_page=True)
        page.get_by_test_id("action-confirm-resize").click()
        expect(page.get_by_test_id("vm-status")).to_have_attribute(
            "data-server-state", "running", timeout=120_000
        )
        expect(page.get_by_test_id("vm-status")).to_contain_text("m1.small (1 vCPU, 2 GiB RAM, 20 GB)")
        expect(page.get_by_test_id("vm-events")).to_contain_text(
            "asked to resize it from m1.tiny to m1.small"
        )


def test_a_snapshot_becomes_an_image_of_the_team_and_a_vm_is_requested_from_it(
    page: Page, live_server, demo, cleanup
):
    sign_in(page, live_server.url, demo["dev1"])
    with celery_worker():
        request_form(page, live_server.url, name="gold-src", image="CirrOS 0.6 (cirros 0.6)")
        status = page.get_by_test_id("vm-status")
        expect(status).to_have_attribute("data-status", "active", timeout=180_000)
        page.get_by_test_id("snapshot-name").fill("gold-image")
        page.get_by_test_id("snapshot").click()
        # The devcloud's compute driver uploads a stand-in disk (devcloud/src/kennel_devcloud/fake_driver.py);
        # one still running Nova's own FakeDriver.snapshot leaves the image queued for ever.
        try:
            expect(page.locator("[data-snapshot-status=active]")).to_have_count(1, timeout=180_000)
        except AssertionError:
            snapshot = VmSnapshot.objects.get(name="gold-image")
            glance = cloud().get_image(snapshot.image_cloud_id).status if snapshot.image_cloud_id else "none"
            pytest.fail(
                f"snapshot {snapshot.status}, Glance image {glance}: if queued, the local cloud's "
                "computes run an older driver that uploads no snapshot data; restart them on this code "
                "(devcloud/run stop-service nova-compute-x2, then start-service, for x2 x3 x4 p1)"
            )
        expect(page.get_by_test_id("vm-events")).to_contain_text("Snapshot gold-image is ready")

        # "gold-image (cirros 0.6) — your team's snapshot": the snapshot keeps its VM image's OS
        request_form(
            page, live_server.url, name="from-gold", image=re.compile(r"^gold-image .*your team's snapshot$")
        )
        expect(page.get_by_test_id("vm-status")).to_have_attribute("data-status", "active", timeout=180_000)
        expect(page.get_by_test_id("vm-status")).to_contain_text("gold-image")
    # Only dev1's teams are offered the image (the architecture-first form shows it for x86_64 only).
    page.goto(f"{live_server.url}/vms/new/")
    page.get_by_label("ppc64le").check()
    expect(page.get_by_test_id("image").locator("option", has_text="gold-image")).to_have_count(0)
