from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BlueprintsConfig(AppConfig):
    name = "blueprints"
    verbose_name = _("Blueprints and team services")

    def ready(self) -> None:
        from blueprints import access  # noqa: F401  (registers the scoping rules)
        from blueprints.selectors import profile_named_by, service_keeping
        from portal.hooks import hook_register
        from provisioning.hooks import ProvisioningEvent

        # A service's VM is changed through its service: provisioning asks before deleting, resizing
        # or rebuilding one on its own.
        hook_register(ProvisioningEvent.VM_KEEPER, service_keeping)
        # A profile a blueprint version names is archived rather than deleted, and keeps its name.
        hook_register(ProvisioningEvent.PROFILE_USERS, profile_named_by)
