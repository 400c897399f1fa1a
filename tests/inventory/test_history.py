"""Utilization history: snapshots equal the utilization selectors, the rollup over simulated time, reads
over a range, and the forecast on known series. Real database rows throughout; the mirror is filled
from the FakeCloud (the integration test at the end reads the real local cloud)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from inventory.history import (
    FORECAST_MIN_POINTS,
    ForecastStatus,
    HistoryQueryInvalid,
    HistoryRange,
    HistoryResolution,
    forecast_of,
    history_query_parse,
    least_squares,
    utilization_forecast,
    utilization_history,
    utilization_history_compact,
    utilization_snapshot_record,
)
from inventory.models import ServerRole, UtilizationSample
from inventory.selectors import host_utilization_list, utilization_by_architecture, utilization_by_datacenter
from inventory.tasks import utilization_snapshot
from portal.cloud import cloud, override
from portal.cloud.fake import FakeCloud
from provisioning.models import CloudSync
from provisioning.services import catalog_refresh
from tests.factories import DataCenterFactory, ServerFactory

pytestmark = pytest.mark.django_db
FIVE, HOUR, DAY = timedelta(minutes=5), timedelta(hours=1), timedelta(days=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def mirror(db):
    """The devcloud's estate in the FakeCloud with one m1.large VM, mirrored; x2 and p1 have servers."""
    fake = FakeCloud(portal_user=None)
    with override(fake):
        project = fake.find_project("alpha")
        image = next(i for i in fake.list_images() if i.architecture == "x86_64")
        flavor = next(f for f in fake.list_flavors() if f.name == "m1.large")
        fake.create_server(project_id=project.id, name="vm", image_id=image.id, flavor_id=flavor.id)
        fake.settle()
        catalog_refresh()
    dc1 = DataCenterFactory(code="dc1", name="Data center 1")
    dc2 = DataCenterFactory(code="dc2", name="Data center 2")
    for host, dc, arch in (("x2", dc1, "x86_64"), ("p1", dc2, "ppc64le")):
        ServerFactory(
            name=f"srv-{host}",
            architecture=arch,
            datacenter=dc,
            roles=[ServerRole.COMPUTE.value],
            hypervisor_hostname=host,
        )
    return fake


def _figures(group) -> dict:
    return {
        "host_count": group.host_count,
        "vm_count": group.vm_count,
        **{r.resource_class: (r.used, r.capacity) for r in group.resources},
    }


def _stored(sample: UtilizationSample) -> dict:
    return {
        "host_count": sample.host_count,
        "vm_count": sample.vm_count,
        "VCPU": (sample.vcpu_used, sample.vcpu_capacity),
        "MEMORY_MB": (sample.memory_mb_used, sample.memory_mb_capacity),
        "DISK_GB": (sample.disk_gb_used, sample.disk_gb_capacity),
    }


def _sample(at: datetime, *, key="x86_64", scope="architecture", resolution="5m", used=0, capacity=1000):
    return UtilizationSample(
        resolution=resolution, scope=scope, key=key, at=at, host_count=3, vm_count=used // 10,
        vcpu_used=used, vcpu_capacity=capacity, memory_mb_used=2 * used, memory_mb_capacity=2 * capacity,
        disk_gb_used=0, disk_gb_capacity=capacity,
    )  # fmt: skip


# --- Snapshots -----------------------------------------------------------------------------------------


def test_snapshot_records_what_the_utilization_selectors_report(mirror, manager):
    written = utilization_snapshot_record()
    hosts = host_utilization_list(user=manager)
    architectures = {g.key: _figures(g) for g in utilization_by_architecture(user=manager, hosts=hosts)}
    datacenters = {g.key: _figures(g) for g in utilization_by_datacenter(user=manager, hosts=hosts)}
    stored = {(s.scope, s.key): _stored(s) for s in UtilizationSample.objects.all()}
    assert written == len(architectures) + len(datacenters) == 5
    assert {k: v for (scope, k), v in stored.items() if scope == "architecture"} == architectures
    assert {k: v for (scope, k), v in stored.items() if scope == "datacenter"} == datacenters
    assert architectures["x86_64"]["VCPU"] == (4, 3 * 32 * 16)  # the m1.large, against three hosts
    assert set(datacenters) == {"Data center 1", "Data center 2", ""}  # x3, x4 have no server record
    sample = UtilizationSample.objects.first()
    assert sample.resolution == "5m" and sample.at.minute % 5 == 0 and sample.at.second == 0


def test_a_second_snapshot_in_the_same_bucket_replaces_the_first(mirror, manager):
    # Both records fall in the bucket that holds the mirror's refresh (never more than MIRROR_MAX_AGE
    # after it, whatever the clock says when the test runs).
    bucket = timezone.now().replace(second=0, microsecond=0)
    bucket -= timedelta(minutes=bucket.minute % 5)
    now = bucket + timedelta(seconds=40)
    utilization_snapshot_record(now=bucket + timedelta(seconds=10))
    project = mirror.find_project("alpha")
    image = next(i for i in mirror.list_images() if i.architecture == "x86_64")
    flavor = next(f for f in mirror.list_flavors() if f.name == "m1.small")
    with override(mirror):
        mirror.create_server(project_id=project.id, name="vm2", image_id=image.id, flavor_id=flavor.id)
        mirror.settle()
        catalog_refresh()
    assert utilization_snapshot_record(now=now) == 5
    x86 = UtilizationSample.objects.get(scope="architecture", key="x86_64")
    assert x86.vcpu_used == 4 + flavor.vcpus  # the later figures, in the one row of the bucket
    assert UtilizationSample.objects.count() == 5


def test_the_task_records_a_snapshot(mirror):
    utilization_snapshot.apply()
    assert UtilizationSample.objects.filter(resolution="5m").count() == 5


def test_a_stale_mirror_is_not_recorded_as_current(mirror):
    CloudSync.objects.filter(part="hosts").update(succeeded_at=timezone.now() - timedelta(minutes=11))
    assert utilization_snapshot_record() == 0
    CloudSync.objects.all().delete()
    assert utilization_snapshot_record() == 0
    assert not UtilizationSample.objects.exists()


# --- Downsampling over simulated time ------------------------------------------------------------------


def _table() -> set[tuple]:
    return set(
        UtilizationSample.objects.values_list(
            "resolution", "scope", "key", "at", "host_count", "vm_count", "vcpu_used", "vcpu_capacity",
            "memory_mb_used", "memory_mb_capacity", "disk_gb_used", "disk_gb_capacity",
        )
    )  # fmt: skip


def test_rollup_keeps_five_minutes_for_a_week_and_hourly_and_daily_averages_over_simulated_days():
    """Nine simulated days: every 5 minutes a sample (used = minutes since T0), every hour a rollup."""
    hour = T0
    for _ in range(9 * 24):
        UtilizationSample.objects.bulk_create(
            [
                _sample(hour + i * FIVE, used=int((hour + i * FIVE - T0) / timedelta(minutes=1)))
                for i in range(12)
            ]
            + [_sample(hour + i * FIVE, key="dc1", scope="datacenter", used=7) for i in range(12)]
        )
        hour += HOUR
        utilization_history_compact(now=hour + timedelta(minutes=1))
    now = hour + timedelta(minutes=1)
    five = UtilizationSample.objects.filter(resolution="5m", scope="architecture")
    # 5-minute samples of the last 7 x 24 complete hours remain; older ones are gone.
    assert five.count() == 7 * 24 * 12
    assert min(five.values_list("at", flat=True)) == hour - 7 * DAY
    hourly = {s.at: s for s in UtilizationSample.objects.filter(resolution="1h", scope="architecture")}
    assert len(hourly) == 9 * 24  # every hour, including those whose 5-minute samples are gone
    for at, sample in hourly.items():
        minutes = (at - T0) / timedelta(minutes=1)
        # The mean of minutes m, m+5, ..., m+55 is m + 27.5; Python and the database both round half even.
        assert sample.vcpu_used == round(minutes + 27.5)
        assert (sample.vcpu_capacity, sample.host_count) == (1000, 3)
    assert {s.vcpu_used for s in UtilizationSample.objects.filter(resolution="1h", scope="datacenter")} == {7}
    daily = {s.at: s for s in UtilizationSample.objects.filter(resolution="1d", scope="architecture")}
    assert sorted(daily) == [T0 + d * DAY for d in range(9)]  # each day, once complete
    for day, sample in daily.items():
        assert sample.vcpu_used == round(sum(hourly[day + h * HOUR].vcpu_used for h in range(24)) / 24)
    assert {s.vcpu_used for s in UtilizationSample.objects.filter(resolution="1d", scope="datacenter")} == {7}
    before = _table()
    result = utilization_history_compact(now=now)  # safe to run twice
    assert _table() == before
    assert (result.five_minute_deleted, result.hourly_deleted, result.daily_deleted) == (0, 0, 0)


def test_rollup_catches_up_every_hour_and_day_missed_while_it_did_not_run():
    UtilizationSample.objects.bulk_create([_sample(T0 + i * FIVE, used=10) for i in range(3 * 288)])
    UtilizationSample.objects.bulk_create([_sample(T0 - HOUR, resolution="1h", used=10)])
    result = utilization_history_compact(now=T0 + 3 * DAY + timedelta(minutes=1))
    assert (result.hourly_written, result.daily_written) == (3 * 24, 3)
    assert UtilizationSample.objects.filter(resolution="1d").count() == 3


def test_rollup_averages_a_complete_hour_only():
    UtilizationSample.objects.bulk_create([_sample(T0 + i * FIVE, used=100 + i) for i in range(12)])
    UtilizationSample.objects.bulk_create([_sample(T0 + HOUR + i * FIVE, used=500) for i in range(3)])
    result = utilization_history_compact(now=T0 + HOUR + 20 * timedelta(minutes=1))
    assert (result.hourly_written, result.daily_written) == (1, 0)  # 01:00 and the day are still running
    hourly = UtilizationSample.objects.get(resolution="1h")
    assert (hourly.at, hourly.vcpu_used, hourly.memory_mb_used) == (T0, 106, 211)  # 105.5 to even


def test_hourly_and_daily_samples_older_than_a_year_are_dropped():
    UtilizationSample.objects.bulk_create(
        [_sample(T0 - days * DAY, resolution=r) for days in (366, 364) for r in ("1h", "1d")]
    )
    result = utilization_history_compact(now=T0)
    assert (result.hourly_deleted, result.daily_deleted) == (1, 1)
    assert set(UtilizationSample.objects.values_list("at", flat=True)) == {T0 - 364 * DAY}


# --- Reads over a range --------------------------------------------------------------------------------


def test_history_returns_each_key_at_the_asked_resolution(manager):
    UtilizationSample.objects.bulk_create(
        [_sample(T0 - i * FIVE, used=i) for i in range(1, 400)]
        + [_sample(T0 - i * HOUR, resolution="1h", used=i) for i in range(1, 24 * 40)]
        + [_sample(T0 - i * DAY, resolution="1d", used=i) for i in range(1, 400)]
        + [_sample(T0 - i * DAY, key="ppc64le", resolution="1d", used=1) for i in range(1, 3)]
    )
    day = utilization_history(
        user=manager, span=HistoryRange.DAY, resolution=HistoryResolution.FIVE_MINUTES, now=T0
    )
    assert [s.key for s in day.series] == ["x86_64"]  # no ppc64le 5-minute samples
    points = day.series[0].points
    assert len(points) == 288 and points[0].at == T0 - DAY and points[-1].at == T0 - FIVE
    assert {r.resource_class: (r.used, r.capacity) for r in points[-1].resources} == {
        "VCPU": (1, 1000), "MEMORY_MB": (2, 2000), "DISK_GB": (0, 1000),
    }  # fmt: skip
    year = utilization_history(user=manager, span=HistoryRange.YEAR, resolution=HistoryResolution.DAY, now=T0)
    x86 = {s.key: s for s in year.series}["x86_64"].points
    assert len(x86) == 365 and (x86[0].at, x86[-1].at) == (T0 - 365 * DAY, T0 - DAY)
    assert x86[-1].resources[0].used == 1
    assert len({s.key: s for s in year.series}["ppc64le"].points) == 2
    month = utilization_history(
        user=manager, span=HistoryRange.MONTH, resolution=HistoryResolution.HOUR, now=T0
    )
    assert [len(s.points) for s in month.series] == [30 * 24]  # hourly: only x86_64 has any


def test_history_by_datacenter_and_for_developers(manager, member):
    UtilizationSample.objects.bulk_create(
        [
            _sample(T0 - HOUR, key="dc1", scope="datacenter", resolution="1h"),
            _sample(T0 - HOUR, resolution="1h"),
        ]
    )
    dcs = utilization_history(
        user=manager, span=HistoryRange.WEEK, resolution=HistoryResolution.HOUR, scope="datacenter", now=T0
    )
    assert [s.key for s in dcs.series] == ["dc1"]
    hidden = utilization_history(
        user=member, span=HistoryRange.WEEK, resolution=HistoryResolution.HOUR, now=T0
    )
    assert hidden.series == ()


def test_history_query_parse_gives_defaults_and_clear_errors():
    assert history_query_parse(span=None) == (HistoryRange.WEEK, HistoryResolution.HOUR, "architecture")
    assert history_query_parse(span="year") == (HistoryRange.YEAR, HistoryResolution.DAY, "architecture")
    assert history_query_parse(span="day", resolution="5m", scope="datacenter")[2] == "datacenter"
    with pytest.raises(HistoryQueryInvalid, match="kept for a week"):
        history_query_parse(span="month", resolution="5m")
    with pytest.raises(HistoryQueryInvalid, match="day, week, month, year"):
        history_query_parse(span="decade")
    with pytest.raises(HistoryQueryInvalid, match="5m, 1h, 1d"):
        history_query_parse(span="day", resolution="1s")
    with pytest.raises(HistoryQueryInvalid, match="architecture, datacenter"):
        history_query_parse(span="day", scope="rack")


# --- The forecast --------------------------------------------------------------------------------------


def _linear(
    n: int, *, start: float, per_hour: float, capacity: int = 1000
) -> list[tuple[datetime, int, int]]:
    return [(T0 + i * HOUR, round(start + per_hour * i), capacity) for i in range(n)]


def test_least_squares_fits_a_known_line():
    assert least_squares([0, 1, 2, 3], [1, 3, 5, 7]) == (2.0, 1.0)
    slope, intercept = least_squares([0, 1, 2], [0, 2, 1])
    assert (slope, intercept) == (pytest.approx(0.5), pytest.approx(0.5))
    with pytest.raises(ValueError, match="distinct"):
        least_squares([1, 1], [0, 1])


def test_linear_growth_gives_the_exact_date():
    # 100 used, +5 an hour, capacity 1000: 90% (900) is reached 160 hours after T0.
    samples = _linear(48, start=100, per_hour=5)
    now = samples[-1][0]
    forecast = forecast_of(
        key="x86_64", resource_class="VCPU", samples=samples, now=now, threshold_percent=90
    )
    assert forecast.status == ForecastStatus.REACHES
    assert abs(forecast.reaches_at - (T0 + 160 * HOUR)) < timedelta(seconds=1)
    assert forecast.reaches_at.date() == (T0 + 160 * HOUR).date()
    assert forecast.growth_per_day == pytest.approx(120)
    assert (forecast.used, forecast.capacity, forecast.percent, forecast.points) == (335, 1000, 33.5, 48)


@pytest.mark.parametrize(
    ("samples", "status"),
    [
        (_linear(FORECAST_MIN_POINTS - 1, start=100, per_hour=5), ForecastStatus.NOT_ENOUGH_HISTORY),
        (_linear(48, start=500, per_hour=0), ForecastStatus.NOT_RISING),
        (_linear(48, start=500, per_hour=-2), ForecastStatus.NOT_RISING),
        (_linear(48, start=100, per_hour=0.05), ForecastStatus.NOT_WITHIN_A_YEAR),  # 1.2 a day: ~1.8 years
        (_linear(48, start=850, per_hour=2), ForecastStatus.REACHED),  # 944 now
        (_linear(48, start=0, per_hour=0, capacity=0), ForecastStatus.NO_CAPACITY),
    ],
)
def test_the_forecast_says_honestly_when_there_is_no_date(samples, status):
    forecast = forecast_of(
        key="k", resource_class="VCPU", samples=samples, now=samples[-1][0], threshold_percent=90
    )
    assert forecast.status == status
    assert (forecast.reaches_at is not None) == (status == ForecastStatus.REACHED)


def test_growth_is_fitted_on_demand_so_bought_capacity_is_room_not_decline():
    # Used grows 5 an hour; capacity doubles half-way. 90% of 2000 = 1800 is reached at hour 340.
    samples = [
        (at, used, 1000 if i < 24 else 2000)
        for i, (at, used, _) in enumerate(_linear(48, start=100, per_hour=5))
    ]
    forecast = forecast_of(
        key="k", resource_class="VCPU", samples=samples, now=samples[-1][0], threshold_percent=90
    )
    assert forecast.status == ForecastStatus.REACHES
    assert abs(forecast.reaches_at - (T0 + 340 * HOUR)) < timedelta(seconds=1)


def test_forecast_reads_the_daily_averages_of_the_window(manager, member, settings):
    settings.KENNEL_FORECAST_WINDOW_DAYS = 30
    now = T0 + 40 * DAY + 6 * HOUR
    # Linear over the 30 days of the window (+24 a day, 820 on the latest day); older days, outside the
    # window, would bend the line. Hourly samples are not what the forecast reads.
    UtilizationSample.objects.bulk_create(
        [_sample(T0 + k * DAY, resolution="1d", used=820 - 24 * (40 - k)) for k in range(11, 41)]
        + [_sample(T0 + k * DAY, resolution="1d", used=5000) for k in range(0, 11)]
        + [_sample(now - i * HOUR, resolution="1h", used=999) for i in range(1, 48)]
    )
    forecasts = {
        (f.key, f.resource_class): f for f in utilization_forecast(user=manager, now=now, keys=["ppc64le"])
    }
    vcpu = forecasts[("x86_64", "VCPU")]
    # A day's average stands for its middle: 820 at noon of day 40, +24 a day, so 900 (90% of 1000) is
    # 80 hours later. RAM: 1640 of 2000, +48 a day: 1800 in 80 hours too.
    expected = T0 + 40 * DAY + 12 * HOUR + 80 * HOUR
    assert vcpu.status == ForecastStatus.REACHES and vcpu.points == 30 and vcpu.used == 820
    assert abs(vcpu.reaches_at - expected) < timedelta(seconds=1)
    assert abs(forecasts[("x86_64", "MEMORY_MB")].reaches_at - expected) < timedelta(seconds=1)
    assert forecasts[("x86_64", "DISK_GB")].status == ForecastStatus.NOT_RISING
    assert forecasts[("ppc64le", "VCPU")].status == ForecastStatus.NOT_ENOUGH_HISTORY
    assert utilization_forecast(user=member, now=now, keys=["ppc64le"]) == []


# --- Against the real local cloud ----------------------------------------------------------------------


@pytest.mark.integration
def test_the_snapshot_task_records_placements_numbers_on_the_local_cloud():
    """The task's samples per architecture are the sums of Placement's own figures over its hosts."""
    gateway = cloud()

    def placement() -> dict[str, dict]:
        sums: dict[str, dict] = {}
        for provider in gateway.list_resource_providers():
            arch = sums.setdefault(provider.architecture or "", {"host_count": 0})
            arch["host_count"] += 1
            for rc in ("VCPU", "MEMORY_MB", "DISK_GB"):
                inv = provider.inventories[rc]
                used, capacity = arch.get(rc, (0, 0))
                arch[rc] = (
                    used + inv.used,
                    capacity + int((inv.total - inv.reserved) * inv.allocation_ratio),
                )
        return sums

    # Other tests may boot VMs meanwhile: accept a snapshot taken between two identical Placement reads.
    for _ in range(5):
        before = placement()
        catalog_refresh()
        utilization_snapshot.apply()
        after = placement()
        if before == after:
            break
    else:
        pytest.fail("Placement kept changing during the snapshot")
    stored = {
        s.key: {k: v for k, v in _stored(s).items() if k != "vm_count"}
        for s in UtilizationSample.objects.filter(scope="architecture", resolution="5m")
    }
    assert stored == after
    assert {"x86_64", "ppc64le"} <= set(after)
