"""``{{ when|age }}``: how long ago, to the second while it is recent ("12 s", "3 min", "2 h", "4 d").

Django's ``timesince`` says "0 minutes" for anything under a minute, which hides exactly what a page of
mirrored cloud data must tell: whether its data is seconds or minutes old.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def age(when: datetime | None) -> str:
    if when is None:
        return ""
    seconds = max(int((timezone.now() - when).total_seconds()), 0)
    if seconds < 120:
        return _("%(n)d s") % {"n": seconds}
    if seconds < 2 * 3600:
        return _("%(n)d min") % {"n": seconds // 60}
    if seconds < 2 * 86400:
        return _("%(n)d h") % {"n": seconds // 3600}
    return _("%(n)d d") % {"n": seconds // 86400}
