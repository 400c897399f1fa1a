"""Kennel's template filters."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from portal.units import gib_text

register = template.Library()


@register.filter
def bar_width(percent: object) -> str:
    """The CSS class filling a usage bar to ``percent`` (``pct-0`` … ``pct-100``, in kennel.css).

    A class, not an inline ``style="width: …"``: the Content-Security-Policy allows no inline styles.
    Over 100 (overcommitted) fills the bar; nonsense draws it empty."""
    try:
        value = Decimal(str(percent))
    except (InvalidOperation, ValueError):
        return "pct-0"
    if not value.is_finite():
        return "pct-0"
    return f"pct-{min(100, max(0, round(value)))}"


@register.filter
def gib(mb: object) -> str:
    """``{{ vm.ram_mb|gib }}``: RAM as people read it ("0.5 GiB"), from the MiB the cloud counts."""
    try:
        return gib_text(float(str(mb)))
    except ValueError:
        return ""


@register.filter
def audit_target_url(event: object) -> str | None:
    """The page of an audit entry's object (``portal.audit_links``), or None."""
    from portal.audit_links import audit_target_url as url

    return url(getattr(event, "target_type", ""), getattr(event, "target_id", ""))


@register.filter
def audit_reason(event: object) -> str:
    """Why it was done, as the person said (power actions, drains ...), or ""."""
    detail = getattr(event, "detail", None)
    reason = detail.get("reason") if isinstance(detail, dict) else None
    return reason if isinstance(reason, str) else ""
