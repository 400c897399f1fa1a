from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = _("Usage")

    def ready(self) -> None:
        from inventory.hooks import InventoryEvent
        from portal.hooks import hook_register
        from usage import access  # noqa: F401  (registers the scoping rules)
        from usage.alerts import hot_host_alerts

        hook_register(InventoryEvent.ESTATE_ALERTS, hot_host_alerts)
