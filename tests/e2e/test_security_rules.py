"""dev1, lead of Alpha, lets SSH in from an office network and takes it away again in Chromium, at a
phone's width and a laptop's: live server, real Celery worker, real local Neutron (a fresh project for
Alpha, so the shared demo project's rules stay as they are)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from playwright.sync_api import Page, expect

from kennel.demo import demo_load
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound
from portal.models import Team
from portal.services import team_link_project
from tests.e2e.test_quota_flow import sign_in
from tests.live import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=20_000)


@pytest.fixture
def alpha_in_a_fresh_project(transactional_db):
    users = {user.username: user.password for user in demo_load()}
    gateway = cloud()
    project = gateway.create_project(name=f"e2e-rules-{uuid.uuid4().hex[:8]}")
    team = Team.objects.get(slug="alpha")
    team_link_project(actor=None, team=team, project=project.id)
    yield users, project.id
    with contextlib.suppress(CloudNotFound):
        for group in gateway.list_security_groups(project_id=project.id):
            gateway.delete_security_group(group.id)
        gateway.delete_project(project.id)


def neutron_ingress(project_id: str) -> set[tuple]:
    return {
        (r.protocol, r.port_range_min, r.remote_ip_prefix)
        for g in cloud().list_security_groups(project_id=project_id)
        for r in g.rules
        if r.direction == "ingress" and r.remote_ip_prefix
    }


@pytest.mark.parametrize("width", [390, 1366])
def test_a_lead_adds_and_removes_a_rule_and_watches_it_reach_neutron(
    page: Page, live_server, alpha_in_a_fresh_project, width
):
    users, project_id = alpha_in_a_fresh_project
    page.set_viewport_size({"width": width, "height": 900})
    with celery_worker():
        sign_in(page, live_server.url, "dev1", users["dev1"])
        page.goto(f"{live_server.url}/teams/alpha/")
        section = page.get_by_test_id("security-rules")
        expect(section).to_contain_text("Who may reach the team's VMs")
        section.get_by_text("Let more in").click()
        form = page.get_by_test_id("security-rule-form")
        form.get_by_label("Protocol").select_option("tcp")
        form.get_by_label("Ports").fill("22")
        form.get_by_label("From (network)").fill("0.0.0.0/0")
        form.get_by_role("button", name="Add the rule").click()
        expect(page.get_by_test_id("security-rules")).to_contain_text("only an admin may allow it")
        assert ("tcp", 22, "0.0.0.0/0") not in neutron_ingress(project_id)

        form = page.get_by_test_id("security-rule-form")
        form.get_by_label("From (network)").fill("10.20.0.0/16")
        form.get_by_role("button", name="Add the rule").click()
        row = page.locator('tr[data-rule="tcp/22/10.20.0.0/16"]')
        expect(row).to_contain_text("TCP port 22 from 10.20.0.0/16")
        # The section follows the worker (which may still be starting on a busy machine).
        expect(row).to_have_attribute("data-state", "active", timeout=120_000)
        expect(row).to_contain_text("in force")
        assert ("tcp", 22, "10.20.0.0/16") in neutron_ingress(project_id)
        box = page.get_by_test_id("security-rules").bounding_box()
        assert box is not None and box["width"] <= width, "the section fits the screen"

        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Remove").click()
        expect(row).to_have_count(0)
        assert ("tcp", 22, "10.20.0.0/16") not in neutron_ingress(project_id)
