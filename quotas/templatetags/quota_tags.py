"""Lookups the quota templates need (a dict or table keyed by a dimension name that has a colon)."""

from django import template

register = template.Library()


@register.filter
def quota_line(table, key: str):
    """The TeamQuotaTable's line for dimension ``key``, or None."""
    return table.line(key)


@register.filter
def quota_value(values: dict, key: str):
    """``values[key]``, or an em dash when missing."""
    return values.get(key, "—")
