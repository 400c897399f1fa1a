"""The first hour in a real browser, at a phone's width and a laptop's: a developer's home page, the VM
list's filters, the audit log searched by words, and the power form that offers first what fits the
server and says how long its cooldown lasts. Each page must fit its width (no sideways scroll)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from inventory.models import PowerRequest, ServerRole
from portal.models import Role
from portal.services import audit_record
from provisioning.models import VmRequest
from quotas.models import QuotaRequest
from tests.e2e.test_first_hour_i18n import WIDTHS, sign_in
from tests.factories import (
    CloudHostFactory,
    HardwareStateFactory,
    PowerRequestFactory,
    ServerFactory,
    TeamQuotaFactory,
    UserFactory,
    VmRequestFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)
ISO_DAY = r"\d{4}-\d{2}-\d{2}"


def fits(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"{page.url} is {scroll} px wide at {width} px"


def at(page: Page, width: int, url: str, username: str) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, url, username)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_developers_home_shows_vms_quota_open_requests_and_leases_ending(
    page: Page, live_server, member, outsider, team, width
):
    TeamQuotaFactory(team=team, key="ram_mb", limit=32768, cloud_used=4096)
    VmRequestFactory(
        team=team, owner=member, name="my-web", ram_mb=2048, expires_at=timezone.now() + timedelta(days=30)
    )
    ending = VmRequestFactory(
        team=team, owner=member, name="ends-soon", expires_at=timezone.now() + timedelta(days=2)
    )
    VmRequestFactory(team=team, owner=member, name="in-build", status=VmRequest.Status.BUILDING)
    VmRequestFactory(team=team, owner=member, name="gone-vm", status=VmRequest.Status.DELETED)
    VmRequestFactory(owner=outsider, team=outsider.memberships.get().team, name="someone-elses")
    QuotaRequest.objects.create(team=team, requested_by=member, values={"cores": 40}, reason="builds")

    at(page, width, live_server.url, "member")

    expect(page.get_by_test_id("landing-developer")).to_contain_text("Welcome, member")
    fits(page, width)
    vms = page.get_by_test_id("home-vms")
    for name in ("my-web", "ends-soon", "in-build"):
        expect(vms.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_text("gone-vm")).to_have_count(0)
    expect(page.get_by_text("someone-elses")).to_have_count(0)

    leases = page.get_by_test_id("home-leases")
    expect(leases).to_contain_text("ends-soon")
    expect(leases).not_to_contain_text("my-web")
    assert re.search(rf"ends {ISO_DAY} \d{{2}}:\d{{2}} \(in [12]\xa0days?\)", leases.inner_text()), (
        leases.inner_text()
    )

    waiting = page.get_by_test_id("home-open-requests")
    expect(waiting).to_contain_text("in-build")
    expect(waiting).to_contain_text("Alpha")
    expect(waiting).to_contain_text("Pending")

    ram = page.get_by_test_id("home-quotas").locator('tr[data-dimension="ram_mb"]')
    expect(ram).to_contain_text("32 GiB")
    expect(ram).to_contain_text("cloud: 4 GiB")
    assert " MB" not in ram.inner_text()
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert page.request.get(f"{live_server.url}{icon}").status == 200

    leases.get_by_role("link", name="ends-soon").click()
    expect(page).to_have_url(re.compile(rf"/vms/{ending.pk}/$"))
    fits(page, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_vm_list_filters_read_as_people_expect(page: Page, live_server, member, lead, team, width):
    CloudHostFactory(architecture="x86_64")
    VmRequestFactory(team=team, owner=member, name="runs", server_state="running")
    VmRequestFactory(team=team, owner=lead, name="rests", server_state="stopped")
    VmRequestFactory(
        team=team, owner=member, name="gone", server_state="deleted", status=VmRequest.Status.DELETED
    )

    at(page, width, live_server.url, "member")
    page.goto(f"{live_server.url}/vms/")
    results = page.locator("#results")
    expect(results).to_contain_text("runs")
    expect(results).to_contain_text("rests")
    expect(results).not_to_contain_text("gone")  # deleted VMs are hidden by default
    filters = page.get_by_test_id("vm-filters")
    assert "Unknown" not in filters.inner_text() and "---------" not in filters.inner_text()
    expect(filters.get_by_label("Architecture").locator("option")).to_have_text(
        ["Any architecture", "x86_64"]
    )
    fits(page, width)

    page.get_by_test_id("state-chips").get_by_text("Stopped").click()  # htmx narrows the list
    expect(results).not_to_contain_text("runs")
    expect(results).to_contain_text("rests")
    expect(page).to_have_url(re.compile(r"server_state=stopped"))
    page.get_by_test_id("state-chips").get_by_text("Stopped").click()
    expect(results).to_contain_text("runs")

    page.get_by_label("Show deleted VMs").check()
    expect(results).to_contain_text("gone")
    fits(page, width)

    page.get_by_test_id("my-vms").click()
    expect(page.get_by_test_id("my-vms")).to_have_attribute("aria-current", "page")
    expect(results).to_contain_text("runs")
    expect(results).to_contain_text("gone")  # the tab keeps the other filters
    expect(results).not_to_contain_text("rests")  # the lead's
    page.get_by_test_id("team-vms").click()
    expect(results).to_contain_text("rests")
    fits(page, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_audit_log_is_searched_by_words_and_refuses_an_unreadable_date(
    page: Page, live_server, admin, manager, width
):
    server = ServerFactory(name="X7")
    audit_record(
        actor=admin, action="server.power", target=server, source="web", detail={"reason": "BIOS update"}
    )
    audit_record(actor=None, action="server.power_execute", target=server, source="worker")
    audit_record(actor=admin, action="vm.request", source="api")

    at(page, width, live_server.url, "manager")
    page.goto(f"{live_server.url}/audit/")
    table = page.get_by_test_id("audit-table")
    expect(table).to_contain_text("vm.request")
    fits(page, width)

    page.get_by_label("What").fill("power")  # words, not the exact action name
    expect(table).not_to_contain_text("vm.request")
    expect(table).to_contain_text("server.power_execute")
    expect(table.get_by_test_id("audit-reason").filter(has_text="BIOS update")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"action=power"))
    fits(page, width)

    page.get_by_label("Since").fill("last tuesday")
    expect(page.get_by_test_id("filter-errors")).to_contain_text("Could not read the date “last tuesday”")
    expect(table).to_contain_text("server.power")  # the other filter still applies
    fits(page, width)

    table.get_by_test_id("audit-target").first.click()
    expect(page).to_have_url(re.compile(rf"/inventory/servers/{server.pk}/$"))
    expect(page.get_by_role("heading", name="X7")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_power_form_offers_what_fits_and_says_how_long_the_cooldown_lasts(
    page: Page, live_server, settings, width
):
    settings.KENNEL_POWER_COOLDOWN = 300
    UserFactory(username="admin", role=Role.ADMIN)
    # A BMC on a port nothing listens on: the cooldown refuses before anything is sent to it.
    server = ServerFactory(
        name="P2",
        roles=[ServerRole.OUTSIDE.value],
        bmc_protocol="ipmi",
        bmc_address="127.0.0.1",
        bmc_port=9,
        bmc_username="admin",
    )
    HardwareStateFactory(server=server, power_state="off")

    at(page, width, live_server.url, "admin")
    page.goto(f"{live_server.url}/inventory/servers/{server.pk}/")
    form = page.get_by_test_id("power-form")
    expect(form.get_by_label("Action")).to_have_value("on")  # it is off: power on comes first
    expect(page.get_by_test_id("power-cooldown")).to_have_count(0)
    fits(page, width)

    PowerRequestFactory(server=server, action="on", status=PowerRequest.Status.DONE)
    page.reload()
    note = page.get_by_test_id("power-cooldown")
    seconds = int(re.search(r"in (\d+) seconds", note.inner_text()).group(1))
    assert 280 <= seconds <= 300, note.inner_text()

    form.get_by_label("Reason").fill("firmware")
    form.get_by_label("Type the server's name to confirm").fill("P2")
    form.get_by_role("button", name="Request power action").click()
    expect(
        page.get_by_role("status").filter(has_text="Another power action ran moments ago; wait")
    ).to_be_visible()
    assert PowerRequest.objects.filter(server=server).count() == 1  # refused, nothing queued
    fits(page, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_first_run_shows_the_manager_labelled_demo_history_and_a_forecast(page: Page, live_server, width):
    from django.core.management import call_command

    call_command("demo_load", "--no-cloud")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill("manager-kennel")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("who")).to_contain_text("manager")

    page.goto(f"{live_server.url}/inventory/utilization/history/?range=month")
    expect(page.get_by_test_id("demo-history")).to_contain_text("Demo data")
    charts = page.locator("svg.chart")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 6  # vCPU, RAM and disk for each architecture
    assert page.locator("svg.chart polyline").count() > 0  # lines drawn, not empty axes
    vcpu = page.locator('[data-testid="forecast"] tr[data-forecast="x86_64-VCPU"]')
    assert re.search(rf"{ISO_DAY}", vcpu.inner_text()), vcpu.inner_text()  # the day it reaches the threshold
    fits(page, width)
