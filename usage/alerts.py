"""Hot hosts as alerts on the manager's dashboard (a hook of inventory.hooks.InventoryEvent.ESTATE_ALERTS)."""

from __future__ import annotations

from django.conf import settings

from inventory.dashboard import Alert, AlertKind
from portal.access import Capability, can
from portal.models import User
from usage.selectors import hot_hosts

# The dashboard refreshes every minute; a Prometheus that hangs must not hold it for the full timeout.
DASHBOARD_TIMEOUT = 2.0


def hot_host_alerts(*, user: User) -> list[Alert]:
    """A server whose CPUs are busier than KENNEL_HOT_HOST_CPU_PERCENT; none when metrics are not
    configured or Prometheus is away (the dashboard's alerts are about the estate, not about Kennel)."""
    if not can(user, Capability.INVENTORY_VIEW):
        return []
    threshold = float(settings.KENNEL_HOT_HOST_CPU_PERCENT)
    answer = hot_hosts(user=user, threshold_percent=threshold, timeout=DASHBOARD_TIMEOUT)
    return [
        Alert(
            AlertKind.HOST_HOT,
            server_id=host.server_id,
            server_name=host.name,
            value=host.cpu_percent,
            threshold=threshold,
        )
        for host in answer.rows
    ]
