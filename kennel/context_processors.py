"""The role-aware navigation, decided here from ``can()`` so templates make no permission decisions."""

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from portal.access import Capability, can, role_of
from portal.models import Role

# (label, url name, capability or None for every signed-in user)
_NAVIGATION = [
    (_("Home"), "home", None),
    (_("VMs"), "provisioning:vm-list", None),
    (_("Volumes"), "provisioning:volume-list", None),
    (_("Profiles"), "provisioning:profile-list", None),
    (_("Catalog"), "catalog:images", Capability.IMAGES_MANAGE),
    (_("Blueprints"), "blueprints:list", None),
    (_("Teams"), "team-list", None),
    (_("People"), "people", Capability.TEAMS_VIEW_ALL),
    (_("Onboarding"), "onboarding:list", Capability.TEAMS_ONBOARD),
    (_("Quotas"), "quotas:overview", None),
    (_("Dashboard"), "inventory:dashboard", Capability.INVENTORY_VIEW),
    (_("Servers"), "inventory:server-list", Capability.INVENTORY_VIEW),
    (_("Utilization"), "inventory:utilization", Capability.INVENTORY_VIEW),
    (_("Usage"), "usage:hosts", Capability.INVENTORY_VIEW),
    (_("Audit log"), "audit-list", Capability.AUDIT_VIEW),
]
# The person's own things, in the menu under their name.
_ACCOUNT = [
    (_("SSH keys"), "provisioning:ssh-keys", None),
    (_("API tokens"), "token-list", None),
    (_("API docs"), "api-docs", None),
]


def navigation(request):
    user = getattr(request, "user", None)
    role = role_of(user)
    if role is None:
        return {"nav_items": [], "account_items": [], "portal_role": None}
    current = request.resolver_match.view_name if request.resolver_match else ""

    def items(entries):
        return [
            {"label": label, "url": reverse(name), "active": name == current}
            for label, name, capability in entries
            if capability is None or can(user, capability)
        ]

    return {
        "nav_items": items(_NAVIGATION),
        "account_items": items(_ACCOUNT),
        "portal_role": role,
        "portal_role_label": Role(role).label,
    }
