from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = _("Provisioning")

    def ready(self) -> None:
        from portal.audit_links import audit_target_page_register
        from provisioning import access  # noqa: F401  (registers the scoping rules)

        # The audit log links an entry to its object's page.
        audit_target_page_register("provisioning.vmrequest", "provisioning:vm-detail")
