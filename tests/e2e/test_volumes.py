"""A developer asks for a volume, attaches it to their VM, detaches it from the VM's page and deletes it
after being asked, in Chromium at a phone's width and a laptop's (live server, FakeCloud with Cinder,
tasks run at once)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from provisioning.models import Volume
from tests.e2e.test_quota_flow import sign_in
from tests.provisioning.test_services import build, submit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)
PASSWORD = "e2e-volumes-pw"


def fits(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1


@pytest.mark.parametrize("width", [390, 1366])
def test_a_developer_makes_attaches_detaches_and_deletes_a_volume(
    page: Page, live_server, fake_cloud_with_volumes, eager_tasks, member, team, width
):
    member.set_password(PASSWORD)
    member.save()
    vm = build(submit(member, team, name="web1"))
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, member.username, PASSWORD)
    page.goto(f"{live_server.url}/vms/volumes/")
    expect(page.get_by_text("No volumes yet.")).to_be_visible()
    fits(page, width)
    page.get_by_label("Name").fill("build-cache")
    page.get_by_label("Size (GB)").fill("20")
    page.get_by_role("button", name="Create volume").click()
    row = page.locator('tr[data-volume="build-cache"]')
    expect(row).to_have_attribute("data-status", "available")
    fits(page, width)
    row.get_by_test_id("attach-volume").click()
    expect(row).to_have_attribute("data-status", "in_use")
    expect(row).to_contain_text("/dev/sdb")

    row.get_by_role("link", name="web1").click()
    on_vm = page.locator('[data-testid="vm-volumes"] tr[data-volume="build-cache"]')
    expect(on_vm).to_contain_text("/dev/sdb")
    fits(page, width)
    on_vm.get_by_test_id("detach-volume").click()
    expect(page.get_by_test_id("attach-build-cache")).to_be_visible()  # back on the VM's page
    assert page.url.endswith(f"/vms/{vm.pk}/")

    page.get_by_role("link", name="The team's volumes").click()
    page.locator('tr[data-volume="build-cache"]').get_by_test_id("delete-volume").click()
    expect(page.get_by_text("Its 20 GB of data are deleted for good")).to_be_visible()
    fits(page, width)
    assert Volume.objects.get(name="build-cache").status == Volume.Status.AVAILABLE  # asking deleted nothing
    page.get_by_test_id("confirm-delete").click()
    expect(page.get_by_text("No volumes yet.")).to_be_visible()
    assert fake_cloud_with_volumes.list_volumes(project_id=team.openstack_project_id) == []
