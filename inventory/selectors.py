"""Reads for the physical estate, always scoped to the asking user."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from inventory.models import PowerActionChoice, PowerRequest, Server
from portal.access import Capability, can, restrict
from portal.models import User
from provisioning.models import CloudFlavor, CloudHost
from provisioning.placement import PREFIX, fit_counts, schedulable, totals, with_vm_count


def server_list(*, user: User) -> QuerySet[Server]:
    return restrict(
        user,
        Server.objects.select_related(
            "datacenter", "hardware_state", "drain", "drain__requested_by"
        ).prefetch_related("drain__moves"),
    )


def power_request_list(*, user: User) -> QuerySet[PowerRequest]:
    return restrict(user, PowerRequest.objects.select_related("server", "requested_by", "confirmed_by"))


def power_cooldown_left(*, server: Server) -> int:
    """Seconds until a new power action on ``server`` may be asked for (KENNEL_POWER_COOLDOWN after the
    last one that was not failed or cancelled); 0 when it may be now."""
    cooldown = settings.KENNEL_POWER_COOLDOWN
    if not cooldown:
        return 0
    now = timezone.now()
    recent = (
        PowerRequest.objects.filter(server=server, created_at__gte=now - timedelta(seconds=cooldown))
        .exclude(status__in=[PowerRequest.Status.FAILED, PowerRequest.Status.CANCELLED])
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if recent is None:
        return 0
    return max(0, math.ceil(cooldown - (now - recent).total_seconds()))


def power_request_cancellable(*, user: User, request: PowerRequest) -> bool:
    """May ``user`` cancel ``request`` (it still waits for a second admin)? (The service checks again.)"""
    return request.status == PowerRequest.Status.AWAITING_CONFIRMATION and can(user, Capability.POWER_OPERATE)


def power_action_first(*, server: Server) -> str:
    """The power action to offer first, fitting the server's power as its BMC last showed it: power on
    for a server that is off (or unknown), soft off for one that is on."""
    state = getattr(getattr(server, "hardware_state", None), "power_state", None)
    return PowerActionChoice.SOFT_OFF if state == "on" else PowerActionChoice.ON


def power_request_confirmable(*, user: User, request: PowerRequest) -> bool:
    """May ``user`` give ``request`` its second admin's confirmation? (The service checks again.)"""
    return (
        request.status == PowerRequest.Status.AWAITING_CONFIRMATION
        and request.requested_by_id != user.pk
        and can(user, Capability.POWER_OPERATE)
    )


# --- Utilization: Placement's view of the compute hosts, as mirrored in CloudHost (no cloud calls) ---

UTILIZATION_RESOURCES = ("VCPU", "MEMORY_MB", "DISK_GB")


@dataclass(frozen=True)
class ResourceUsage:
    """One resource class on a host or a group of hosts: capacity by Placement's rule, and usage."""

    resource_class: str
    capacity: int
    used: int

    @property
    def free(self) -> int:
        return self.capacity - self.used

    @property
    def percent(self) -> float:
        return round(self.used * 100 / self.capacity, 1) if self.capacity else 0.0


@dataclass(frozen=True)
class HostUtilization:
    """A compute host with its usage, its VM count and the physical server it runs on (if known)."""

    name: str
    architecture: str
    state: str
    status: str
    resources: tuple[ResourceUsage, ...]
    vm_count: int
    server_id: int | None
    server_name: str
    datacenter: str


@dataclass(frozen=True)
class UtilizationGroup:
    """The hosts of one architecture or data center, summed."""

    key: str
    host_count: int
    vm_count: int
    resources: tuple[ResourceUsage, ...]


@dataclass(frozen=True)
class FlavorHeadroom:
    architecture: str
    flavor: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    count: int


def _with_usage(hosts: QuerySet[CloudHost], servers: QuerySet[Server]) -> QuerySet[CloudHost]:
    """``hosts`` with Placement's figures (generated columns), their VM count (the database's rollup)
    and the physical server matched by hypervisor host name (the oldest record wins when two name the
    same hypervisor), computed by the database."""
    matching = servers.filter(hypervisor_hostname=OuterRef("name")).order_by("pk")
    return with_vm_count(hosts).annotate(
        server_pk=Subquery(matching.values("pk")[:1]),
        server_name=Coalesce(Subquery(matching.values("name")[:1]), Value("")),
        datacenter_name=Coalesce(Subquery(matching.values("datacenter__name")[:1]), Value("")),
    )


_HOST_FIELDS = (
    "name",
    "architecture",
    "state",
    "status",
    "vm_count",
    "server_pk",
    "server_name",
    "datacenter_name",
    *(f"{prefix}_{figure}" for prefix in PREFIX.values() for figure in ("capacity", "used")),
)


def host_utilization_of(row: dict) -> HostUtilization:
    """A row of ``host_utilization_rows`` as a ``HostUtilization``."""
    return HostUtilization(
        name=row["name"],
        architecture=row["architecture"],
        state=row["state"],
        status=row["status"],
        resources=tuple(
            ResourceUsage(rc, row[f"{prefix}_capacity"], row[f"{prefix}_used"])
            for rc, prefix in PREFIX.items()
        ),
        vm_count=row["vm_count"],
        server_id=row["server_pk"],
        server_name=row["server_name"],
        datacenter=row["datacenter_name"],
    )


def host_utilization_rows(*, user: User) -> QuerySet[CloudHost, dict[str, Any]]:
    """The hosts ``host_utilization_list`` reads, as a lazy queryset of dicts ordered by name, for a page
    to slice (``host_utilization_of`` turns a row into a ``HostUtilization``)."""
    hosts = restrict(user, CloudHost.objects.all())
    servers = restrict(user, Server.objects.all())
    return _with_usage(hosts, servers).order_by("name").values(*_HOST_FIELDS)


def host_utilization_list(*, user: User) -> list[HostUtilization]:
    """Every compute host the user may see (managers and admins), from the mirror: per resource class
    capacity = (total - reserved) * allocation_ratio, used, free; VMs on it (Kennel's active VMs plus the
    servers Kennel did not create); and the physical server matched by hypervisor host name.
    One query whatever the number of hosts."""
    return [host_utilization_of(row) for row in host_utilization_rows(user=user)]


def _group_of(key: str, row: dict) -> UtilizationGroup:
    return UtilizationGroup(
        key=key,
        host_count=row["host_count"],
        vm_count=row["vm_total"] or 0,
        resources=tuple(
            ResourceUsage(rc, row[f"{prefix}_capacity_total"] or 0, row[f"{prefix}_used_total"] or 0)
            for rc, prefix in PREFIX.items()
        ),
    )


def _grouped(hosts: QuerySet[CloudHost], servers: QuerySet[Server], *, by: str) -> list[UtilizationGroup]:
    if by not in ("architecture", "datacenter"):
        raise ValueError(f"cannot group hosts by {by!r}")
    field = "architecture" if by == "architecture" else "datacenter_name"
    rows = totals(_with_usage(hosts, servers), by=field)
    # Sorted here, not by the database's collation: the same order as before, whatever the locale.
    return sorted((_group_of(row[field], row) for row in rows), key=lambda g: g.key)


def utilization_group_totals(*, user: User, by: str) -> list[UtilizationGroup]:
    """The user's hosts summed per ``by`` ("architecture" or "datacenter": the data center of the
    matched physical server, "" when none), by the database. One query whatever the number of hosts."""
    return _grouped(restrict(user, CloudHost.objects.all()), restrict(user, Server.objects.all()), by=by)


def utilization_totals_for_history(*, by: str) -> list[UtilizationGroup]:
    """``utilization_group_totals`` over the whole estate, for the snapshot task (inventory.history),
    which acts for nobody. Never for a request: it is not scoped to a user."""
    return _grouped(CloudHost.objects.all(), Server.objects.all(), by=by)


def host_utilization_for_history() -> list[HostUtilization]:
    """``host_utilization_list`` over the whole estate, unscoped (see ``utilization_totals_for_history``)."""
    rows = _with_usage(CloudHost.objects.all(), Server.objects.all()).order_by("name").values(*_HOST_FIELDS)
    return [host_utilization_of(row) for row in rows]


def host_utilization_alerting(*, user: User, percent: float) -> list[HostUtilization]:
    """The user's hosts using ``percent`` or more of any resource's capacity (capacity above 0), by name;
    the database picks them."""
    over = Q()
    hundredfold = {f"{prefix}_used_x100": F(f"{prefix}_used") * 100 for prefix in PREFIX.values()}
    for prefix in PREFIX.values():
        # used * 100 >= percent * capacity, as the alert has always been computed.
        over |= Q(
            **{f"{prefix}_capacity__gt": 0, f"{prefix}_used_x100__gte": F(f"{prefix}_capacity") * percent}
        )
    return [
        host_utilization_of(row) for row in host_utilization_rows(user=user).alias(**hundredfold).filter(over)
    ]


def _group(hosts: Iterable[HostUtilization], key: Callable[[HostUtilization], str]) -> list[UtilizationGroup]:
    groups: dict[str, list[HostUtilization]] = {}
    for host in hosts:
        groups.setdefault(key(host), []).append(host)
    return [
        UtilizationGroup(
            key=name,
            host_count=len(members),
            vm_count=sum(h.vm_count for h in members),
            resources=tuple(
                ResourceUsage(
                    rc,
                    sum(h.resources[i].capacity for h in members),
                    sum(h.resources[i].used for h in members),
                )
                for i, rc in enumerate(UTILIZATION_RESOURCES)
            ),
        )
        for name, members in sorted(groups.items())
    ]


def utilization_groups(hosts: Iterable[HostUtilization], *, by: str) -> list[UtilizationGroup]:
    """``hosts`` summed per ``by``: "architecture" or "datacenter" (the history snapshot's grouping)."""
    if by not in ("architecture", "datacenter"):
        raise ValueError(f"cannot group hosts by {by!r}")
    return _group(hosts, lambda h: getattr(h, by))


def utilization_by_architecture(
    *, user: User, hosts: list[HostUtilization] | None = None
) -> list[UtilizationGroup]:
    """The hosts summed per architecture (by the database; pass ``hosts`` to sum a list already read)."""
    if hosts is None:
        return utilization_group_totals(user=user, by="architecture")
    return _group(hosts, lambda h: h.architecture)


def utilization_by_datacenter(
    *, user: User, hosts: list[HostUtilization] | None = None
) -> list[UtilizationGroup]:
    """The hosts summed per data center of their physical server ("" when no server matches), by the
    database (pass ``hosts`` to sum a list already read)."""
    if hosts is None:
        return utilization_group_totals(user=user, by="datacenter")
    return _group(hosts, lambda h: h.datacenter)


def headroom(*, user: User) -> list[FlavorHeadroom]:
    """Per architecture with hosts, how many more VMs of each flavor fit right now (managers and
    admins; nobody else sees per-architecture capacity), as ``host_fit_count`` counts them. Three
    queries whatever the number of hosts and flavors."""
    hosts = restrict(user, CloudHost.objects.exclude(architecture=""))
    architectures = list(hosts.values_list("architecture", flat=True).distinct().order_by("architecture"))
    if not architectures:
        return []
    flavors = list(restrict(user, CloudFlavor.objects.all()))
    fits = fit_counts(schedulable(hosts), flavors)
    return [
        FlavorHeadroom(
            architecture=arch,
            flavor=flavor.name,
            vcpus=flavor.vcpus,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            count=fits.get((arch, flavor.pk), 0),
        )
        for arch in architectures
        for flavor in flavors
    ]


@dataclass(frozen=True)
class HeadroomRow:
    """One flavor's headroom across the architectures, in the order of ``architectures``."""

    flavor: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    counts: tuple[int, ...]


@dataclass(frozen=True)
class HeadroomTable:
    architectures: tuple[str, ...]
    rows: tuple[HeadroomRow, ...]


def headroom_table(*, user: User) -> HeadroomTable:
    """``headroom()`` as a table of flavors by architecture, for pages."""
    cells = headroom(user=user)
    architectures = tuple(dict.fromkeys(c.architecture for c in cells))
    by_flavor: dict[str, list[FlavorHeadroom]] = {}
    for cell in cells:
        by_flavor.setdefault(cell.flavor, []).append(cell)
    rows = tuple(
        HeadroomRow(
            flavor=name,
            vcpus=first.vcpus,
            ram_mb=first.ram_mb,
            disk_gb=first.disk_gb,
            counts=tuple(c.count for c in cells_of),
        )
        for name, cells_of in by_flavor.items()
        for first in cells_of[:1]
    )
    return HeadroomTable(architectures, rows)
