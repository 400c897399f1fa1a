from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = _("Portal")

    def ready(self) -> None:
        from portal import (
            signals,  # noqa: F401  (login/logout auditing)
            task_signals,  # noqa: F401  (every task: request id, metrics, a log line)
        )
        from portal.choices import choice_displays_install
        from portal.stored_messages import catalogue_load

        choice_displays_install()  # every model's get_FOO_display, without translating each choice
        catalogue_load()  # every app's stored_messages, so any process renders any stored message


class KennelAdminConfig(admin_apps.AdminConfig):
    """Django's admin with Kennel's site: portal admins only, through Kennel's login (admin_site.py)."""

    default = False  # named in INSTALLED_APPS; PortalConfig stays this module's default
    default_site = "portal.admin_site.KennelAdminSite"
