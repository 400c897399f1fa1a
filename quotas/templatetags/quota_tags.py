"""Lookups the quota templates need (a dict or table keyed by a dimension name that has a colon)."""

from django import template
from django.utils.translation import gettext as _

from portal.units import gib_text

register = template.Library()


@register.filter
def quota_line(table, key: str):
    """The TeamQuotaTable's line for dimension ``key``, or None."""
    return table.line(key)


@register.filter
def quota_value(values: dict, key: str):
    """``values[key]``, or an em dash when missing."""
    return values.get(key, "—")


@register.filter
def quota_amount(value, dimension):
    """An amount of ``dimension`` as people read it: RAM in GiB (Kennel and the cloud count MiB)."""
    if value is None or value == "—" or dimension.base != "ram_mb":
        return value
    return gib_text(value)


@register.filter
def quota_unit(dimension) -> str:
    """The unit shown beside a dimension's name on a page (GiB for RAM, see ``quota_amount``)."""
    return "GiB" if dimension.base == "ram_mb" else str(dimension.unit)


@register.filter
def cloud_count_reason(line) -> str:
    """Why the cloud's count of a dimension differs from Kennel's, in a sentence."""
    if line.cloud_used is None or line.cloud_used == line.used:
        return ""
    if line.cloud_used > line.used:
        return _(
            "The cloud counts more: servers made outside Kennel (for example with the openstack command) "
            "that Kennel has not seen yet (it looks every minute), or servers still being deleted."
        )
    return _(
        "Kennel counts more: it counts a VM from the moment its request is accepted, before the cloud "
        "has built it, so two requests cannot both take the last room."
    )
