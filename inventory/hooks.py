"""What inventory asks of the apps above it (usage), through the core's hook registry
(``portal.hooks``): the apps register their answers in their ``AppConfig.ready()``, so inventory never
imports them."""

from __future__ import annotations

from enum import StrEnum


class InventoryEvent(StrEnum):
    # What else should the dashboard alert about? Keyword argument: ``user``. Each hook answers a list
    # of inventory.dashboard.Alert (none when its source is not configured or away).
    ESTATE_ALERTS = "inventory.estate_alerts"
