"""A real browser signs in as each demo role, sees that role's page and menu, and switches to Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, Request, expect

from kennel.demo import demo_load

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "e2e"


@pytest.fixture
def demo_users(transactional_db):
    return {user.username: user.password for user in demo_load()}


@pytest.fixture
def offline_page(page: Page, live_server):
    """The page, with every request that leaves the live server refused and remembered."""
    escaped: list[str] = []

    def only_local(route, request: Request) -> None:
        if request.url.startswith(live_server.url):
            route.continue_()
        else:
            escaped.append(request.url)
            route.abort()

    page.route("**/*", only_local)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not escaped, f"the page asked for something outside Kennel: {escaped}"
    assert not errors, f"JavaScript errors: {errors}"


def nav_labels(page: Page) -> list[str]:
    """The menu's links, the account menu under the person's name opened first."""
    account = page.locator("details.account")
    if account.get_attribute("open") is None:
        page.get_by_test_id("who").click()
    return [label.strip() for label in page.locator("header nav a").all_inner_texts()]


@pytest.mark.parametrize(
    ("username", "landing", "sees_estate", "chinese_heading"),
    [
        ("dev1", "landing-developer", False, "欢迎，dev1"),  # noqa: RUF001 (Chinese punctuation)
        ("manager", "landing-manager", True, "资源总览"),
        ("admin", "landing-admin", True, "系统管理"),
    ],
    ids=["developer", "manager", "admin"],
)
def test_each_role_signs_in_sees_its_menu_and_switches_to_chinese(
    offline_page: Page, live_server, demo_users, username, landing, sees_estate, chinese_heading
):
    page = offline_page
    page.goto(f"{live_server.url}/")

    # Anonymous: sent to the login form.
    expect(page.get_by_role("heading", name="Sign in to Kennel")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(demo_users[username])
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_test_id(landing)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("who")).to_contain_text(username)
    labels = nav_labels(page)
    assert {"Home", "Teams", "API tokens"} <= set(labels)
    assert ("Audit log" in labels, "Servers" in labels) == (sees_estate, sees_estate), labels

    # The language selector submits itself on change.
    page.locator('select[name="language"]').select_option("zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_test_id(landing)).to_have_text(chinese_heading)
    labels = nav_labels(page)
    assert {"首页", "团队", "API 令牌"} <= set(labels)
    assert ("审计日志" in labels, "服务器" in labels) == (sees_estate, sees_estate), labels
    assert "Home" not in labels
    expect(page.locator('select[name="language"]')).to_have_value("zh-hans")

    if username == "manager":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "manager-zh-hans.png", full_page=True)

    if page.locator("details.account").get_attribute("open") is None:
        page.get_by_test_id("who").click()  # the account menu under the person's name
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("heading", name="登录 Kennel")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page.get_by_label("用户名")).to_be_visible()  # signed out for real: the home page wants a login
