"""Utilization history: snapshots, their downsampling, reads over a range, and the forecast of when an
architecture reaches the capacity threshold ("when must we buy?").

Snapshots take the same figures as the utilization page (capacity = (total - reserved) x
allocation_ratio, from the Placement mirror), summed per architecture and per data center by the
database with the same grouping (``utilization_totals_for_history``). Storage stays small: one row per
group and bucket, 5-minute rows for a week, hourly averages for a year, nothing older.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.db.models import Avg, Max, QuerySet
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inventory.models import UtilizationSample
from inventory.selectors import (
    UTILIZATION_RESOURCES,
    ResourceUsage,
    UtilizationGroup,
    utilization_totals_for_history,
)
from portal.access import restrict
from portal.models import User
from provisioning.selectors import hosts_synced_at

logger = logging.getLogger(__name__)

Resolution = UtilizationSample.Resolution
Scope = UtilizationSample.Scope

FIVE_MINUTES = timedelta(minutes=5)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# How long each resolution is kept. A 5-minute sample lives until its hour is a week old; hourly and
# daily averages live a year.
KEEP_FIVE_MINUTES = timedelta(days=7)
KEEP_HOURLY = timedelta(days=365)
# A snapshot of a mirror older than this would record stale figures as current: it is skipped instead,
# so the charts show a gap (the hosts are mirrored every 30 seconds).
MIRROR_MAX_AGE = timedelta(minutes=10)

# Resource class -> the sample's (used, capacity) columns.
COLUMNS = {
    "VCPU": ("vcpu_used", "vcpu_capacity"),
    "MEMORY_MB": ("memory_mb_used", "memory_mb_capacity"),
    "DISK_GB": ("disk_gb_used", "disk_gb_capacity"),
}
assert tuple(COLUMNS) == UTILIZATION_RESOURCES
_VALUE_FIELDS = ("host_count", "vm_count", *(c for pair in COLUMNS.values() for c in pair))


def _floor(moment: datetime, step: timedelta) -> datetime:
    """The start of the ``step``-long bucket holding ``moment``, in UTC (buckets never depend on DST)."""
    moment = moment.astimezone(UTC)
    seconds = int(step.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


# --- Services ------------------------------------------------------------------------------------------


def _sample_of(group: UtilizationGroup, *, scope: str, at: datetime) -> UtilizationSample:
    values: dict[str, int] = {"host_count": group.host_count, "vm_count": group.vm_count}
    for usage in group.resources:
        used_column, capacity_column = COLUMNS[usage.resource_class]
        values[used_column], values[capacity_column] = usage.used, usage.capacity
    return UtilizationSample(resolution=Resolution.FIVE_MINUTES, scope=scope, key=group.key, at=at, **values)


def _upsert(samples: list[UtilizationSample]) -> None:
    # One statement; a second write to the same bucket replaces the first, so a retry is harmless (and
    # a real sample replaces a demo one: ``demo`` is written too).
    UtilizationSample.objects.bulk_create(
        samples,
        update_conflicts=True,
        unique_fields=["resolution", "scope", "key", "at"],
        update_fields=[*_VALUE_FIELDS, "demo"],
    )


def utilization_snapshot_record(*, now: datetime | None = None) -> int:
    """Record the current utilization of each architecture and each data center as the 5-minute sample
    of the bucket holding ``now``. Recording twice in one bucket keeps the later figures.

    Returns the number of samples written: 0 when the cloud mirror is older than ``MIRROR_MAX_AGE`` (or
    was never filled) or holds no compute host, because a stale figure recorded as current would lie.
    """
    now = now or timezone.now()
    synced_at, sync_error = hosts_synced_at()
    if synced_at is None or now - synced_at > MIRROR_MAX_AGE:
        logger.warning(
            "utilization snapshot skipped: the cloud mirror was last refreshed at %s (%s)",
            synced_at,
            sync_error or "no error recorded",
        )
        return 0
    at = _floor(now, FIVE_MINUTES)
    samples = [
        _sample_of(group, scope=scope, at=at)
        for scope in Scope.values
        for group in utilization_totals_for_history(by=scope)
    ]
    if samples:
        _upsert(samples)
    return len(samples)


@dataclass(frozen=True)
class CompactionResult:
    hourly_written: int
    daily_written: int
    five_minute_deleted: int
    hourly_deleted: int
    daily_deleted: int


def _averages(
    *,
    source: str,
    target: str,
    trunc: type[TruncHour] | type[TruncDay],
    since: datetime | None,
    before: datetime,
) -> list[UtilizationSample]:
    """The ``source`` samples in [since, before) averaged per group and ``trunc`` bucket, as ``target``
    samples (not saved)."""
    samples = UtilizationSample.objects.filter(resolution=source, at__lt=before)
    if since is not None:
        samples = samples.filter(at__gte=since)
    # (Rows keyed by computed names, which the stubs' typed rows do not follow.)
    rows = cast(
        Iterable[dict[str, Any]],
        samples.annotate(bucket=trunc("at", tzinfo=UTC))
        .values("scope", "key", "bucket")
        .annotate(**{f"avg_{field}": Avg(field) for field in _VALUE_FIELDS})
        .order_by(),
    )
    return [
        UtilizationSample(
            resolution=target,
            scope=row["scope"],
            key=row["key"],
            at=row["bucket"],
            **{field: round(row[f"avg_{field}"]) for field in _VALUE_FIELDS},
        )
        for row in rows
    ]


def utilization_history_compact(*, now: datetime | None = None) -> CompactionResult:
    """Downsample the history. Every complete hour with 5-minute samples, from the latest hour already
    averaged on, gets (again) their average as its hourly sample; every complete day (UTC) holding one
    of those hours gets (again) the average of its hourly samples as its daily sample. Then 5-minute
    samples of hours more than a week old, and hourly and daily samples more than a year old, are
    deleted.

    Idempotent: averages are recomputed from the same rows and upserted, and the cut-offs are aligned
    to an hour, so no hour is ever averaged from a partly deleted set. Snapshots only ever land in the
    current bucket, so hours before the latest averaged one never change; after an outage of the
    rollup (up to a week) every hour and day missed is caught up from the 5-minute samples kept.
    """
    now = now or timezone.now()
    this_hour, today = _floor(now, HOUR), _floor(now, DAY)
    latest = UtilizationSample.objects.filter(resolution=Resolution.HOUR, at__lt=this_hour).aggregate(
        latest=Max("at")
    )["latest"]
    hourly = _averages(
        source=Resolution.FIVE_MINUTES,
        target=Resolution.HOUR,
        trunc=TruncHour,
        since=latest,
        before=this_hour,
    )
    with transaction.atomic():
        daily: list[UtilizationSample] = []
        if hourly:
            _upsert(hourly)
            first_day = _floor(min(sample.at for sample in hourly), DAY)
            daily = _averages(
                source=Resolution.HOUR, target=Resolution.DAY, trunc=TruncDay, since=first_day, before=today
            )
            if daily:
                _upsert(daily)
        deleted = {
            resolution: UtilizationSample.objects.filter(resolution=resolution, at__lt=cutoff).delete()[0]
            for resolution, cutoff in (
                (Resolution.FIVE_MINUTES, this_hour - KEEP_FIVE_MINUTES),
                (Resolution.HOUR, this_hour - KEEP_HOURLY),
                (Resolution.DAY, today - KEEP_HOURLY),
            )
        }
    return CompactionResult(
        hourly_written=len(hourly),
        daily_written=len(daily),
        five_minute_deleted=deleted[Resolution.FIVE_MINUTES],
        hourly_deleted=deleted[Resolution.HOUR],
        daily_deleted=deleted[Resolution.DAY],
    )


# --- Selectors: history over a range -------------------------------------------------------------------


class HistoryRange(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class HistoryResolution(StrEnum):
    FIVE_MINUTES = "5m"
    HOUR = "1h"
    DAY = "1d"


RANGE_LENGTH = {
    HistoryRange.DAY: DAY,
    HistoryRange.WEEK: 7 * DAY,
    HistoryRange.MONTH: 30 * DAY,
    HistoryRange.YEAR: 365 * DAY,
}
RANGE_LABELS = {
    HistoryRange.DAY: _("Last day"),
    HistoryRange.WEEK: _("Last week"),
    HistoryRange.MONTH: _("Last 30 days"),
    HistoryRange.YEAR: _("Last year"),
}
# A few hundred points per line at most: readable, and cheap to draw.
DEFAULT_RESOLUTION = {
    HistoryRange.DAY: HistoryResolution.FIVE_MINUTES,
    HistoryRange.WEEK: HistoryResolution.HOUR,
    HistoryRange.MONTH: HistoryResolution.HOUR,
    HistoryRange.YEAR: HistoryResolution.DAY,
}
RESOLUTION_LABELS = {
    HistoryResolution.FIVE_MINUTES: _("a sample every 5 minutes"),
    HistoryResolution.HOUR: _("hourly averages"),
    HistoryResolution.DAY: _("daily averages"),
}
RESOURCE_LABELS = {"VCPU": _("vCPUs"), "MEMORY_MB": _("RAM (GiB)"), "DISK_GB": _("Disk (GB)")}
# Pages show RAM in GiB (Placement and the API count MiB): a figure of a resource class, as shown.
SHOWN_DIVISOR = {"MEMORY_MB": 1024}


def resource_shown(resource_class: str, value: float | None) -> float | None:
    """``value`` in the unit the pages show the resource in (RAM: GiB, to two decimals at most)."""
    if value is None:
        return None
    divisor = SHOWN_DIVISOR.get(resource_class)
    if divisor is None:
        return value
    shown = round(value / divisor, 2)
    return int(shown) if shown == int(shown) else shown


STEP = {
    HistoryResolution.FIVE_MINUTES: FIVE_MINUTES,
    HistoryResolution.HOUR: HOUR,
    HistoryResolution.DAY: DAY,
}


class HistoryQueryInvalid(ValueError):
    """A range, resolution or scope that the history cannot answer; the message says what would."""


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    host_count: int
    vm_count: int
    resources: tuple[ResourceUsage, ...]


@dataclass(frozen=True)
class HistorySeries:
    """The samples of one architecture or data center, oldest first."""

    key: str
    points: tuple[HistoryPoint, ...]


@dataclass(frozen=True)
class UtilizationHistory:
    span: HistoryRange
    resolution: HistoryResolution
    scope: str
    start: datetime
    end: datetime
    series: tuple[HistorySeries, ...]


def history_query_parse(
    *, span: str | None, resolution: str | None = None, scope: str | None = None
) -> tuple[HistoryRange, HistoryResolution, str]:
    """Validate the user's choice (blank means the default: a week, its default resolution, per
    architecture). Raises HistoryQueryInvalid naming the accepted values."""
    try:
        chosen_range = HistoryRange(span or HistoryRange.WEEK)
    except ValueError:
        raise HistoryQueryInvalid(
            _("Unknown range %(value)r: use one of %(choices)s.")
            % {"value": span, "choices": ", ".join(HistoryRange)}
        ) from None
    try:
        chosen_resolution = HistoryResolution(resolution or DEFAULT_RESOLUTION[chosen_range])
    except ValueError:
        raise HistoryQueryInvalid(
            _("Unknown resolution %(value)r: use one of %(choices)s.")
            % {"value": resolution, "choices": ", ".join(HistoryResolution)}
        ) from None
    if chosen_resolution == HistoryResolution.FIVE_MINUTES and RANGE_LENGTH[chosen_range] > KEEP_FIVE_MINUTES:
        raise HistoryQueryInvalid(
            _("5-minute samples are kept for a week; choose 1h or 1d for a longer range.")
        )
    chosen_scope = scope or Scope.ARCHITECTURE
    if chosen_scope not in Scope.values:
        raise HistoryQueryInvalid(
            _("Unknown scope %(value)r: use one of %(choices)s.")
            % {"value": scope, "choices": ", ".join(Scope.values)}
        )
    return chosen_range, chosen_resolution, chosen_scope


def utilization_sample_list(*, user: User) -> QuerySet[UtilizationSample]:
    """Every stored sample the user may read (managers and admins; nobody else)."""
    return restrict(user, UtilizationSample.objects.all())


def _point(at: datetime, values: list[int]) -> HistoryPoint:
    host_count, vm_count, *resources = values
    return HistoryPoint(
        at=at,
        host_count=host_count,
        vm_count=vm_count,
        resources=tuple(
            ResourceUsage(rc, resources[2 * i + 1], resources[2 * i]) for i, rc in enumerate(COLUMNS)
        ),
    )


def utilization_history(
    *,
    user: User,
    span: HistoryRange,
    resolution: HistoryResolution,
    scope: str = Scope.ARCHITECTURE,
    now: datetime | None = None,
) -> UtilizationHistory:
    """The samples of the ``span`` up to ``now`` at ``resolution``, one series per architecture (or data
    center), for managers and admins (others get no series). One query whatever the range."""
    end = now or timezone.now()
    start = end - RANGE_LENGTH[span]
    rows = (
        utilization_sample_list(user=user)
        .filter(resolution=resolution, scope=scope, at__gte=start, at__lte=end)
        .order_by("key", "at")
        .values_list("key", "at", *_VALUE_FIELDS)
    )
    by_key: dict[str, list[HistoryPoint]] = {}
    for key, at, *values in rows:
        by_key.setdefault(key, []).append(_point(at, values))
    return UtilizationHistory(
        span=span,
        resolution=resolution,
        scope=scope,
        start=start,
        end=end,
        series=tuple(HistorySeries(key, tuple(points)) for key, points in by_key.items()),
    )


# --- Selectors: the forecast -------------------------------------------------------------------------------


class ForecastStatus(StrEnum):
    REACHES = "reaches"  # the trend reaches the threshold on ``reaches_at``, within a year
    REACHED = "reached"  # the latest sample is already at or over the threshold
    NOT_WITHIN_A_YEAR = "not_within_a_year"
    NOT_RISING = "not_rising"
    NOT_ENOUGH_HISTORY = "not_enough_history"
    NO_CAPACITY = "no_capacity"  # the hosts report no inventory of this resource


FORECAST_STATUS_LABELS = {
    ForecastStatus.REACHES: _("reaches the threshold"),
    ForecastStatus.REACHED: _("already at or over the threshold"),
    ForecastStatus.NOT_WITHIN_A_YEAR: _("not within a year"),
    ForecastStatus.NOT_RISING: _("not rising"),
    ForecastStatus.NOT_ENOUGH_HISTORY: _("not enough history yet (a week of daily averages is needed)"),
    ForecastStatus.NO_CAPACITY: _("no capacity reported"),
}
# The trend is fitted to daily averages (a day's swing is not a trend), at least a week of them.
FORECAST_MIN_POINTS = 7
FORECAST_HORIZON = 365 * DAY


@dataclass(frozen=True)
class Forecast:
    """When one resource of one architecture reaches ``threshold_percent`` of its capacity, by a
    least-squares line through the used amount over the window, against the latest capacity."""

    key: str
    resource_class: str
    status: ForecastStatus
    threshold_percent: int
    reaches_at: datetime | None = None
    used: int | None = None  # the latest sample's
    capacity: int | None = None  # the latest sample's
    growth_per_day: float | None = None  # the fitted slope, in the resource's unit per day
    points: int = 0
    since: datetime | None = None  # the oldest sample used

    @property
    def percent(self) -> float | None:
        if not self.capacity or self.used is None:
            return None
        return round(self.used * 100 / self.capacity, 1)

    @property
    def resource_label(self) -> str:
        return str(RESOURCE_LABELS[self.resource_class])

    @property
    def used_shown(self) -> float | None:
        return resource_shown(self.resource_class, self.used)

    @property
    def capacity_shown(self) -> float | None:
        return resource_shown(self.resource_class, self.capacity)

    @property
    def growth_shown(self) -> float | None:
        return resource_shown(self.resource_class, self.growth_per_day)

    @property
    def status_label(self) -> str:
        return str(FORECAST_STATUS_LABELS[self.status])


def least_squares(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """The (slope, intercept) of the least-squares line through the points; needs two distinct xs."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("least squares needs at least two distinct x values")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, mean_y - slope * mean_x


def forecast_of(
    *,
    key: str,
    resource_class: str,
    samples: list[tuple[datetime, int, int]],
    now: datetime,
    threshold_percent: int,
) -> Forecast:
    """The forecast for one series of (at, used, capacity) samples, oldest first. Growth is fitted on
    the used amount (the demand), not on the percentage, so hardware bought within the window counts
    as more room, not as falling demand; the threshold is taken of the latest capacity."""
    if len(samples) < FORECAST_MIN_POINTS:
        return Forecast(
            key, resource_class, ForecastStatus.NOT_ENOUGH_HISTORY, threshold_percent, points=len(samples)
        )
    latest_at, used, capacity = samples[-1]
    known = Forecast(
        key,
        resource_class,
        ForecastStatus.NO_CAPACITY,
        threshold_percent,
        used=used,
        capacity=capacity,
        points=len(samples),
        since=samples[0][0],
    )
    if capacity <= 0:
        return known
    target = capacity * threshold_percent / 100
    if used >= target:
        return replace(known, status=ForecastStatus.REACHED, reaches_at=latest_at)
    origin = samples[0][0]
    xs = [(at - origin) / DAY for at, _used, _capacity in samples]
    slope, intercept = least_squares(xs, [float(u) for _at, u, _capacity in samples])
    if slope <= 0:
        return replace(known, status=ForecastStatus.NOT_RISING, growth_per_day=slope)
    # The line may cross before now when the latest sample dipped below it: that is "now".
    reaches_at = max(origin + (target - intercept) / slope * DAY, now)
    if reaches_at - now > FORECAST_HORIZON:
        return replace(known, status=ForecastStatus.NOT_WITHIN_A_YEAR, growth_per_day=slope)
    return replace(known, status=ForecastStatus.REACHES, reaches_at=reaches_at, growth_per_day=slope)


def utilization_forecast(
    *,
    user: User,
    now: datetime | None = None,
    window_days: int | None = None,
    threshold_percent: int | None = None,
    scope: str = Scope.ARCHITECTURE,
    keys: Iterable[str] = (),
) -> list[Forecast]:
    """For each architecture (or data center) and resource, when the trend of the daily averages of the
    last ``window_days`` (KENNEL_FORECAST_WINDOW_DAYS) reaches ``threshold_percent``
    (KENNEL_CAPACITY_ALERT_PERCENT) of capacity. ``keys`` (e.g. the architectures the cloud has now)
    are answered even without any sample ("not enough history"). Managers and admins; others get
    nothing. One query."""
    now = now or timezone.now()
    window = timedelta(days=window_days or settings.KENNEL_FORECAST_WINDOW_DAYS)
    threshold = threshold_percent or settings.KENNEL_CAPACITY_ALERT_PERCENT
    readable = utilization_sample_list(user=user)
    rows = (
        readable.filter(resolution=Resolution.DAY, scope=scope, at__gte=now - window, at__lte=now)
        .order_by("key", "at")
        .values_list("key", "at", *(c for pair in COLUMNS.values() for c in pair))
    )
    by_key: dict[str, list[tuple]] = {}
    for row in rows:
        by_key.setdefault(row[0], []).append(row)
    if not readable.query.is_empty():  # only for those who may read the history at all
        for key in keys:
            by_key.setdefault(key, [])
    forecasts = []
    for key, key_rows in sorted(by_key.items()):
        for i, resource_class in enumerate(COLUMNS):
            # A daily average stands for the middle of its day.
            series = [(row[1] + DAY / 2, row[2 + 2 * i], row[3 + 2 * i]) for row in key_rows]
            forecasts.append(
                forecast_of(
                    key=key,
                    resource_class=resource_class,
                    samples=series,
                    now=now,
                    threshold_percent=threshold,
                )
            )
    return forecasts


def demo_history_until(*, user: User) -> datetime | None:
    """The latest moment of the demo loader's made-up history the user may read, None when there is
    none: the history and forecast pages say that the figures up to then are demo data. One query."""
    latest = utilization_sample_list(user=user).filter(demo=True).aggregate(Max("at"))["at__max"]
    return cast(datetime | None, latest)
