"""Who sees idle VMs: whoever sees the VM (its team, managers and admins). Stopping or deleting one
goes through provisioning's services, which decide who may (the owner, the team's leads, admins)."""

from django.db.models import Q

from portal.access import Action, Capability, can, scope_rule
from portal.models import User
from usage.models import IdleVm


@scope_rule(IdleVm)
def _idle_vm_rule(user: User, action: Action) -> Q | bool:
    if action != Action.VIEW:
        return False  # flags are the scan's alone
    return can(user, Capability.TEAMS_VIEW_ALL) or Q(vm__team__memberships__user=user)
