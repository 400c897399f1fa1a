"""Reads for the manager's dashboard: servers by power and health, utilization and its forecast per
architecture, teams by what their VMs hold, and the alerts that need someone (a BMC that stopped
answering, a hot server, a full host). Scoped like every other read: managers and admins see it,
developers see nothing of it (no BMC data). A constant number of queries, whatever the estate's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inventory.history import Forecast, demo_history_until, utilization_forecast
from inventory.hooks import InventoryEvent
from inventory.models import HealthChoice, PowerStateChoice
from inventory.selectors import (
    HostUtilization,
    host_utilization_alerting,
    server_list,
    utilization_by_architecture,
)
from portal.access import restrict
from portal.hooks import hooks_run
from portal.models import Team, User
from provisioning.selectors import hosts_synced_at

# The server list's filter value for "no hardware state yet" (no BMC, or never polled).
NO_BMC_DATA = "none"


@dataclass(frozen=True)
class StateCount:
    """How many servers are in one state; ``query`` filters the server list to exactly them."""

    label: str
    count: int
    query: str
    state: str


@dataclass(frozen=True)
class ServerStates:
    total: int
    power: tuple[StateCount, ...]
    health: tuple[StateCount, ...]
    unreachable: int
    no_data: int


def server_state_counts(*, user: User) -> ServerStates:
    """Servers by power state and by health as their BMC last reported them, unreachable BMCs, and
    servers with no BMC data at all. One query."""
    conditions: dict[str, Any] = {"total": Count("id"), "no_data": Count("id", filter=Q(hardware_state=None))}
    conditions["unreachable"] = Count("id", filter=Q(hardware_state__reachable=False))
    for value in PowerStateChoice.values:
        conditions[f"power_{value}"] = Count("id", filter=Q(hardware_state__power_state=value))
    for value in HealthChoice.values:
        conditions[f"health_{value}"] = Count("id", filter=Q(hardware_state__health=value))
    counts = server_list(user=user).aggregate(**conditions)
    return ServerStates(
        total=counts["total"],
        power=tuple(
            StateCount(
                str(choice.label), counts[f"power_{choice.value}"], f"power={choice.value}", choice.value
            )
            for choice in PowerStateChoice
        ),
        health=tuple(
            StateCount(
                str(choice.label), counts[f"health_{choice.value}"], f"health={choice.value}", choice.value
            )
            for choice in HealthChoice
        ),
        unreachable=counts["unreachable"],
        no_data=counts["no_data"],
    )


@dataclass(frozen=True)
class TeamUsage:
    """What a team's active VMs hold, from Kennel's own VM records (the flavor's size at request)."""

    slug: str
    name: str
    vm_count: int
    vcpus: int
    ram_mb: int
    disk_gb: int


def team_usage_list(*, user: User, limit: int | None = None) -> list[TeamUsage]:
    """Teams with active VMs, the largest vCPU holders first. One query, from the rollup the database
    keeps of what each team's active VMs hold (``TeamVmUsage``), never a sum over the VMs."""
    teams = (
        restrict(user, Team.objects.all())
        .filter(vm_usage__vm_count__gt=0)
        .order_by("-vm_usage__vcpus", "-vm_usage__ram_mb", "name")
        .values_list(
            "slug", "name", "vm_usage__vm_count", "vm_usage__vcpus", "vm_usage__ram_mb", "vm_usage__disk_gb"
        )
    )
    return [TeamUsage(*row) for row in (teams[:limit] if limit else teams)]


class AlertKind(StrEnum):
    BMC_UNREACHABLE = "bmc_unreachable"
    TEMPERATURE = "temperature"
    HOST_UTILIZATION = "host_utilization"
    HOST_HOT = "host_hot"  # from an app above (usage: CPUs really busy, per Prometheus)


# How a resource is named in a sentence ("uses 93% of its disk").
RESOURCE_NAMES = {
    "VCPU": gettext_lazy("vCPUs"),
    "MEMORY_MB": gettext_lazy("memory"),
    "DISK_GB": gettext_lazy("disk"),
}
ALERT_LABELS = {
    AlertKind.BMC_UNREACHABLE: gettext_lazy("BMC unreachable"),
    AlertKind.TEMPERATURE: gettext_lazy("Temperature"),
    AlertKind.HOST_UTILIZATION: gettext_lazy("Host nearly full"),
    AlertKind.HOST_HOT: gettext_lazy("Host running hot"),
}


@dataclass(frozen=True)
class Alert:
    """Something a manager or admin should look at. ``value`` and ``threshold`` are °C for a
    temperature and percent for a host's resource; ``last_seen_at`` is when an unreachable BMC last
    answered (None: never)."""

    kind: AlertKind
    server_id: int | None = None
    server_name: str = ""
    host: str = ""
    resource_class: str = ""
    value: float | None = None
    threshold: float | None = None
    last_seen_at: datetime | None = None
    detail: str = ""

    @property
    def kind_label(self) -> str:
        return str(ALERT_LABELS[self.kind])

    @property
    def message(self) -> str:
        if self.kind == AlertKind.BMC_UNREACHABLE:
            return _("The BMC of %(server)s does not answer.") % {"server": self.server_name}
        if self.kind == AlertKind.TEMPERATURE:
            return _("%(server)s is at %(value).0f °C (alert above %(threshold).0f °C).") % {
                "server": self.server_name,
                "value": self.value,
                "threshold": self.threshold,
            }
        if self.kind == AlertKind.HOST_HOT:
            return _("The CPUs of %(server)s are %(value).0f%% busy (alert at %(threshold).0f%%).") % {
                "server": self.server_name or self.host,
                "value": self.value,
                "threshold": self.threshold,
            }
        return _("Host %(host)s uses %(value).1f%% of its %(resource)s (alert at %(threshold).0f%%).") % {
            "host": self.host,
            "value": self.value,
            "resource": RESOURCE_NAMES.get(self.resource_class, self.resource_class),
            "threshold": self.threshold,
        }


def estate_alerts(*, user: User, hosts: list[HostUtilization] | None = None) -> list[Alert]:
    """Unreachable BMCs (with when they were last seen), servers whose hottest sensor is above
    KENNEL_TEMPERATURE_ALERT_C, and compute hosts using KENNEL_CAPACITY_ALERT_PERCENT or more of any
    resource. Pass ``hosts`` to reuse a host list already read; else the database picks the full hosts.
    Two queries, whatever the number of hosts."""
    temperature = float(settings.KENNEL_TEMPERATURE_ALERT_C)
    percent = float(settings.KENNEL_CAPACITY_ALERT_PERCENT)
    alerts: list[Alert] = []
    flagged = (
        server_list(user=user)
        .filter(Q(hardware_state__reachable=False) | Q(hardware_state__max_temperature_c__gt=temperature))
        .order_by("name")
    )
    for server in flagged:
        state = server.hardware_state
        if not state.reachable:
            alerts.append(
                Alert(
                    AlertKind.BMC_UNREACHABLE,
                    server_id=server.pk,
                    server_name=server.name,
                    host=server.hypervisor_hostname,
                    last_seen_at=state.last_seen_at,
                    detail=state.error_text,
                )
            )
        else:
            alerts.append(
                Alert(
                    AlertKind.TEMPERATURE,
                    server_id=server.pk,
                    server_name=server.name,
                    host=server.hypervisor_hostname,
                    value=state.max_temperature_c,
                    threshold=temperature,
                )
            )
    if hosts is None:
        full = host_utilization_alerting(user=user, percent=percent)  # the database picks them
    else:
        full = [
            host
            for host in hosts
            if any(u.capacity > 0 and u.used * 100 >= percent * u.capacity for u in host.resources)
        ]
    for host in full:
        for usage in host.resources:
            if usage.capacity > 0 and usage.used * 100 >= percent * usage.capacity:
                alerts.append(
                    Alert(
                        AlertKind.HOST_UTILIZATION,
                        server_id=host.server_id,
                        server_name=host.server_name,
                        host=host.name,
                        resource_class=usage.resource_class,
                        value=round(usage.used * 100 / usage.capacity, 1),
                        threshold=percent,
                    )
                )
    for more in hooks_run(InventoryEvent.ESTATE_ALERTS, user=user):  # the apps above (usage: hot hosts)
        alerts.extend(more)
    order = list(AlertKind)
    return sorted(alerts, key=lambda a: order.index(a.kind))  # stable: by name within a kind


@dataclass(frozen=True)
class AlertCount:
    kind: AlertKind
    label: str
    count: int


def alert_counts(alerts: list[Alert]) -> list[AlertCount]:
    """How many alerts of each kind there are (kinds without any left out)."""
    return [
        AlertCount(kind, str(ALERT_LABELS[kind]), n)
        for kind in AlertKind
        if (n := sum(1 for a in alerts if a.kind == kind))
    ]


# The dashboard lists this many alerts (the counts are of all of them); ``?alerts=all`` lists every one.
DASHBOARD_ALERTS = 20


def dashboard_summary(*, user: User, all_alerts: bool = False) -> dict[str, Any]:
    """Everything the dashboard shows, each part summed by the database, so its queries and its time do
    not grow with the estate: the first ``DASHBOARD_ALERTS`` alerts unless ``all_alerts``."""
    by_architecture = utilization_by_architecture(user=user)
    forecasts: list[Forecast] = utilization_forecast(user=user, keys=[g.key for g in by_architecture])
    synced_at, sync_error = hosts_synced_at()
    alerts = estate_alerts(user=user)
    return {
        "demo_history_until": demo_history_until(user=user),
        "states": server_state_counts(user=user),
        "by_architecture": by_architecture,
        "forecasts": forecasts,
        "teams": team_usage_list(user=user, limit=15),
        "alerts": alerts,
        "alerts_shown": alerts if all_alerts else alerts[:DASHBOARD_ALERTS],
        "alert_counts": alert_counts(alerts),
        "synced_at": synced_at,
        "sync_error": sync_error,
        "temperature_threshold": settings.KENNEL_TEMPERATURE_ALERT_C,
        "capacity_threshold": settings.KENNEL_CAPACITY_ALERT_PERCENT,
        "window_days": settings.KENNEL_FORECAST_WINDOW_DAYS,
    }
