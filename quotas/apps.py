from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QuotasConfig(AppConfig):
    name = "quotas"
    verbose_name = _("Quotas")

    def ready(self) -> None:
        from portal.hooks import hook_register
        from provisioning.hooks import ProvisioningEvent
        from quotas import access  # noqa: F401  (registers the scoping rules)
        from quotas.selectors import quota_vm_room
        from quotas.services import quota_sync, quota_vm_refusal, quota_volume_refusal

        # Provisioning asks, without importing quotas: may the team have one more VM or volume, how many
        # more VMs fit, and (after a floating IP is released) read the team's usage again.
        hook_register(ProvisioningEvent.VM_ADMIT, quota_vm_refusal)
        hook_register(ProvisioningEvent.VM_ROOM, quota_vm_room)
        hook_register(ProvisioningEvent.VOLUME_ADMIT, quota_volume_refusal)
        hook_register(ProvisioningEvent.TEAM_USAGE_CHANGED, quota_sync)

        from portal.audit_links import audit_target_page_register

        # The audit log links an entry to its object's page.
        audit_target_page_register("quotas.quotarequest", "quotas:request-detail")
