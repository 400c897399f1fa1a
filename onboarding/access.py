"""Who sees and acts on onboarding: a team's people follow its chain; only admins start, retry and
offboard; a cloud account is its owner's alone (admins read them all)."""

from django.db.models import Q

from onboarding.models import (
    CloudAccount,
    Onboarding,
    OnboardingStep,
    OrphanCheck,
    QuotaTemplate,
    SecurityRule,
    SubnetAllocation,
)
from portal.access import Action, Capability, can, scope_rule
from portal.models import Membership, User


@scope_rule(Onboarding)
def _onboarding_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    return can(user, Capability.TEAMS_ONBOARD)


@scope_rule(OnboardingStep)
def _step_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(onboarding__team__memberships__user=user)
    return can(user, Capability.TEAMS_ONBOARD)


@scope_rule(CloudAccount)
def _cloud_account_rule(user: User, action: Action) -> Q | bool:
    # Downloading credentials and resetting the password are the owner's alone, admins included.
    if action == Action.VIEW and can(user, Capability.TEAMS_ONBOARD):
        return True
    return Q(user=user)


@scope_rule(QuotaTemplate)
@scope_rule(SubnetAllocation)
@scope_rule(OrphanCheck)
def _admin_rule(user: User, action: Action) -> Q | bool:
    return can(user, Capability.TEAMS_ONBOARD)


@scope_rule(SecurityRule)
def _security_rule_rule(user: User, action: Action) -> Q | bool:
    # A team sees who may reach its VMs; its leads (and admins) change it.
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    if can(user, Capability.TEAMS_ONBOARD):  # admins
        return True
    return Q(team__memberships__user=user, team__memberships__level=Membership.Level.LEAD)
