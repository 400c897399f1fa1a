from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Image catalog")

    def ready(self) -> None:
        from catalog import access  # noqa: F401  (registers the scoping rules)
        from portal.audit_links import audit_target_page_register

        # The audit log links an entry to its object's page.
        audit_target_page_register("catalog.imageimport", "catalog:import-detail")
