"""Content-Security-Policy: every response carries it, and no template needs what it forbids.

The walk asks for every named URL of the project (kwargs filled with the team's slug or a small id, so
most detail pages answer 404 or the real object) as an admin and as a developer; whatever the status,
the header must be there and allow no inline script, no eval and no inline style. The scan reads every
template of the project and fails on anything the policy would block in a browser; the browser test in
tests/e2e/test_csp.py checks the same from Chromium's side.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter, SlugConverter

from inventory.charts import ChartLine, line_chart_svg, time_axis
from tests.factories import DataCenterFactory, ServerFactory

FORBIDDEN_SOURCES = ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "*", "data:", "http:", "https:")


def _params(pattern) -> dict[str, str]:
    converters = getattr(pattern, "converters", {})
    if converters:
        return {name: type(conv).__name__ for name, conv in converters.items()}
    regex = getattr(pattern, "regex", None)
    return {name: "regex" for name in (regex.groupindex if regex is not None else {})}


def _walk(patterns, namespace: tuple[str, ...] = (), params: dict[str, str] | None = None) -> Iterator:
    for entry in patterns:
        found = {**(params or {}), **_params(entry.pattern)}
        if isinstance(entry, URLResolver):
            inner = (*namespace, entry.namespace) if entry.namespace else namespace
            yield from _walk(entry.url_patterns, inner, found)
        elif isinstance(entry, URLPattern) and entry.name:
            yield ":".join((*namespace, entry.name)), found


def _candidates(kind: str, name: str) -> list[str]:
    if name == "format":
        return ["json"]
    if kind == IntConverter.__name__:
        return ["1"]
    if kind == SlugConverter.__name__:
        return ["alpha", "x"]
    return ["alpha", "1", "x", "clouds.yaml", "portal"]  # portal: an app label (Django admin)


def project_urls() -> list[str]:
    """One URL per named route of the project (routes whose kwargs cannot be filled are reported)."""
    urls: set[str] = set()
    unfilled = []
    for name, params in _walk(get_resolver().url_patterns):
        names = sorted(params)
        options = [_candidates(params[n], n) for n in names]
        done = False
        for attempt in range(max((len(o) for o in options), default=1)):
            kwargs = {n: o[min(attempt, len(o) - 1)] for n, o in zip(names, options, strict=True)}
            try:
                urls.add(reverse(name, kwargs=kwargs or None))
                done = True
                break
            except NoReverseMatch:
                continue
        if not done:
            unfilled.append(name)
    assert not unfilled, f"routes the walk cannot fill: {unfilled}"
    return sorted(urls)


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["admin", "member"])
def test_every_page_carries_a_csp_without_inline_script_or_style(people, team, who):
    DataCenterFactory(code="dc1")
    ServerFactory(name="x1")
    urls = project_urls()
    assert len(urls) > 100, urls  # the walk found the project, not a handful
    client = Client(raise_request_exception=False)
    client.force_login(people[who])
    problems = []
    for url in urls:
        response = client.get(url)
        header = response.get("Content-Security-Policy")
        if not header:
            problems.append(f"{url} ({response.status_code}): no Content-Security-Policy")
            continue
        directives = csp_directives(header)
        for directive in ("script-src", "style-src", "default-src"):
            sources = directives.get(directive)
            if sources is None:
                problems.append(f"{url}: no {directive}")
            elif bad := [s for s in sources if s in FORBIDDEN_SOURCES]:
                problems.append(f"{url}: {directive} allows {bad}")
        if directives.get("object-src") != ["'none'"] or directives.get("frame-ancestors") != ["'none'"]:
            problems.append(f"{url}: object-src/frame-ancestors not 'none'")
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_the_login_page_and_anonymous_answers_carry_it_too(client):
    for url in ("/login/", "/", "/api/v1/vms/", "/no-such-page/"):
        header = client.get(url).get("Content-Security-Policy", "")
        assert "script-src 'self'" in header, url


# The scan ----------------------------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-zA-Z][^>]*?\son[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
STYLE_ATTRIBUTE = re.compile(r"<[a-zA-Z][^>]*?\sstyle\s*=", re.IGNORECASE | re.DOTALL)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)
JS_URL = re.compile(r"javascript:", re.IGNORECASE)
HTMX_EVAL = re.compile(
    r"\shx-on[:\-]|\shx-vals\s*=\s*['\"]\s*(js|javascript):|\shx-trigger\s*=\s*['\"][^'\"]*\["
)
COMMENT = re.compile(r"\{#.*?#\}|\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", re.DOTALL)
CHECKS = {
    "inline <script> (a body, not src=)": INLINE_SCRIPT,
    "on*= event handler attribute": EVENT_HANDLER,
    "style= attribute": STYLE_ATTRIBUTE,
    "<style> element": STYLE_ELEMENT,
    "javascript: URL": JS_URL,
    "htmx code needing eval (hx-on, js: values, trigger filters)": HTMX_EVAL,
}


def project_templates() -> list[Path]:
    base = Path(settings.BASE_DIR)
    roots = [base / "templates"] + [
        base / app / "templates" for app in settings.INSTALLED_APPS if "." not in app
    ]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*.html"))


def template_violations(text: str) -> list[str]:
    """What in ``text`` a browser would block under the policy (template comments are not sent)."""
    text = COMMENT.sub("", text)
    return [what for what, pattern in CHECKS.items() if pattern.search(text)]


def test_no_template_has_inline_script_handlers_or_styles():
    templates = project_templates()
    assert len(templates) > 50
    problems = [f"{path}: {what}" for path in templates for what in template_violations(path.read_text())]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "snippet",
    [
        "<script>alert(1)</script>",
        '<script type="module">x()</script>',
        '<button type="button" onclick="go()">',
        '<select\n  name="x" onChange="this.form.submit()">',
        '<span style="width: 3%">',
        "<style>p { color: red }</style>",
        '<a href="javascript:void(0)">',
        '<div hx-on:click="alert(1)">',
        "<div hx-vals='js:{a: 1}'>",
        "<div hx-trigger=\"change[target.name=='x']\">",
        "{# a comment is fine: <style> #}<p style='x'>",
    ],
)
def test_the_scan_finds_each_kind(snippet):
    assert template_violations(snippet)


def test_the_scan_lets_our_own_markup_through():
    assert not template_violations(
        '<script src="/static/kennel/kennel.js" defer></script><select data-autosubmit name="language">'
        '<div hx-trigger="every 2s" hx-get="/x/" data-narrow-on="team image"><p>one = two, only</p>'
    )


def test_charts_draw_with_classes_not_inline_styles():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    axis = time_axis(
        [start, start + timedelta(hours=1)],
        start=start,
        end=start + timedelta(hours=2),
        gap=timedelta(hours=2),
    )
    lines = [ChartLine("Used", [1, 2], "used"), ChartLine("Capacity", [4, 4], "capacity")]
    svg = str(
        line_chart_svg(
            chart_id="c", title="t", description="d", x_label="x", y_label="y", axis=axis, lines=lines
        )
    )
    assert "<svg" in svg and "chart-used" in svg and not template_violations(svg)


@pytest.mark.parametrize(
    ("percent", "expected"),
    [(0, "pct-0"), (42.4, "pct-42"), ("57", "pct-57"), (250, "pct-100"), (-3, "pct-0"), (None, "pct-0")],
)
def test_usage_bars_fill_by_class(percent, expected):
    from portal.templatetags.kennel import bar_width

    assert bar_width(percent) == expected
