from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        from portal import (
            signals,  # noqa: F401  (login/logout auditing)
            task_signals,  # noqa: F401  (every task: request id, metrics, a log line)
        )
