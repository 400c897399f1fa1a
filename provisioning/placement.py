"""Sums and fits over the mirrored compute hosts in the database, so pages answer for a thousand hosts
in one query instead of looping over them in Python.

``CloudHost``'s generated columns hold Placement's rule per resource class (``<prefix>_capacity``,
``<prefix>_used``, see ``provisioning.placement_rule``). How many VMs of a flavor fit on a host is, as
``provisioning.selectors.host_fit_count`` counts it, ``min(free // size)`` over the resource classes with
Python's floor division (a host over its capacity counts negative), summed over the hosts and never
below 0.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import (
    BigIntegerField,
    Count,
    Expression,
    F,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from provisioning.models import CloudFlavor, CloudHost

RESOURCES = (("VCPU", "vcpus"), ("MEMORY_MB", "ram_mb"), ("DISK_GB", "disk_gb"))
# Resource class -> its columns' prefix ("vcpu_capacity", "vcpu_used", ...), as the history's columns.
PREFIX = {"VCPU": "vcpu", "MEMORY_MB": "memory_mb", "DISK_GB": "disk_gb"}


def with_vm_count(hosts: QuerySet[CloudHost]) -> QuerySet[CloudHost]:
    """``hosts`` annotated with ``vm_count``: the database's rollup of Kennel's active VMs plus the
    servers made outside Kennel on each host."""
    return hosts.annotate(
        vm_count=Coalesce(F("vm_rollup__vm_count"), Value(0), output_field=BigIntegerField())
    )


def schedulable(hosts: QuerySet[CloudHost]) -> QuerySet[CloudHost]:
    """The hosts the scheduler may place on (``CloudHost.schedulable``)."""
    return hosts.filter(state="up", status="enabled")


def fit_counts(hosts: QuerySet[CloudHost], flavors: list[CloudFlavor]) -> dict[tuple[str, int], int]:
    """(architecture, flavor pk) -> how many more VMs of the flavor fit on ``hosts`` of that
    architecture right now (pass ``schedulable(...)`` hosts). One query, whatever the number of hosts
    and flavors; an architecture without hosts is absent."""
    if not flavors:
        return {}
    # Written as SQL: the same arithmetic as ORM expressions costs more to build than to run. One scan of
    # the hosts with a column per flavor (a host x flavor join is 30,000 rows to group, 8x slower).
    # Double precision divides exactly enough: for integers below 2**50 no quotient just under an
    # integer rounds up to it, so FLOOR is Python's ``//``.
    least = "LEAST" if connection.vendor == "postgresql" else "MIN"
    per_host = (
        least
        + "("
        + ", ".join(
            f"FLOOR(CAST({PREFIX[rc]}_capacity - {PREFIX[rc]}_used AS DOUBLE PRECISION) / %s)"
            for rc, _size in RESOURCES
        )
        + ")"
    )
    columns = ", ".join([f"SUM({per_host})"] * len(flavors))
    sizes = [float(max(getattr(flavor, size), 1)) for flavor in flavors for _rc, size in RESOURCES]
    scope, scope_params = hosts.order_by().values("pk").query.sql_with_params()
    sql = (
        f"SELECT architecture, {columns} FROM {CloudHost._meta.db_table} "  # noqa: S608 (no user input)
        f"WHERE id IN ({scope}) GROUP BY architecture"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*sizes, *scope_params])
        return {
            (architecture, flavor.pk): max(int(fits or 0), 0)
            for architecture, *counts in cursor.fetchall()
            for flavor, fits in zip(flavors, counts, strict=True)
        }


def totals(hosts: QuerySet[CloudHost], *, by: str) -> list[dict]:
    """``hosts`` (with ``vm_count``, see ``with_vm_count``) summed per ``by`` (a field or an
    annotation): ``host_count``, ``vm_total`` and ``<prefix>_capacity_total``/``<prefix>_used_total``
    per resource class, as dicts ordered by ``by``. One query."""
    sums: dict[str, Expression] = {"host_count": Count("pk"), "vm_total": Sum("vm_count")}
    for prefix in PREFIX.values():
        sums[f"{prefix}_capacity_total"] = Sum(f"{prefix}_capacity")
        sums[f"{prefix}_used_total"] = Sum(f"{prefix}_used")
    return list(hosts.order_by().values(by).annotate(**sums).order_by(by))
