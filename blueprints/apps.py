from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BlueprintsConfig(AppConfig):
    name = "blueprints"
    verbose_name = _("Blueprints and team services")

    def ready(self) -> None:
        from blueprints import access  # noqa: F401  (registers the scoping rules)
