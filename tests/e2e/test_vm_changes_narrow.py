"""A developer locks and unlocks their VM, resizes it and reverts the resize, rebuilds it from an image,
snapshots it and requests two VMs at once from the snapshot, in Chromium at a phone's width and a
laptop's (live server, FakeCloud, tasks run at once; the test moves the cloud's own time on, as a
worker's refresh would find it). test_vm_changes.py does the same against the local OpenStack at the
laptop's width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from provisioning import services
from provisioning.models import VmRequest, VmSnapshot
from tests.e2e.test_first_hour import fits
from tests.e2e.test_first_hour_i18n import WIDTHS, sign_in
from tests.polling import until_done

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)


@pytest.mark.parametrize("width", WIDTHS)
def test_lock_unlock_resize_revert_and_rebuild(page: Page, live_server, fake_cloud, eager_tasks, vm, width):
    def cloud_moves_on() -> None:
        fake_cloud.settle()
        services.vm_refresh(request_id=vm.pk)

    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "member")
    page.goto(f"{live_server.url}/vms/{vm.pk}/")
    status = page.get_by_test_id("vm-status")
    expect(status).to_have_attribute("data-server-state", "running")
    fits(page, width)

    page.get_by_test_id("action-lock").click()
    expect(page.get_by_test_id("locked")).to_be_visible()
    expect(page.get_by_test_id("locked-note")).to_contain_text("unlock it to start, stop, resize")
    expect(page.get_by_test_id("resize-flavor")).to_have_count(0)  # nothing to change while locked
    fits(page, width)
    page.get_by_test_id("action-unlock").click()
    expect(page.get_by_test_id("locked")).to_have_count(0)

    page.get_by_test_id("resize-flavor").select_option(label="m1.small (1 vCPU, 2 GiB RAM, 20 GB)")
    page.get_by_test_id("resize").click()
    expect(page.get_by_test_id("vm-events")).to_contain_text("asked to resize it from m1.tiny to m1.small")
    cloud_moves_on()
    page.reload()
    expect(status).to_have_attribute("data-server-state", "resized")
    fits(page, width)
    page.get_by_test_id("action-revert-resize").click()
    cloud_moves_on()
    page.reload()
    expect(status).to_have_attribute("data-server-state", "running")
    expect(status).to_contain_text("m1.tiny")

    page.get_by_test_id("rebuild-image").select_option(index=0)
    chosen = page.get_by_test_id("rebuild-image").locator("option:checked").inner_text()
    page.get_by_test_id("rebuild").click()
    expect(page.get_by_test_id("vm-events")).to_contain_text("asked to rebuild it from")
    cloud_moves_on()
    page.reload()
    expect(status).to_have_attribute("data-server-state", "running")
    assert chosen.split(" ")[0].lower() in status.inner_text().lower(), (chosen, status.inner_text())
    fits(page, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_snapshot_is_taken_and_two_vms_are_requested_from_it_at_once(
    page: Page, live_server, fake_cloud, eager_tasks, vm, width
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "member")
    page.goto(f"{live_server.url}/vms/{vm.pk}/")
    page.get_by_test_id("snapshot-name").fill("web1-gold")
    page.get_by_test_id("snapshot").click()
    snapshot = VmSnapshot.objects.get(name="web1-gold")
    until_done(lambda: services.vm_snapshot_advance(snapshot_id=snapshot.pk), what="snapshot")  # the worker
    page.reload()
    expect(page.locator("[data-snapshot-status=active]")).to_have_count(1)
    fits(page, width)

    page.goto(f"{live_server.url}/vms/new/")
    page.get_by_label("x86_64").check()
    own = page.get_by_test_id("image").locator(
        "option", has_text=re.compile(r"^web1-gold .*your team's snapshot$")
    )
    expect(own).to_have_count(1)
    page.get_by_test_id("image").select_option(value=own.get_attribute("value"))
    page.get_by_test_id("flavor").select_option(index=1)
    page.locator("input[name=name]").fill("gold")
    page.get_by_test_id("count").fill("2")
    fits(page, width)
    page.get_by_test_id("submit-request").click()
    expect(page.locator(".flash")).to_contain_text("2 VMs requested: gold-1, gold-2.")
    made = VmRequest.objects.filter(name__in=["gold-1", "gold-2"])
    assert {v.image_name for v in made} == {"web1-gold"} and made.count() == 2
