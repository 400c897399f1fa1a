from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = _("Inventory")

    def ready(self) -> None:
        from inventory import access  # noqa: F401  (registers the scoping rules)
        from portal.audit_links import audit_target_page_register

        # The audit log links an entry to its object's page.
        audit_target_page_register("inventory.server", "inventory:server-detail")
