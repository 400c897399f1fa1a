"""One date format across the portal: ``|when`` (portal/templatetags/dates.py), in both languages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.utils import timezone, translation

from portal.templatetags.dates import relative, when

TEMPLATES = Path(settings.BASE_DIR) / "templates"

# Every other way Django offers to turn a moment into text.
OTHER_FORMATS = re.compile(
    r"\|\s*(date|time|naturaltime|naturalday|timesince|timeuntil|localtime|utc)\b"
    r"|\{%\s*now\b"
    r"|\bstrftime\b"
)


def render(source: str, **context) -> str:
    return Template(source).render(Context(context))


def test_no_template_formats_a_date_except_through_when():
    offenders = [
        f"{path.relative_to(settings.BASE_DIR)}:{number}: {match.group(0)}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        for match in OTHER_FORMATS.finditer(line)
    ]
    assert not offenders, "format dates with |when (portal/templatetags/dates.py):\n" + "\n".join(offenders)


def test_the_scan_would_catch_each_other_format():
    # The test above is only as good as its pattern: each way a template could format a date is caught.
    for line in [
        '{{ x|date:"Y-m-d" }}',
        "{{ x|naturaltime }}",
        "{{ x|timesince }}",
        "{{ x | timeuntil }}",
        '{{ x|time:"H:i" }}',
        "{% now 'Y' %}",
    ]:
        assert OTHER_FORMATS.search(line), line
    assert not OTHER_FORMATS.search("{{ x|when }} {{ x|when:'both' }} {{ updated|default:'—' }}")


def test_a_moment_shows_as_iso_digits_with_how_long_ago_in_its_title(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    moment = timezone.now() - timedelta(hours=3, minutes=2)
    local = timezone.localtime(moment)
    with timezone.override("Asia/Shanghai"):
        html = render("{{ at|when }}", at=moment)
    assert f">{local:%Y-%m-%d %H:%M}</time>" in html
    assert f'datetime="{local.isoformat(timespec="seconds")}"' in html
    assert 'title="3\xa0hours ago · ' in html
    assert "CST" in html  # the full moment in the title names its time zone


def test_the_same_digits_in_chinese_with_a_chinese_hint():
    moment = datetime(2026, 12, 2, 14, 5, 33, tzinfo=UTC)
    now = moment + timedelta(days=2, hours=1)
    with translation.override("zh-hans"):
        assert relative(moment, now) == "2\xa0日前"
        assert relative(moment + timedelta(days=5, hours=2), now) == "3\xa0日后"
        assert relative(now, now) == "刚刚"
    with translation.override("en"):
        assert relative(moment, now) == "2\xa0days ago"
        assert relative(moment + timedelta(days=5, hours=2), now) == "in 3\xa0days"


def test_styles_day_and_both():
    moment = timezone.now() + timedelta(days=3, minutes=5)
    local = timezone.localtime(moment)
    day = when(moment, "day")
    assert f">{local:%Y-%m-%d}</time>" in day
    both = when(moment, "both")
    assert f">{local:%Y-%m-%d %H:%M}</time>" in both
    assert '<small class="when-hint">(in 3\xa0days)</small>' in both


def test_a_date_a_missing_value_and_a_non_date():
    today = timezone.localdate()
    assert ">2026-01-31</time>" in when(date(2026, 1, 31))
    assert 'title="today"' in when(today)
    assert when(None) == "" and when("") == ""
    assert render("{{ at|when|default:'never' }}", at=None) == "never"
    assert when("soon") == "soon"  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ['<script>"', 'x" onmouseover="y'])
def test_nothing_in_a_non_date_is_markup(value):
    assert "<script>" not in render("{{ at|when }}", at=value)
