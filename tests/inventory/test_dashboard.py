"""The manager's dashboard, the utilization history page and their API: selectors on real rows, the
permission matrix, pages and endpoints, and queries that do not grow with the estate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework import serializers

from inventory.dashboard import AlertKind, estate_alerts, server_state_counts, team_usage_list
from inventory.models import ServerRole, UtilizationSample
from portal.models import Role
from provisioning.models import CloudHost, CloudSync, VmRequest
from tests.factories import (
    CloudHostFactory,
    DataCenterFactory,
    HardwareStateFactory,
    ServerFactory,
    TeamFactory,
    UserFactory,
    UtilizationSampleFactory,
    VmRequestFactory,
)
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db
DASHBOARD = "/inventory/dashboard/"
HISTORY = "/inventory/utilization/history/"
API_HISTORY = "/api/v1/utilization/history/"
API_FORECAST = "/api/v1/utilization/forecast/"
API_ALERTS = "/api/v1/alerts/"
HOUR = timedelta(hours=1)


def _host(name: str, arch: str = "x86_64", *, vcpu_used: int = 0, ram_used: int = 0) -> CloudHost:
    return CloudHostFactory(
        name=name,
        architecture=arch,
        inventories={
            "VCPU": {"total": 32, "reserved": 0, "allocation_ratio": 16.0, "used": vcpu_used},
            "MEMORY_MB": {"total": 262144, "reserved": 4096, "allocation_ratio": 1.2, "used": ram_used},
            "DISK_GB": {"total": 1800, "reserved": 0, "allocation_ratio": 1.0, "used": 0},
        },
    )


@pytest.fixture
def estate(db):
    """Five servers: two on and healthy (one hot), one off with a warning, one whose BMC stopped
    answering an hour ago, one never polled; compute host x2 at 94.9% of its vCPUs, x3 idle."""
    dc = DataCenterFactory()
    servers = {
        name: ServerFactory(
            name=name, datacenter=dc, roles=[ServerRole.COMPUTE.value], hypervisor_hostname=host
        )
        for name, host in (
            ("srv-a", "x2"),
            ("srv-b", "x3"),
            ("srv-c", "x5"),
            ("srv-d", "x6"),
            ("srv-e", "x7"),
        )
    }
    HardwareStateFactory(server=servers["srv-a"], max_temperature_c=85.0)
    HardwareStateFactory(server=servers["srv-b"], max_temperature_c=40.0)
    HardwareStateFactory(server=servers["srv-c"], power_state="off", health="warning", max_temperature_c=30.0)
    HardwareStateFactory(
        server=servers["srv-d"],
        power_state="unknown",
        health="unknown",
        reachable=False,
        last_seen_at=timezone.now() - HOUR,
        error="The BMC did not answer.",
    )
    _host("x2", vcpu_used=486)  # 94.9%
    _host("x3")
    CloudSync.objects.create(part="hosts", succeeded_at=timezone.now(), attempted_at=timezone.now())
    return servers


# --- Selectors -----------------------------------------------------------------------------------------


def test_server_states_count_power_health_unreachable_and_no_data(estate, manager):
    states = server_state_counts(user=manager)
    assert states.total == 5
    assert {s.state: s.count for s in states.power} == {"on": 2, "off": 1, "unknown": 1}
    assert {s.state: s.count for s in states.health} == {"ok": 2, "warning": 1, "critical": 0, "unknown": 1}
    assert (states.unreachable, states.no_data) == (1, 1)


def test_each_count_links_to_a_list_of_exactly_those_servers(estate, manager):
    client = Client()
    client.force_login(manager)
    states = server_state_counts(user=manager)
    for state in (*states.power, *states.health):
        body = client.get(f"/inventory/servers/?{state.query}").content.decode()
        assert body.count("data-server=") == state.count, state.query
    assert client.get("/inventory/servers/?bmc=unreachable").content.decode().count("data-server=") == 1
    assert 'data-server="srv-e"' in client.get("/inventory/servers/?bmc=none").content.decode()


def test_alerts_name_the_unreachable_bmc_the_hot_server_and_the_full_host(estate, manager, settings):
    settings.KENNEL_TEMPERATURE_ALERT_C = 80
    alerts = estate_alerts(user=manager)
    assert [(a.kind, a.server_name or a.host) for a in alerts] == [
        (AlertKind.BMC_UNREACHABLE, "srv-d"),
        (AlertKind.TEMPERATURE, "srv-a"),
        (AlertKind.HOST_UTILIZATION, "srv-a"),
    ]
    unreachable, hot, full = alerts
    assert unreachable.last_seen_at == estate["srv-d"].hardware_state.last_seen_at
    assert unreachable.detail == "The BMC did not answer."
    assert (hot.value, hot.threshold) == (85.0, 80.0)
    assert "85 °C" in hot.message
    assert (full.host, full.resource_class, full.value) == ("x2", "VCPU", 94.9)
    assert full.message == "Host x2 uses 94.9% of its vCPUs (alert at 90%)."


def test_alert_thresholds_come_from_settings(estate, manager, settings):
    settings.KENNEL_TEMPERATURE_ALERT_C = 90
    settings.KENNEL_CAPACITY_ALERT_PERCENT = 96
    assert [a.kind for a in estate_alerts(user=manager)] == [AlertKind.BMC_UNREACHABLE]
    settings.KENNEL_TEMPERATURE_ALERT_C = 35
    assert [a.server_name for a in estate_alerts(user=manager) if a.kind == AlertKind.TEMPERATURE] == [
        "srv-a",
        "srv-b",
    ]


def test_developers_get_no_bmc_data_and_no_alerts(estate, member):
    assert estate_alerts(user=member) == []
    assert server_state_counts(user=member).total == 0


def test_teams_are_ranked_by_what_their_active_vms_hold(manager, team, other_team, member, outsider):
    def vm(team, owner, vcpus, status=VmRequest.Status.ACTIVE):
        VmRequestFactory(
            team=team, owner=owner, vcpus=vcpus, ram_mb=vcpus * 2048, disk_gb=vcpus * 10, status=status
        )

    vm(team, member, 2)
    vm(team, member, 4)
    vm(team, member, 64, VmRequest.Status.DELETED)  # released: not counted
    vm(other_team, outsider, 8)
    TeamFactory(name="Idle")
    usage = team_usage_list(user=manager)
    assert [(t.slug, t.vm_count, t.vcpus, t.ram_mb, t.disk_gb) for t in usage] == [
        ("beta", 1, 8, 16384, 80),
        ("alpha", 2, 6, 12288, 60),
    ]
    assert len(team_usage_list(user=manager, limit=1)) == 1


# --- Pages ---------------------------------------------------------------------------------------------


def test_dashboard_permission_matrix(estate, people):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, DASHBOARD, expected)


def test_history_page_permission_matrix(estate, people):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, HISTORY, expected)


def test_dashboard_shows_alerts_states_utilization_forecast_and_teams(estate, manager, team, member):
    VmRequestFactory(team=team, owner=member, vcpus=2, ram_mb=4096, disk_gb=20, host="x3")
    client = Client()
    client.force_login(manager)
    body = client.get(DASHBOARD).content.decode()
    assert body.count('data-alert="') == 3 and "<details open>" in body  # a short list is shown open
    for kind in ("bmc_unreachable", "temperature", "host_utilization"):
        assert f'data-alert-count="{kind}"' in body
    assert "The BMC of srv-d does not answer." in body and "(1\xa0hour ago)" in body
    assert 'href="/inventory/servers/?power=off" data-state="power-off"' in body
    assert 'data-forecast="x86_64-VCPU"' in body and "Not enough history" in body
    assert 'data-team="alpha"' in body
    assert 'hx-trigger="every 60s"' in body and "<html" in body


def test_dashboard_refreshes_as_a_fragment_through_the_same_view(estate, manager):
    client = Client()
    client.force_login(manager)
    response = client.get(DASHBOARD, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="dashboard"') or 'id="dashboard"' in body
    assert "<html" not in body


def test_manager_and_admin_homes_link_the_dashboard_and_developers_do_not(estate, manager, admin, member):
    for user, linked in ((manager, True), (admin, True), (member, False)):
        client = Client()
        client.force_login(user)
        assert (DASHBOARD in client.get("/").content.decode()) is linked


def _history_rows(now: datetime, hours: int, resolution: str = "1h") -> None:
    step = HOUR if resolution == "1h" else 24 * HOUR
    UtilizationSample.objects.bulk_create(
        [
            UtilizationSampleFactory.build(
                resolution=resolution, scope=scope, key=key, at=now - (hours - i) * step, host_count=3,
                vm_count=i, vcpu_used=100 + i, vcpu_capacity=1536, memory_mb_used=1000 + i,
                memory_mb_capacity=900000, disk_gb_used=80, disk_gb_capacity=5400,
            )
            for i in range(hours)
            for scope, key in (("architecture", "x86_64"), ("architecture", "ppc64le"), ("datacenter", "dc<"))
        ]
    )  # fmt: skip


def test_history_page_draws_accessible_charts_with_a_table_alternative(estate, manager):
    _history_rows(timezone.now(), 48)
    client = Client()
    client.force_login(manager)
    body = client.get(HISTORY + "?range=week").content.decode()
    assert body.count('<svg class="chart"') == 6  # two architectures, three resources
    assert 'role="img" aria-labelledby="chart-x86_64-vcpu-t chart-x86_64-vcpu-d"' in body
    assert '<title id="chart-x86_64-vcpu-t">x86_64: vCPUs, used and capacity</title>' in body
    assert "Latest sample: 147 used of 1536 (9.6%)." in body
    assert "Time (UTC)" in body and "90% of capacity" in body
    assert body.count('<table class="data-table">') == 2 and "147 / 1536" in body
    # RAM in GiB, as people read it (the samples and the API count MiB): 1,047 of 900,000 MiB.
    assert (
        "x86_64: RAM (GiB), used and capacity" in body
        and "Latest sample: 1.02 used of 878.91 (0.1%)." in body
    )
    assert "1.02 / 878.91" in body and "RAM (MB)" not in body
    assert 'data-forecast="x86_64-VCPU"' in body
    dcs = client.get(HISTORY + "?range=month&scope=datacenter").content.decode()
    assert "dc&lt;" in dcs and "dc<" not in dcs  # keys are escaped inside the SVG too


def test_history_page_refuses_unknown_choices_with_a_reason(estate, manager):
    client = Client()
    client.force_login(manager)
    response = client.get(HISTORY + "?range=year&resolution=5m")
    assert response.status_code == 400
    assert "5-minute samples are kept for a week" in response.content.decode()


def test_history_page_without_samples_says_so(estate, manager):
    client = Client()
    client.force_login(manager)
    assert 'data-testid="history-empty"' in client.get(HISTORY + "?range=day").content.decode()


def _fleet(n: int) -> None:
    dc = DataCenterFactory()
    for i in range(n):
        server = ServerFactory(
            name=f"srv-{i}", datacenter=dc, roles=[ServerRole.COMPUTE.value], hypervisor_hostname=f"h{i}"
        )
        HardwareStateFactory(
            server=server, reachable=i % 3 != 0, max_temperature_c=90.0 if i % 5 == 0 else 40.0
        )
        _host(f"h{i}", "x86_64" if i % 2 else "ppc64le", vcpu_used=500 if i % 4 == 0 else 10)


@pytest.mark.parametrize("n", [4, 40])
def test_dashboard_and_history_queries_do_not_grow_with_hosts(n, manager, team, member):
    _fleet(n)
    _history_rows(timezone.now(), 30)
    client = Client()
    client.force_login(manager)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for url in (DASHBOARD, HISTORY + "?range=year", API_ALERTS):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        counts[url] = len(captured)
    # Session and user, then: dashboard = per-architecture sums, forecast, sync, BMC alerts, full hosts,
    # states, teams, whether demo history is shown; history = samples, forecast and demo history; alerts =
    # BMC alerts and full hosts. Every sum is the database's, so the number of hosts changes none of them.
    assert counts == {DASHBOARD: 10, HISTORY + "?range=year": 5, API_ALERTS: 4}


# --- API -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [API_HISTORY, API_FORECAST, API_ALERTS])
def test_api_permission_matrix(estate, people, url):
    expected = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, url, expected, api=True)


def test_api_history_returns_series_at_the_asked_range_and_resolution(estate, manager):
    _history_rows(timezone.now(), 48)
    _history_rows(timezone.now(), 40, resolution="1d")
    client = Client()
    client.force_login(manager)
    data = client.get(API_HISTORY, {"range": "month", "resolution": "1d"}).json()
    assert (data["range"], data["resolution"], data["scope"]) == ("month", "1d", "architecture")
    series = {s["key"]: s for s in data["series"]}
    assert set(series) == {"x86_64", "ppc64le"}
    assert len(series["x86_64"]["points"]) == 29  # 1 to 29 days old: the 30-day-old one is just out
    point = series["x86_64"]["points"][-1]
    stored = UtilizationSample.objects.filter(resolution="1d", key="x86_64").latest("at")
    assert point["at"] == serializers.DateTimeField().to_representation(stored.at)  # DRF's own format
    assert point["resources"][0] == {
        "resource_class": "VCPU", "capacity": 1536, "used": stored.vcpu_used, "free": 1536 - stored.vcpu_used,
        "percent": round(stored.vcpu_used * 100 / 1536, 1),
    }  # fmt: skip
    assert {r["resource_class"] for r in point["resources"]} == {"VCPU", "MEMORY_MB", "DISK_GB"}
    assert set(point["resources"][0]) == {"resource_class", "capacity", "used", "free", "percent"}
    hourly = client.get(API_HISTORY, {"range": "week", "scope": "datacenter"}).json()
    assert [s["key"] for s in hourly["series"]] == ["dc<"] and len(hourly["series"][0]["points"]) == 48


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"range": "decade"}, "Unknown range"),
        ({"range": "year", "resolution": "5m"}, "kept for a week"),
        ({"scope": "rack"}, "Unknown scope"),
    ],
)
def test_api_history_refuses_bad_queries_with_a_reason(estate, manager, query, message):
    client = Client()
    client.force_login(manager)
    response = client.get(API_HISTORY, query)
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_api_forecast_gives_the_date_and_validates_its_window(manager):
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    # +20 vCPUs a day for 10 days, up to 600 of 1000 yesterday: 900 is 15 days after yesterday's noon.
    UtilizationSample.objects.bulk_create(
        [
            UtilizationSampleFactory.build(
                resolution="1d", at=today - (10 - i) * 24 * HOUR, vcpu_used=420 + 20 * i,
                vcpu_capacity=1000, memory_mb_used=10, memory_mb_capacity=10,
            )
            for i in range(10)
        ]
    )  # fmt: skip
    client = Client()
    client.force_login(manager)
    forecasts = {f["resource_class"]: f for f in client.get(API_FORECAST).json()}
    vcpu = forecasts["VCPU"]
    assert vcpu["status"] == "reaches" and vcpu["threshold_percent"] == 90
    reaches_at = datetime.fromisoformat(vcpu["reaches_at"]).astimezone(UTC)
    assert abs(reaches_at - (today - 12 * HOUR + 15 * 24 * HOUR)) < timedelta(seconds=1)
    assert vcpu["growth_per_day"] == pytest.approx(20) and vcpu["points"] == 10
    assert forecasts["MEMORY_MB"]["status"] == "reached" and forecasts["DISK_GB"]["status"] == "no_capacity"
    assert client.get(API_FORECAST, {"window_days": "1"}).status_code == 400
    assert client.get(API_FORECAST, {"window_days": "x"}).status_code == 400
    assert client.get(API_FORECAST, {"scope": "datacenter"}).json() == []


def test_api_alerts_list_what_the_dashboard_shows(estate, manager):
    client = Client()
    client.force_login(manager)
    alerts = client.get(API_ALERTS).json()
    assert [a["kind"] for a in alerts] == ["bmc_unreachable", "temperature", "host_utilization"]
    assert alerts[0]["server_name"] == "srv-d" and alerts[0]["last_seen_at"]
    assert alerts[2]["resource_class"] == "VCPU" and alerts[2]["value"] == 94.9
    assert all("password" not in key and "username" not in key for a in alerts for key in a)


def test_admin_role_is_a_manager_for_reading(estate):
    admin = UserFactory(username="admin2", role=Role.ADMIN)
    assert len(estate_alerts(user=admin)) == 3
