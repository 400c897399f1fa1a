"""Placement's capacity rule as database expressions over a host's mirrored ``inventories`` JSON, for
``CloudHost``'s generated columns: exactly ``CloudHost.capacity`` (``int((total - reserved) *
allocation_ratio)`` in double precision, truncated) and the ``used`` amount, 0 without an inventory of
the resource class."""

from __future__ import annotations

from django.db.models import BigIntegerField, Expression, FloatField, Func, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce


def _number(resource_class: str, key: str) -> Expression:
    return Cast(KT(f"inventories__{resource_class}__{key}"), FloatField())


def capacity_expression(resource_class: str) -> Expression:
    """(total - reserved) * allocation_ratio, truncated to an integer; 0 without an inventory."""
    raw = (_number(resource_class, "total") - _number(resource_class, "reserved")) * _number(
        resource_class, "allocation_ratio"
    )
    truncated = Func(raw, function="TRUNC", output_field=FloatField())
    return Coalesce(Cast(truncated, BigIntegerField()), Value(0), output_field=BigIntegerField())


def used_expression(resource_class: str) -> Expression:
    """What is allocated of it; 0 without an inventory."""
    truncated = Func(_number(resource_class, "used"), function="TRUNC", output_field=FloatField())
    return Coalesce(Cast(truncated, BigIntegerField()), Value(0), output_field=BigIntegerField())
