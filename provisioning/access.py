"""Who may see and act on VMs: a team sees its VMs; the owner, the team's leads and admins act."""

from django.db.models import Q

from portal.access import Action, Capability, can, scope_rule
from portal.models import Membership, User
from provisioning.models import (
    CloudFlavor,
    CloudFloatingIp,
    CloudHost,
    CloudImage,
    Profile,
    SshKey,
    UnmanagedServer,
    VmRequest,
    VmSnapshot,
    Volume,
)


@scope_rule(VmRequest)
def _vm_rule(user: User, action: Action) -> Q | bool:
    """VMs, and volumes alike: the team sees them; the owner, the team's leads and admins act."""
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    if can(user, Capability.TEAMS_ONBOARD):  # admins
        return True
    return Q(owner=user, team__memberships__user=user) | Q(
        team__memberships__user=user, team__memberships__level=Membership.Level.LEAD
    )


@scope_rule(CloudImage)
def _image_rule(user: User, action: Action) -> Q | bool:
    # The catalog's images: everyone signed in reads them, admins keep them. A team's own image
    # (a snapshot): its members read it; managers and admins see every team's.
    if can(user, Capability.IMAGES_MANAGE):
        return True
    if action != Action.VIEW:
        return False
    return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__isnull=True) | Q(team__memberships__user=user)


@scope_rule(VmSnapshot)
def _snapshot_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    return False  # made and changed by services only


@scope_rule(CloudFlavor)
def _catalog_rule(user: User, action: Action) -> Q | bool:
    # Everyone signed in reads the catalog; admins keep it.
    return action == Action.VIEW or can(user, Capability.IMAGES_MANAGE)


@scope_rule(Profile)
def _profile_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return True if can(user, Capability.PROFILES_MANAGE) else Q(is_active=True)
    return can(user, Capability.PROFILES_MANAGE)


@scope_rule(CloudHost)
def _host_rule(user: User, action: Action) -> Q | bool:
    # Developers see capacity through "how many fit", not per-host detail.
    return action == Action.VIEW and can(user, Capability.INVENTORY_VIEW)


@scope_rule(UnmanagedServer)
def _unmanaged_rule(user: User, action: Action) -> Q | bool:
    if action != Action.VIEW:
        return False
    return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)


@scope_rule(SshKey)
def _ssh_key_rule(user: User, action: Action) -> Q | bool:
    return Q(user=user)  # a key is its owner's alone


@scope_rule(CloudFloatingIp)
def _floating_ip_rule(user: User, action: Action) -> Q | bool:
    # A team sees its project's addresses; its leads (and admins) release unused ones.
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    if can(user, Capability.TEAMS_ONBOARD):  # admins
        return True
    return Q(team__memberships__user=user, team__memberships__level=Membership.Level.LEAD)


scope_rule(Volume)(_vm_rule)  # a volume is the team's as its VMs are
