"""Where an audit entry's object is shown: each app names the page of its own objects (in its
``AppConfig.ready()``), so the core's audit log links to them without importing any app."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

# target_type (a model's ``_meta.label_lower``) -> the URL name of its page, which takes the pk.
_PAGES: dict[str, str] = {}


def audit_target_page_register(target_type: str, url_name: str) -> None:
    """Objects of ``target_type`` are shown at ``url_name`` (one argument: the pk). Its view still
    decides who may see it: a link is no permission."""
    _PAGES[target_type] = url_name


def audit_target_url(target_type: str, target_id: str) -> str | None:
    """The page of an audit entry's object, or None when its type has none (or the id cannot be one)."""
    page = _PAGES.get(target_type)
    if page is None or not target_id:
        return None
    try:
        return reverse(page, args=[int(target_id)])
    except (NoReverseMatch, ValueError):
        return None
