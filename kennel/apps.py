from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KennelConfig(AppConfig):
    """The top floor as an app, so its management commands (``demo_load``) are found."""

    name = "kennel"
    verbose_name = _("Kennel")

    def ready(self) -> None:
        from kennel import checks  # noqa: F401 - registers the deployment checks (manage.py check --deploy)
