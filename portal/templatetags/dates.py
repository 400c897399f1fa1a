"""``{{ value|when }}``: the portal's one way to show a date or a time.

Every page shows a moment the same way, in both languages: ISO-like digits in the portal's time zone
(``2026-12-02 14:05``), read the same by everyone, with how long ago (or how far ahead) it is as a hint
in the element's ``title``, and the full moment (seconds and time zone) in ``datetime`` for machines::

    <time datetime="2026-12-02T14:05:33+00:00"
          title="3 hours ago · 2026-12-02 14:05:33 UTC">2026-12-02 14:05</time>

Styles, as the filter's argument:

- ``""`` (default): date and minutes shown, the relative hint in ``title``;
- ``"day"``: only the date shown (a day's worth of precision is what matters: a key's creation day);
- ``"both"``: date and minutes shown with the relative hint beside it, for moments people act on
  ("lease ends 2026-12-05 09:00 (in 3 days)").

A ``date`` (not a datetime) shows as ``2026-12-02`` with "in 3 days" / "today" as its hint.
``tests/portal/test_dates.py`` fails on a template that formats a date any other way
(``|date:``, ``naturaltime``, ``timesince`` …). This filter is a builtin (settings' ``TEMPLATES``): no
``{% load %}`` needed. ``|age`` (ages.py) is not a date but a duration: how old mirrored data is.
"""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

register = template.Library()

DISPLAY = "%Y-%m-%d %H:%M"
DAY = "%Y-%m-%d"
FULL = "%Y-%m-%d %H:%M:%S %Z"


def relative(value: datetime | date, now: datetime | None = None) -> str:
    """How far ``value`` is from now, in the active language: "3 hours ago", "in 2 days", "just now"."""
    now = now or timezone.now()
    if not isinstance(value, datetime):
        today = timezone.localdate(now)
        days = (value - today).days
        if days == 0:
            return _("today")
        start, end = sorted((value, today))
        span = timesince(start, end, depth=1)
        return (_("in %(span)s") if days > 0 else _("%(span)s ago")) % {"span": span}
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    seconds = (value - now).total_seconds()
    if abs(seconds) < 60:
        return _("just now")
    start, end = sorted((value, now))
    span = timesince(start, end, depth=1)
    return (_("in %(span)s") if seconds > 0 else _("%(span)s ago")) % {"span": span}


@register.filter
def when(value: datetime | date | None, style: str = "") -> SafeString | str:
    """The moment as a ``<time>`` element (see the module's docstring); "" for None or ""."""
    if value is None or value == "":
        return ""
    if not isinstance(value, date):
        return str(value)  # not a moment: shown as it is rather than hidden
    hint = relative(value)
    if isinstance(value, datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        shown = local.strftime(DAY if style == "day" else DISPLAY)
        machine = local.isoformat(timespec="seconds")
        title = f"{hint} · {local.strftime(FULL).strip()}"
    else:
        shown = machine = value.strftime(DAY)
        title = hint
    if style == "both":
        return format_html(
            '<time datetime="{}" title="{}">{}</time> <small class="when-hint">({})</small>',
            machine,
            title,
            shown,
            hint,
        )
    return format_html('<time datetime="{}" title="{}">{}</time>', machine, title, shown)
