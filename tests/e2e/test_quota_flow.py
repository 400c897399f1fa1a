"""dev1, lead of Alpha, asks for more vCPUs in Chromium; the admin edits and approves; both watch it
reach the cloud: live server, real Celery worker, real local OpenStack (a fresh project for Alpha, so
the demo projects' quotas stay as they are)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from kennel.demo import demo_load
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, QuotaService
from portal.models import Team
from portal.services import team_link_project
from provisioning.services import catalog_refresh
from quotas.services import quota_sync
from tests.live import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)


@pytest.fixture
def alpha_in_a_fresh_project(transactional_db):
    users = {user.username: user.password for user in demo_load()}
    gateway = cloud()
    project = gateway.create_project(name=f"e2e-quota-{uuid.uuid4().hex[:8]}")
    team = Team.objects.get(slug="alpha")
    team_link_project(actor=None, team=team, project=project.id)
    catalog_refresh()
    quota_sync(team_ids=[team.pk])
    yield users, project.id
    with contextlib.suppress(CloudNotFound):
        gateway.delete_project(project.id)


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_lead_asks_an_admin_edits_and_approves_and_nova_has_it(
    page: Page, browser: Browser, live_server, alpha_in_a_fresh_project
):
    users, project_id = alpha_in_a_fresh_project
    sign_in(page, live_server.url, "dev1", users["dev1"])
    page.goto(f"{live_server.url}/teams/alpha/")
    expect(page.get_by_test_id("quota-table")).to_contain_text("vCPUs")
    page.get_by_role("button", name="Ask for more quota").click()

    form = page.get_by_test_id("quota-request-form")
    form.get_by_label("vCPUs").fill("-3")
    form.get_by_label("Why the team needs it").fill("CI runners for the Power port")
    form.get_by_role("button", name="Request").click()
    expect(page.get_by_role("alert").first).to_contain_text("cannot be negative")  # nothing lost
    expect(form.get_by_label("Why the team needs it")).to_have_value("CI runners for the Power port")
    form.get_by_label("vCPUs").fill("96")
    form.get_by_role("button", name="Request").click()
    expect(page.get_by_test_id("status")).to_have_text("Pending")
    page.screenshot(path="var/e2e/quota-request-pending.png", full_page=True)
    request_url = page.url

    admin = browser.new_context().new_page()
    sign_in(admin, live_server.url, "admin", users["admin"])
    admin.goto(f"{live_server.url}/quotas/")
    admin.get_by_test_id("pending").get_by_role("link").first.click()
    admin.screenshot(path="var/e2e/quota-request-admin.png", full_page=True)
    approve = admin.get_by_test_id("approve-form")
    approve.get_by_label("vCPUs").fill("80")
    approve.get_by_label("Comment (optional)").fill("80 for now")
    with celery_worker():
        approve.get_by_role("button", name="Approve").click()
        expect(admin.get_by_test_id("status")).to_have_text("Applied", timeout=60_000)  # htmx polling
    expect(admin.get_by_test_id("results")).to_contain_text("compute")
    admin.goto(f"{live_server.url}/teams/alpha/")
    admin.screenshot(path="var/e2e/quota-team-page.png", full_page=True)

    page.goto(request_url)
    expect(page.get_by_test_id("status")).to_have_text("Applied")
    expect(page.get_by_test_id("events")).to_contain_text("80 for now")
    assert cloud().get_quotas(project_id, QuotaService.COMPUTE)["cores"] == 80
