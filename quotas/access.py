"""Who sees and acts on quotas: a team sees its own; managers see all; only admins decide."""

from django.db.models import Q

from portal.access import Action, Capability, can, scope_rule
from portal.models import Membership, User
from quotas.models import QuotaRequest, QuotaRule, TeamQuota


@scope_rule(TeamQuota)
def _team_quota_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    return can(user, Capability.QUOTA_APPROVE)


@scope_rule(QuotaRequest)
def _quota_request_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    if action == Action.CHANGE:  # approve, reject, ask for information, retry
        return can(user, Capability.QUOTA_APPROVE)
    # OPERATE: answer a question or cancel: the requester and the team's leads (and admins).
    if can(user, Capability.QUOTA_APPROVE):
        return True
    return Q(requested_by=user, team__memberships__user=user) | Q(
        team__memberships__user=user, team__memberships__level=Membership.Level.LEAD
    )


@scope_rule(QuotaRule)
def _quota_rule_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL)
    return can(user, Capability.QUOTA_APPROVE)
