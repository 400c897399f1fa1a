"""Who may see and change blueprints and services.

Blueprints: everyone signed in reads the global ones, a team's members (and managers, admins) read the
team's; admins keep every blueprint, a team's leads keep their team's. Services: the team (and managers,
admins) see them; admins, the team's leads and the service's maintainers who are in the team change them.
"""

from django.db.models import Q

from blueprints.models import Blueprint, BlueprintVersion, Service
from portal.access import Action, Capability, can, scope_rule
from portal.models import Membership, User

LEAD = Membership.Level.LEAD


@scope_rule(Blueprint)
def _blueprint_rule(user: User, action: Action) -> Q | bool:
    if can(user, Capability.PROFILES_MANAGE):  # admins
        return True
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__isnull=True) | Q(team__memberships__user=user)
    return Q(team__memberships__user=user, team__memberships__level=LEAD)


@scope_rule(BlueprintVersion)
def _version_rule(user: User, action: Action) -> Q | bool:
    verdict = _blueprint_rule(user, action)
    if isinstance(verdict, bool):
        return verdict
    return Q(blueprint__in=Blueprint.objects.filter(verdict))


@scope_rule(Service)
def _service_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    if can(user, Capability.TEAMS_ONBOARD):  # admins
        return True
    lead = Q(team__memberships__user=user, team__memberships__level=LEAD)
    if action == Action.OPERATE:  # scale, upgrade, roll back
        return lead | Q(team__memberships__user=user, maintainers=user)
    return lead  # delete, change maintainers
