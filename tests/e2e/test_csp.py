"""Chromium loads the main pages of each demo role under Kennel's Content-Security-Policy: the browser
reports no violation (no inline script, style or eval was needed), and htmx still works: the VM
request form narrows its choices and previews user-data, and a pending quota request polls."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from portal.models import Team, User
from quotas.models import QuotaRequest
from quotas.services import quota_request_submit

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=15_000)

# Runs before the page's own scripts and outside the policy (Playwright injects it through CDP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


@pytest.fixture
def watched_page(page: Page):
    """The page, with every CSP violation (DOM event or console report) and script error collected."""
    seen: list[str] = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda error: seen.append(f"script error: {error}"))
    page.seen = seen  # type: ignore[attr-defined]
    return page


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("who")).to_contain_text(username)


def violations(page: Page) -> list[str]:
    page.wait_for_load_state("load")
    return [*page.evaluate("window.__cspViolations || []"), *page.seen]  # type: ignore[attr-defined]


def menu_urls(page: Page) -> list[str]:
    return sorted({href for href in page.locator("header nav a").evaluate_all("a => a.map(x => x.href)")})


@pytest.mark.parametrize("username", ["dev1", "manager", "admin"])
def test_each_roles_main_pages_load_without_a_csp_violation(watched_page: Page, live_server, demo, username):
    page = watched_page
    sign_in(page, live_server.url, username, demo[username])
    assert "script-src 'self'" in page.request.get(f"{live_server.url}/").headers["content-security-policy"]
    urls = [*menu_urls(page), f"{live_server.url}/teams/alpha/", f"{live_server.url}/api/docs/"]
    if username != "dev1":
        urls += [f"{live_server.url}/inventory/utilization/history/?range=week"]
    problems = {}
    for url in urls:
        response = page.goto(url)
        assert response is not None and response.status < 400, (url, response and response.status)
        if url.endswith("/api/docs/"):
            expect(page.locator(".swagger-ui .info")).to_be_visible()  # Swagger UI started: its script ran
        if found := violations(page):
            problems[url] = found
        page.seen.clear()  # type: ignore[attr-defined]
    assert not problems, problems
    print(f"{username}: {len(urls)} pages, 0 CSP violations")


def test_htmx_still_narrows_the_vm_request_form_previews_and_polls(watched_page: Page, live_server, demo):
    page = watched_page
    sign_in(page, live_server.url, "dev1", demo["dev1"])
    page.goto(f"{live_server.url}/vms/new/")
    page.get_by_label("ppc64le").check()  # a change htmx turns into a request, through kennel.js
    image = page.get_by_test_id("image")
    expect(image.locator("option", has_text="CirrOS 0.6 (cirros 0.6)")).to_have_count(1)
    image.select_option(label="CirrOS 0.6 (cirros 0.6)")  # narrows the flavors, again through htmx
    expect(page.get_by_test_id("flavor").locator("option", has_text="m1.tiny")).to_have_count(1)
    page.get_by_label("Cloud-init profile").select_option(label="dc1-standard")
    page.locator("input[name=name]").fill("e2e-csp")
    page.get_by_test_id("preview").click()
    expect(page.get_by_test_id("user-data")).to_contain_text("proxy.dc1.example")
    assert violations(page) == []

    # An approved quota request's page asks for its status every 2 s until it is applied (no worker
    # runs here, so it stays approved).
    dev1 = User.objects.get(username="dev1")
    request = quota_request_submit(
        actor=dev1, team=Team.objects.get(slug="alpha"), values={"cores": 96}, reason="CSP e2e"
    )
    QuotaRequest.objects.filter(pk=request.pk).update(status=QuotaRequest.Status.APPROVED)
    page.goto(f"{live_server.url}/quotas/requests/{request.pk}/")
    with page.expect_request(lambda r: r.headers.get("hx-request") == "true", timeout=10_000) as polled:
        pass
    assert f"/quotas/requests/{request.pk}/" in polled.value.url
    assert violations(page) == []
