"""Reads for quotas: each team's limits, usage (counted, never stored) and open requests."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Round
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from portal.access import Capability, can, restrict
from portal.models import Membership, Team, User
from provisioning.models import CloudHost, UnmanagedServer, VmRequest
from quotas.dimensions import (
    PER_ARCHITECTURE,
    QUOTA_VALUE_MAX,
    VM_FIELDS,
    Dimension,
    arch_key,
    base_dimensions,
    dimension,
    sort_key,
    vm_need,
)
from quotas.models import QuotaPolicy, QuotaRequest, QuotaRule, TeamQuota, TeamUsageSample

# A VM holds its share of the quota from the moment it is accepted until it is gone.
HOLDING = (
    VmRequest.Status.QUEUED,
    VmRequest.Status.BUILDING,
    VmRequest.Status.ACTIVE,
    VmRequest.Status.DELETING,
)
# Placement's resource class for each compute dimension that hardware bounds.
RESOURCE_CLASS = {"cores": "VCPU", "ram_mb": "MEMORY_MB", "disk_gb": "DISK_GB"}


@dataclass(frozen=True)
class QuotaLine:
    """One dimension of a team's quota: the limit (None: unlimited), what is used, what the team has
    asked for in requests still open, and what remains."""

    dimension: Dimension
    limit: int | None
    used: int
    cloud_used: int | None  # the cloud's own count, where it keeps one
    requested: int | None

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit - self.used

    @property
    def percent(self) -> float | None:
        if self.limit is None or self.limit <= 0:
            return None
        return round(self.used * 100 / self.limit, 1)


@dataclass(frozen=True)
class TeamQuotaTable:
    team: Team
    lines: tuple[QuotaLine, ...]
    synced_at: datetime | None  # when the cloud's limits were last read

    def line(self, key: str) -> QuotaLine | None:
        return next((line for line in self.lines if line.dimension.key == key), None)


def _vm_usage(team_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Counted now from the team's VMs that hold resources and the servers Kennel did not create in its
    project: per base dimension and per architecture. Two queries whatever the number of teams."""
    usage: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ids = list(team_ids)
    rows: list[dict[str, Any]] = []
    holders: tuple[QuerySet[Any], ...] = (
        VmRequest.objects.filter(team_id__in=ids, status__in=HOLDING),
        UnmanagedServer.objects.filter(team_id__in=ids),
    )
    for holding in holders:
        rows += (
            holding.values("team_id", "architecture")
            .annotate(n=Count("id"), vcpus=Sum("vcpus"), ram_mb=Sum("ram_mb"), disk_gb=Sum("disk_gb"))
            .order_by()
        )
    for row in rows:
        counted = usage[row["team_id"]]
        for base, field in VM_FIELDS.items():
            amount = row["n"] if field is None else row[field] or 0
            counted[base] += amount
            if row["architecture"]:
                counted[arch_key(base, row["architecture"])] += amount
    return usage


def team_usage(team: Team) -> dict[str, int]:
    """What the team uses of each compute dimension now (see ``_vm_usage``)."""
    return dict(_vm_usage([team.pk])[team.pk])


def _requested(team_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    requested: dict[int, dict[str, int]] = defaultdict(dict)
    open_requests = QuotaRequest.objects.filter(team_id__in=list(team_ids), status__in=QuotaRequest.OPEN)
    for request in open_requests.order_by("created_at"):
        requested[request.team_id].update(request.effective_values)  # the latest ask wins
    return requested


def quota_tables(teams: Iterable[Team]) -> list[TeamQuotaTable]:
    """Each team's quota table. Four queries whatever the number of teams."""
    teams = list(teams)
    ids = [t.pk for t in teams]
    limits: dict[int, dict[str, TeamQuota]] = defaultdict(dict)
    for row in TeamQuota.objects.filter(team_id__in=ids):
        limits[row.team_id][row.key] = row
    usage = _vm_usage(ids)
    requested = _requested(ids)
    tables = []
    for team in teams:
        rows = limits[team.pk]
        keys = sorted(set(rows) | set(requested[team.pk]), key=sort_key)
        lines = []
        for key in keys:
            quota = rows.get(key)
            d = dimension(key)
            # Compute dimensions: Kennel's count (in-flight requests included); others: the cloud's.
            used = (
                usage[team.pk].get(key, 0) if d.base in VM_FIELDS else (quota.cloud_used if quota else 0) or 0
            )
            lines.append(
                QuotaLine(
                    dimension=d,
                    limit=quota.limit if quota else None,
                    used=used,
                    cloud_used=quota.cloud_used if quota else None,
                    requested=requested[team.pk].get(key),
                )
            )
        synced = [r.synced_at for r in rows.values() if r.synced_at]
        tables.append(
            TeamQuotaTable(team=team, lines=tuple(lines), synced_at=min(synced) if synced else None)
        )
    return tables


def quota_vm_fit_count(
    *, table: TeamQuotaTable, vcpus: int, ram_mb: int, disk_gb: int, architecture: str
) -> int | None:
    """How many more VMs of this size the team's quota (``table``) allows on ``architecture``; None
    when its quota sets no bound."""
    need = vm_need(vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb)
    fits = [
        max(line.remaining, 0) // need[line.dimension.base]
        for line in table.lines
        if line.remaining is not None
        and line.dimension.base in need
        and line.dimension.architecture in (None, architecture)
        and need[line.dimension.base] > 0
    ]
    return min(fits) if fits else None


def team_quota_table(team: Team) -> TeamQuotaTable:
    return quota_tables([team])[0]


def quota_vm_room(
    *, team: Team, architecture: str, sizes: Sequence[tuple[int, int, int]]
) -> list[int | None]:
    """How many more VMs of each size (``(vcpus, ram_mb, disk_gb)``) the team's quota allows on
    ``architecture``, None where it sets no bound; the team's table is read once for all the sizes.
    Provisioning asks through its ``VM_ROOM`` hook (registered in ``QuotasConfig.ready``)."""
    table = team_quota_table(team)
    return [
        quota_vm_fit_count(
            table=table, vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb, architecture=architecture
        )
        for vcpus, ram_mb, disk_gb in sizes
    ]


# What the overview sorts by: the team's name, or how full a base dimension is (fullest first).
QUOTA_OVERVIEW_SORTS = ("name", *(d.key for d in base_dimensions()))


def quota_overview_teams(*, user: User, sort: str = "name", search: str = "") -> QuerySet[Team]:
    """The teams the user may see (managers and admins: all) in the overview's order: by name, or by
    how full dimension ``sort`` is, fullest first (teams without a limit on it last, then by name). The
    fullness is the database's (a subquery per figure), so a page of the overview reads only its own
    teams' tables (``quota_tables``) whatever the number of teams and VMs. ``search`` matches the name
    or short name."""
    teams = restrict(user, Team.objects.all())
    if search:
        teams = teams.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    if sort not in QUOTA_OVERVIEW_SORTS or sort == "name":
        return teams.order_by("name")
    return teams.annotate(fullness=_fullness(sort)).order_by(F("fullness").desc(), "name")


def _fullness(key: str) -> Case:
    """Percent of ``key``'s limit used (rounded as QuotaLine.percent is), or -1 without a positive
    limit, as one expression over the team row (``OuterRef("pk")``): the same figures as ``quota_tables``."""
    quota = TeamQuota.objects.filter(team_id=OuterRef("pk"), key=key)
    limit = Subquery(quota.values("limit")[:1])
    d = dimension(key)
    if d.base in VM_FIELDS:
        field = VM_FIELDS[d.base]
        used: Any = Value(0)
        holders: tuple[QuerySet[Any], ...] = (
            VmRequest.objects.filter(team_id=OuterRef("pk"), status__in=HOLDING),
            UnmanagedServer.objects.filter(team_id=OuterRef("pk")),
        )
        for holding in holders:
            total = Count("id") if field is None else Sum(field)
            summed = holding.order_by().values("team_id").annotate(total=total).values("total")
            used = used + Coalesce(Subquery(summed, output_field=BigIntegerField()), 0)
    else:
        used = Coalesce(Subquery(quota.values("cloud_used")[:1]), 0)
    percent = Round(Cast(used, FloatField()) * 100.0 / Cast(limit, FloatField()), 1)
    return Case(When(GreaterThan(limit, 0), then=percent), default=Value(-1.0), output_field=FloatField())


def quota_overview(*, user: User) -> list[TeamQuotaTable]:
    """The quota tables of every team the user may see (managers and admins: all)."""
    return quota_tables(quota_overview_teams(user=user))


def quota_request_list(*, user: User) -> QuerySet[QuotaRequest]:
    return restrict(user, QuotaRequest.objects.all()).select_related("team", "requested_by", "decided_by")


def quota_policy() -> QuotaPolicy:
    return QuotaPolicy.objects.get_or_create(pk=1)[0]


def quota_rules() -> dict[str, QuotaRule]:
    return {rule.key: rule for rule in QuotaRule.objects.all()}


def quota_may_request(*, user: User, team: Team) -> bool:
    """Whether ``user`` may ask for new limits for ``team``: its leads (or any member, if the policy
    says so) and admins."""
    if can(user, Capability.QUOTA_APPROVE):
        return True
    levels = [Membership.Level.LEAD]
    if quota_policy().members_may_request:
        levels.append(Membership.Level.MEMBER)
    return Membership.objects.filter(team=team, user_id=user.pk, level__in=levels).exists()


def hardware_capacity() -> dict[str, dict[str, int]]:
    """What the compute hosts can hold per architecture (and ``""`` for all of them), for each compute
    dimension that hardware bounds, by Placement's rule. Instances are bounded by vCPUs: a VM needs one."""
    capacity: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for host in CloudHost.objects.exclude(architecture=""):
        for base, resource_class in RESOURCE_CLASS.items():
            amount = host.capacity(resource_class)
            capacity[host.architecture][base] += amount
            capacity[""][base] += amount
    for per_arch in capacity.values():
        per_arch["instances"] = per_arch["cores"]
    return {arch: dict(values) for arch, values in capacity.items()}


def hardware_limit(key: str, capacity: dict[str, dict[str, int]]) -> int | None:
    """The most the estate could ever hold of dimension ``key``: for instances, vCPUs, RAM and local
    disk, Placement's capacity summed over all compute hosts (of the dimension's architecture: one
    without hosts holds nothing); for volume storage and floating IPs, the operator's bound
    (``KENNEL_QUOTA_MAX_VOLUME_GB``, ``KENNEL_QUOTA_MAX_FLOATING_IPS``). None only while no compute
    host has been mirrored yet (then ``quota_value_bound`` still applies QUOTA_VALUE_MAX)."""
    d = dimension(key)
    if d.base == "volume_gb":
        return settings.KENNEL_QUOTA_MAX_VOLUME_GB
    if d.base == "floating_ips":
        return settings.KENNEL_QUOTA_MAX_FLOATING_IPS
    if d.base not in PER_ARCHITECTURE or not capacity:
        return None
    return capacity.get(d.architecture or "", {}).get(d.base, 0)


def quota_value_bound(key: str, capacity: dict[str, dict[str, int]]) -> int:
    """The absolute bound of a limit for ``key``: the estate's (hardware_limit), never above what the
    cloud's quota fields can hold."""
    hardware = hardware_limit(key, capacity)
    return QUOTA_VALUE_MAX if hardware is None else min(hardware, QUOTA_VALUE_MAX)


def team_usage_history(*, team: Team, days: int = 30) -> list[TeamUsageSample]:
    since = timezone.now() - timedelta(days=days)
    return list(TeamUsageSample.objects.filter(team=team, at__gte=since).order_by("at"))


def quota_requests_pending_count(*, user: User) -> int:
    return quota_request_list(user=user).filter(Q(status=QuotaRequest.Status.PENDING)).count()
