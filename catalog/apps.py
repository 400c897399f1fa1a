from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = _("Image catalog")

    def ready(self) -> None:
        from catalog import access  # noqa: F401  (registers the scoping rules)
