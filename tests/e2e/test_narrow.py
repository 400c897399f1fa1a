"""Every page fits a phone (390 px) and a laptop (1366 px): the document is never wider than the window,
the main menu is folded behind its button on the phone and open on the laptop.

Which pages: every URL name in the URL conf is listed below as a page (visited as each demo role that
may see it), a fragment, an action (POST only) or not HTML; ``test_every_url_name_is_classified`` fails
on a new URL name until it is listed, so a new page cannot escape the check.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Page, expect

from kennel.demo import demo_load
from portal.cloud import override
from portal.cloud.fake import FakeCloud
from portal.models import Membership, Team, User
from provisioning import services as provisioning
from provisioning.models import CloudFlavor, CloudImage, Profile, Volume
from tests.factories import (
    CloudAccountFactory,
    ImageImportFactory,
    OnboardingFactory,
    OnboardingStepFactory,
    QuotaTemplateFactory,
)
from tests.polling import until_done

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "e2e"
NARROW, WIDE = 390, 1366

# Pages: URL name -> its URL arguments, each the name of an object the ``estate`` fixture makes.
PAGES: dict[str, dict[str, str]] = {
    "home": {},
    "login": {},
    "team-list": {},
    "team-detail": {"slug": "team"},
    "people": {},
    "person-add": {},
    "password-set": {"uidb64": "new_person_uid", "token": "new_person_token"},
    "audit-list": {},
    "token-list": {},
    "api-docs": {},
    "inventory:server-list": {},
    "inventory:server-create": {},
    "inventory:server-import": {},
    "inventory:server-detail": {"pk": "server"},
    "inventory:server-edit": {"pk": "server"},
    "inventory:server-delete": {"pk": "server"},
    "inventory:server-bmc-edit": {"pk": "server"},
    "inventory:utilization": {},
    "inventory:utilization-history": {},
    "inventory:dashboard": {},
    "inventory:datacenter-list": {},
    "inventory:datacenter-create": {},
    "inventory:datacenter-edit": {"pk": "datacenter"},
    "inventory:datacenter-delete": {"pk": "datacenter"},
    "provisioning:vm-list": {},
    "provisioning:unmanaged-list": {},
    "provisioning:vm-request": {},
    "provisioning:vm-detail": {"pk": "vm"},
    "provisioning:vm-delete": {"pk": "vm"},
    "provisioning:ssh-keys": {},
    "provisioning:volume-list": {},
    "provisioning:volume-delete": {"pk": "volume"},
    "provisioning:profile-list": {},
    "provisioning:profile-detail": {"pk": "profile"},
    "provisioning:profile-part-add": {"pk": "profile", "kind": "part_kind"},
    "provisioning:profile-part-edit": {"pk": "profile", "index": "part_index"},
    "provisioning:profile-part-delete": {"pk": "profile", "index": "part_index"},
    "provisioning:profile-delete": {"pk": "profile"},
    "catalog:images": {},
    "catalog:flavors": {},
    "catalog:imports": {},
    "catalog:import-detail": {"pk": "image_import"},
    "quotas:overview": {},
    "quotas:request-create": {"slug": "team"},
    "quotas:request-list": {},
    "quotas:request-detail": {"pk": "quota_request"},
    "quotas:rules": {},
    "onboarding:list": {},
    "onboarding:new": {},
    "onboarding:templates": {},
    "onboarding:template-new": {},
    "onboarding:template-edit": {"pk": "quota_template"},
    "onboarding:orphans": {},
    "onboarding:team": {"slug": "onboarded_team"},
    "onboarding:offboard": {"slug": "onboarded_team"},
    "onboarding:members": {"slug": "onboarded_team"},
    "onboarding:credentials": {"slug": "onboarded_team"},
    "usage:hosts": {},
    "usage:host-detail": {"pk": "server"},
    "usage:vms": {},
    "usage:vm-detail": {"pk": "vm"},
    "usage:team-detail": {"slug": "team"},
    "usage:idle": {},
    "blueprints:list": {},
    "blueprints:detail": {"pk": "blueprint"},
    "blueprints:service-detail": {"pk": "service"},
}
# The pages of someone not signed in (every other page is a signed-in person's).
ANONYMOUS_PAGES = {"login", "password-set"}
# Parts of a page, fetched by htmx inside the VM's page (a plain GET redirects to it) or the team's page.
FRAGMENTS = {"provisioning:vm-console", "provisioning:vm-console-log", "onboarding:security-rules"}
NOT_HTML = {
    "health",
    "metrics",
    "api-schema",
    "inventory:server-export",
    "onboarding:clouds-yaml",
    "onboarding:openrc",
    "blueprints:version-export",
}
# Names outside Kennel's own pages: Django's admin (its own layout) and the REST API.
OTHER_NAMESPACES = ("admin:", "api:", "v1:")


def url_routes() -> dict[str, object]:
    """Every named route in the URL conf (namespaced as ``reverse`` takes it) and its view."""

    def walk(patterns, namespace: str | None) -> dict[str, object]:
        routes: dict[str, object] = {}
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace
                joined = f"{namespace}:{inner}" if namespace and inner else inner or namespace
                routes |= walk(pattern.url_patterns, joined)
            elif isinstance(pattern, URLPattern) and pattern.name:
                routes[f"{namespace}:{pattern.name}" if namespace else pattern.name] = pattern.callback
        return routes

    return walk(get_resolver().url_patterns, None)


def answers_only_post(view) -> bool:
    """A class view allowing only post, or a function under Django's ``require_POST`` (which keeps the
    allowed methods in its wrapper's closure)."""
    methods = getattr(getattr(view, "view_class", None), "http_method_names", None)
    if methods is not None:
        return set(methods) - {"options"} == {"post"}
    while view is not None:
        for cell in getattr(view, "__closure__", None) or ():
            contents = cell.cell_contents
            if isinstance(contents, list) and contents and all(isinstance(m, str) for m in contents):
                return {m.upper() for m in contents} == {"POST"}
        view = getattr(view, "__wrapped__", None)
    return False


def test_every_url_name_is_classified():
    """A new page must be added to PAGES (and so checked at both widths); a new action that takes a GET
    is a page too."""
    routes = {name: view for name, view in url_routes().items() if not name.startswith(OTHER_NAMESPACES)}
    names = set(routes)
    actions = {name for name, view in routes.items() if answers_only_post(view)}
    unknown = names - set(PAGES) - FRAGMENTS - NOT_HTML - actions - {"logout", "set_language"}
    assert not unknown, f"add these URL names to PAGES (or the right set) in {__file__}: {sorted(unknown)}"
    gone = set(PAGES) - names
    assert not gone, f"PAGES names URLs that no longer exist: {sorted(gone)}"
    assert len(PAGES) >= 50  # the walk found the pages, not an empty URL conf


# Everything the pages show, on the in-memory cloud (FakeCloud, which passes the real cloud's contract):
# the demo people and servers, two VMs of dev1's team with long names, an onboarding, a quota request.
@pytest.fixture
def estate(transactional_db):
    passwords = {user.username: user.password for user in demo_load()}
    fake = FakeCloud()
    with override(fake):
        me = fake.whoami()
        for slug in ("alpha", "beta"):
            project = fake.find_project(slug)
            assert project is not None
            fake.assign_role(user_id=me.id, project_id=project.id, role="admin")
            Team.objects.filter(slug=slug).update(openstack_project_id=project.id)
        provisioning.catalog_refresh()
        CloudImage.objects.filter(status="active").exclude(architecture="").update(offered=True)
        dev1 = User.objects.get(username="dev1")
        alpha = Team.objects.get(slug="alpha")
        vms = []
        for name in ("build-agent-x86-64-long-name-01", "web-frontend-staging"):
            vm = provisioning.vm_request_submit(
                actor=dev1,
                team=alpha,
                name=name,
                image=CloudImage.objects.filter(architecture="x86_64", name__startswith="cirros").first(),
                flavor=CloudFlavor.objects.get(name="m1.tiny"),
                source="test",
            )
            until_done(lambda vm=vm: provisioning.vm_request_build_advance(request_id=vm.pk), what=name)
            vms.append(vm)
        from quotas.services import quota_request_submit, quota_sync

        quota_sync()
        quota_request = quota_request_submit(
            actor=dev1, team=alpha, values={"cores": 96}, reason="More build agents for the release."
        )
        gamma = Team.objects.create(name="Team Gamma", slug="gamma", openstack_project_id="gamma-project")
        onboarding = OnboardingFactory(
            team=gamma,
            requested_by=User.objects.get(username="admin"),
            auth_url="https://keystone.dc1.example:5000/v3",
        )
        OnboardingStepFactory(onboarding=onboarding)
        Membership.objects.create(team=gamma, user=dev1, level=Membership.Level.LEAD)
        CloudAccountFactory(user=dev1)
        profile = Profile.objects.get(name="dc1-standard")
        from blueprints.models import BlueprintVersion
        from blueprints.services import service_deploy
        from inventory.models import DataCenter, Server

        file_server = BlueprintVersion.objects.filter(blueprint__name="http-file-server").latest("number")
        service = service_deploy(
            actor=User.objects.get(username="admin"),
            team=alpha,
            version=file_server,
            name="files",
            parameters={},
            counts={"x86_64": 1},
            source="test",
        )
        newcomer = User.objects.create_user(username="newcomer", email="newcomer@kennel.invalid")
        objects = {
            "new_person_uid": urlsafe_base64_encode(force_bytes(newcomer.pk)),
            "new_person_token": default_token_generator.make_token(newcomer),
            "team": "alpha",
            "onboarded_team": "gamma",
            "server": Server.objects.get(name="X2").pk,
            "datacenter": DataCenter.objects.get(code="dc1").pk,
            "vm": vms[0].pk,
            "profile": profile.pk,
            "part_kind": "proxy",
            "part_index": 0,
            "image_import": ImageImportFactory(name="legacy-build-server-disk-2019").pk,
            "quota_request": quota_request.pk,
            "quota_template": QuotaTemplateFactory(name="large-team").pk,
            "blueprint": file_server.blueprint_id,
            "service": service.pk,
            "volume": Volume.objects.create(
                team=alpha,
                owner=dev1,
                name="build-cache-volume-for-agents",
                size_gb=50,
                status=Volume.Status.IN_USE,
                volume_id="vol-narrow",
                vm=vms[0],
                device="/dev/vdb",
            ).pk,
        }
        # A lease that ends soon, so the pages show one.
        type(vms[1]).objects.filter(pk=vms[1].pk).update(expires_at=timezone.now() + timedelta(days=2))
        yield passwords, objects


def url_of(name: str, objects: dict) -> str:
    return reverse(name, kwargs={key: objects[value] for key, value in PAGES[name].items()})


def sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("who")).to_contain_text(username)


# What sticks out past the right edge of the window, for a readable failure.
WIDER_THAN_WINDOW = """() => {
  const width = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && box.width > 0) {
      let scrolled = false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (["auto", "scroll", "hidden", "clip"].includes(style.overflowX)) { scrolled = true; break; }
      }
      if (!scrolled) {
        const classes = typeof el.className === "string" ? el.className.trim().split(/\\s+/) : [];
        const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
                     classes.filter(Boolean).map((c) => "." + c).join("");
        out.push(`${name} right=${Math.round(box.right)}`);
      }
    }
  }
  return {scroll: document.documentElement.scrollWidth, inner: width, out: out.slice(0, 5)};
}"""


def measure(page: Page, width: int) -> list[str]:
    """What is wrong with the page at this width (empty when it fits and the menu is right)."""
    page.set_viewport_size({"width": width, "height": 844 if width == NARROW else 900})
    problems = []
    fit = page.evaluate(WIDER_THAN_WINDOW)
    if fit["scroll"] > fit["inner"]:
        problems.append(f"{width}px: the document is {fit['scroll']}px wide; sticking out: {fit['out']}")
    toggle, menu = page.get_by_test_id("menu-toggle"), page.get_by_test_id("main-menu")
    if menu.count():  # the sign-in page of an anonymous visitor has a menu too (the language)
        expanded = toggle.get_attribute("aria-expanded")
        folded = toggle.is_visible() and expanded == "false" and not menu.is_visible()
        opened = not toggle.is_visible() and menu.is_visible()
        if width == NARROW and not folded:
            problems.append(f"{width}px: the menu is not folded behind its button")
        if width == WIDE and not opened:
            problems.append(f"{width}px: the menu is not open")
    return problems


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_every_page_fits_a_phone_and_a_laptop(page: Page, live_server, estate):
    passwords, objects = estate
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    checked: dict[str, list[str]] = {name: [] for name in PAGES}
    problems: dict[str, list[str]] = {}
    visits = 0
    for who in ("anonymous", "dev1", "manager", "admin"):
        page.context.clear_cookies()
        if who != "anonymous":
            page.set_viewport_size({"width": WIDE, "height": 900})
            sign_in(page, live_server.url, who, passwords[who])
        for name in PAGES:
            if (name in ANONYMOUS_PAGES) != (who == "anonymous"):
                continue
            page.set_viewport_size({"width": NARROW, "height": 844})
            response = page.goto(live_server.url + url_of(name, objects))
            visits += 1
            assert response is not None
            if response.status in (403, 404):
                continue  # not this role's page
            assert response.status == 200, f"{who} {name}: HTTP {response.status}"
            page.wait_for_load_state("load")
            found = measure(page, NARROW) + measure(page, WIDE)
            if found:
                problems[f"{who} {name}"] = found
            checked[name].append(who)
    never = [name for name, roles in checked.items() if not roles]
    report = [f"{where}: {found}" for where, found in problems.items()]
    if never:
        report.append(f"no demo role could open these pages, so they were not checked: {never}")
    if errors:
        report.append(f"JavaScript errors: {errors}")
    assert not report, "\n".join(report)
    pairs = sum(len(roles) for roles in checked.values())
    print(f"{len(PAGES)} pages, {pairs} page/role pairs at {NARROW} and {WIDE} px ({visits} visits): all fit")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_folded_menu_opens_and_closes_from_its_button_and_escape(page: Page, live_server, estate):
    passwords, objects = estate
    page.set_viewport_size({"width": NARROW, "height": 844})
    sign_in(page, live_server.url, "dev1", passwords["dev1"])
    toggle, menu = page.get_by_test_id("menu-toggle"), page.get_by_test_id("main-menu")
    expect(toggle).to_have_accessible_name("Menu")
    expect(menu).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("link", name="VMs")).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(toggle).to_be_focused()

    # From the folded menu to the VM list and a VM's page: both screenshots at phone width.
    toggle.click()
    menu.get_by_role("link", name="VMs").click()
    expect(page.get_by_role("heading", name="VMs", exact=False).first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "narrow-vm-list.png", full_page=True)
    page.goto(live_server.url + url_of("provisioning:vm-detail", objects))
    page.screenshot(path=SCREENSHOTS / "narrow-vm-detail.png", full_page=True)
    assert measure(page, NARROW) == []

    # The measure sees a page that does not fit (so the walk above can fail).
    page.evaluate("""() => { const d = document.createElement("div");
                             d.style.width = "900px"; d.textContent = "wide";
                             document.querySelector("main").append(d); }""")
    assert "the document is" in " ".join(measure(page, NARROW))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_without_javascript_the_menu_stays_open_and_fits(browser, live_server, estate):
    context = browser.new_context(java_script_enabled=False, viewport={"width": NARROW, "height": 844})
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    menu = page.get_by_test_id("main-menu")
    expect(menu).to_be_visible()
    expect(page.get_by_test_id("menu-toggle")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW
    context.close()
