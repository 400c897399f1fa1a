"""Reads for the physical estate, always scoped to the asking user."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from inventory.models import PowerRequest, Server
from portal.access import Capability, can, restrict
from portal.models import User
from provisioning.models import CloudFlavor, CloudHost, UnmanagedServer, VmRequest
from provisioning.selectors import host_fit_count


def server_list(*, user: User) -> QuerySet[Server]:
    return restrict(
        user,
        Server.objects.select_related(
            "datacenter", "hardware_state", "drain", "drain__requested_by"
        ).prefetch_related("drain__moves"),
    )


def power_request_list(*, user: User) -> QuerySet[PowerRequest]:
    return restrict(user, PowerRequest.objects.select_related("server", "requested_by", "confirmed_by"))


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


def _resource_usage(inventories: dict, resource_class: str) -> ResourceUsage:
    inv = inventories.get(resource_class)
    if not inv:
        return ResourceUsage(resource_class, 0, 0)
    # Placement's rule, the same as CloudHost.free() and the gateway's Inventory.capacity.
    capacity = int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])
    return ResourceUsage(resource_class, capacity, int(inv["used"]))


def _counts_by_host(queryset: QuerySet) -> dict[str, int]:
    return dict(queryset.exclude(host="").values_list("host").annotate(n=Count("id")).order_by())


def host_utilization_list(*, user: User) -> list[HostUtilization]:
    """Every compute host the user may see (managers and admins), from the mirror: per resource class
    capacity = (total - reserved) * allocation_ratio, used, free; VMs on it (Kennel's active VMs plus the
    servers Kennel did not create); and the physical server matched by hypervisor host name.
    Four queries whatever the number of hosts."""
    return _host_utilization(
        hosts=restrict(user, CloudHost.objects.all()),
        vms=restrict(user, VmRequest.objects.all()),
        unmanaged=restrict(user, UnmanagedServer.objects.all()),
        servers=server_list(user=user),
    )


def host_utilization_for_history() -> list[HostUtilization]:
    """``host_utilization_list`` over the whole estate, for the snapshot task (inventory.history), which
    acts for nobody. Never for a request: it is not scoped to a user."""
    return _host_utilization(
        hosts=CloudHost.objects.all(),
        vms=VmRequest.objects.all(),
        unmanaged=UnmanagedServer.objects.all(),
        servers=Server.objects.all(),
    )


def _host_utilization(
    *,
    hosts: QuerySet[CloudHost],
    vms: QuerySet[VmRequest],
    unmanaged: QuerySet[UnmanagedServer],
    servers: QuerySet[Server],
) -> list[HostUtilization]:
    # Only the columns the rows need: the page and the dashboard read every host on each request.
    host_rows = list(
        hosts.order_by("name").values_list("name", "architecture", "state", "status", "inventories")
    )
    if not host_rows:
        return []
    vm_counts = _counts_by_host(vms.filter(status=VmRequest.Status.ACTIVE))
    for host_name, n in _counts_by_host(unmanaged).items():
        vm_counts[host_name] = vm_counts.get(host_name, 0) + n
    # The oldest server record wins when two name the same hypervisor (later keys overwrite earlier).
    by_hostname = {
        hostname: (pk, name, datacenter)
        for hostname, pk, name, datacenter in servers.exclude(hypervisor_hostname="")
        .order_by("-pk")
        .values_list("hypervisor_hostname", "pk", "name", "datacenter__name")
    }
    rows = []
    for name, architecture, state, status, inventories in host_rows:
        server_id, server_name, datacenter = by_hostname.get(name, (None, "", ""))
        rows.append(
            HostUtilization(
                name=name,
                architecture=architecture,
                state=state,
                status=status,
                resources=tuple(_resource_usage(inventories, rc) for rc in UTILIZATION_RESOURCES),
                vm_count=vm_counts.get(name, 0),
                server_id=server_id,
                server_name=server_name,
                datacenter=datacenter,
            )
        )
    return rows


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
    """The hosts summed per architecture; pass ``hosts`` to reuse a list already read."""
    rows = host_utilization_list(user=user) if hosts is None else hosts
    return _group(rows, lambda h: h.architecture)


def utilization_by_datacenter(
    *, user: User, hosts: list[HostUtilization] | None = None
) -> list[UtilizationGroup]:
    """The hosts summed per data center of their physical server ("" when no server matches)."""
    rows = host_utilization_list(user=user) if hosts is None else hosts
    return _group(rows, lambda h: h.datacenter)


def headroom(*, user: User) -> list[FlavorHeadroom]:
    """Per architecture with hosts, how many more VMs of each flavor fit right now (managers and
    admins; nobody else sees per-architecture capacity). One query per architecture and flavor."""
    architectures = list(
        restrict(user, CloudHost.objects.exclude(architecture=""))
        .values_list("architecture", flat=True)
        .distinct()
        .order_by("architecture")
    )
    if not architectures:
        return []
    flavors = list(restrict(user, CloudFlavor.objects.all()))
    return [
        FlavorHeadroom(
            architecture=arch,
            flavor=flavor.name,
            vcpus=flavor.vcpus,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            count=host_fit_count(architecture=arch, flavor=flavor),
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
