"""Who may see and change the physical estate: managers read it, admins change it."""

from django.db.models import Q

from inventory.models import DataCenter, HardwareState, PowerRequest, Server, UtilizationSample
from portal.access import Action, Capability, can, scope_rule
from portal.models import User


@scope_rule(UtilizationSample)
@scope_rule(PowerRequest)
@scope_rule(HardwareState)
@scope_rule(Server)
@scope_rule(DataCenter)
def _estate_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.INVENTORY_VIEW)
    if action == Action.OPERATE:
        return can(user, Capability.POWER_OPERATE)
    return can(user, Capability.INVENTORY_CHANGE)
