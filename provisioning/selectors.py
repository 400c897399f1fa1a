"""Reads for VMs and the cloud mirror; every query a user reaches is scoped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from portal.access import restrict
from portal.hooks import hooks_run
from portal.models import Team, User
from provisioning.hooks import ProvisioningEvent
from provisioning.models import CloudFlavor, CloudHost, CloudImage, UnmanagedServer, VmRequest
from provisioning.placement import fit_counts, schedulable
from provisioning.sync import Part, mirror_freshness


def host_fit_count(*, architecture: str, flavor: CloudFlavor, other_than: str = "") -> int:
    """How many more VMs of ``flavor`` fit on the schedulable hosts of ``architecture`` right now,
    by Placement's rule: (total - reserved) * allocation_ratio - used, per resource. One query (the
    database sums the hosts, see provisioning.placement). ``other_than``: leave that host out (a resize
    goes to another host: Nova's allow_resize_to_same_host is off by default)."""
    hosts = CloudHost.objects.filter(architecture=architecture)
    if other_than:
        hosts = hosts.exclude(name=other_than)
    return fit_counts(schedulable(hosts), [flavor]).get((architecture, flavor.pk), 0)


def _fit_counts(architecture: str, flavors: list[CloudFlavor]) -> dict[tuple[str, int], int]:
    return fit_counts(schedulable(CloudHost.objects.filter(architecture=architecture)), flavors)


@dataclass(frozen=True)
class FlavorRoom:
    """How many more VMs of a flavor fit: on the architecture's hosts, and within the team's quota."""

    flavor: CloudFlavor
    host_fits: int
    quota_fits: int | None  # None: the team's quota sets no bound

    @property
    def fits(self) -> int:
        return self.host_fits if self.quota_fits is None else min(self.host_fits, self.quota_fits)

    @property
    def bound_by_quota(self) -> bool:
        return self.quota_fits is not None and self.quota_fits < self.host_fits


def flavor_room(*, flavors: Iterable[CloudFlavor], architecture: str, team: Team | None) -> list[FlavorRoom]:
    """``FlavorRoom`` for each flavor on ``architecture``, for ``team`` (None: hosts only). The hosts and
    the team's quota are read once for all the flavors."""
    flavors = list(flavors)
    fits = _fit_counts(architecture, flavors)
    quota_fits: list[int | None] = [None] * len(flavors)
    if team is not None:  # the quotas app answers (portal.hooks), the tightest bound wins
        sizes = [(flavor.vcpus, flavor.ram_mb, flavor.disk_gb) for flavor in flavors]
        for answer in hooks_run(ProvisioningEvent.VM_ROOM, team=team, architecture=architecture, sizes=sizes):
            quota_fits = [
                theirs if ours is None else ours if theirs is None else min(ours, theirs)
                for ours, theirs in zip(quota_fits, answer, strict=True)
            ]
    return [
        FlavorRoom(flavor=flavor, host_fits=fits.get((architecture, flavor.pk), 0), quota_fits=quota)
        for flavor, quota in zip(flavors, quota_fits, strict=True)
    ]


@dataclass(frozen=True)
class ArchitectureChoice:
    architecture: str
    image_count: int
    host_count: int


def architecture_list() -> list[ArchitectureChoice]:
    """Architectures that the cloud can run: an offered, active image of it and a host of it."""
    hosts = dict(
        CloudHost.objects.exclude(architecture="").values_list("architecture").annotate(n=Count("id"))
    )
    images = (
        CloudImage.objects.filter(status="active", offered=True)
        .exclude(architecture="")
        .values_list("architecture")
        .annotate(n=Count("id"))
        .order_by("architecture")
    )
    return [ArchitectureChoice(arch, n, hosts[arch]) for arch, n in images if arch in hosts]


def image_list(
    *, user: User, architecture: str | None = None, team: Team | None = None
) -> QuerySet[CloudImage]:
    """The images developers may request, active and with an architecture: the catalog's that an admin
    offers, and the teams' own (snapshots) that ``user`` may see; with ``team``, only that team's own."""
    own = Q(team=team) if team is not None else Q(team__isnull=False)
    images = restrict(
        user,
        CloudImage.objects.filter(Q(team__isnull=True, offered=True) | own, status="active").exclude(
            architecture=""
        ),
    )
    return images.filter(architecture=architecture) if architecture else images


def flavor_list(*, user: User, image: CloudImage | None = None) -> QuerySet[CloudFlavor]:
    """Offered public flavors; with ``image``, only those big enough for it and not kept off its
    architecture by their extra specs."""
    flavors = restrict(user, CloudFlavor.objects.filter(is_public=True, offered=True))
    if image is not None:
        flavors = flavors.filter(disk_gb__gte=image.min_disk_gb, ram_mb__gte=image.min_ram_mb)
        elsewhere = [f.pk for f in flavors if not f.suits_architecture(image.architecture)]
        flavors = flavors.exclude(pk__in=elsewhere)
    return flavors


def mirror_synced_at(part: Part) -> tuple[datetime | None, str]:
    """When a part of the mirror (``provisioning.sync.Part``) last succeeded: the time its data was
    read; and the last error if the latest try failed."""
    freshness = mirror_freshness(part)
    return freshness.synced_at, freshness.error


def catalog_synced_at() -> tuple[datetime | None, str]:
    """When the catalog (images, flavors, networks) was last mirrored, and the last error."""
    return mirror_synced_at(Part.CATALOG)


def hosts_synced_at() -> tuple[datetime | None, str]:
    """When the compute hosts (hypervisors, Placement) were last mirrored, and the last error."""
    return mirror_synced_at(Part.HOSTS)


def servers_synced_at() -> tuple[datetime | None, str]:
    """When every project's servers were last followed onto the VM rows, and the last error."""
    return mirror_synced_at(Part.SERVERS)


def vm_list(*, user: User) -> QuerySet[VmRequest]:
    return restrict(user, VmRequest.objects.select_related("team", "owner"))


def team_vm_list(*, user: User, team: Team) -> QuerySet[VmRequest]:
    """The team's VMs that are not deleted, as ``user`` may see them (for the team's page)."""
    return vm_list(user=user).filter(team=team).exclude(status=VmRequest.Status.DELETED)


@dataclass(frozen=True)
class StateCount:
    state: str
    label: str
    count: int


def vm_state_counts(vms: Iterable[VmRequest]) -> list[StateCount]:
    """How many of ``vms`` are in each state they show (the server's, else the request's), most first."""
    counts: dict[str, StateCount] = {}
    for vm in vms:
        seen = counts.get(vm.state)
        counts[vm.state] = StateCount(vm.state, vm.state_label, (seen.count if seen else 0) + 1)
    return sorted(counts.values(), key=lambda c: (-c.count, c.state))


def teams_for_requests(*, user: User) -> QuerySet[Team]:
    from portal.access import Action

    return restrict(user, Team.objects.exclude(openstack_project_id=""), Action.OPERATE)


def unmanaged_server_list(*, user: User) -> QuerySet[UnmanagedServer]:
    return restrict(user, UnmanagedServer.objects.select_related("team"))


def host_architectures() -> list[str]:
    """The architectures the mirror's compute hosts run, sorted: one DISTINCT over the hosts (no
    ordering column in it, so a row per architecture at any number of hosts)."""
    return sorted(
        CloudHost.objects.exclude(architecture="")
        .order_by()
        .values_list("architecture", flat=True)
        .distinct()
    )
