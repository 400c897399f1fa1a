"""The one place that decides what a user may see and do.

Two questions, two functions:

* ``restrict(user, queryset, action)`` narrows a queryset to the objects the user may act on. Every
  HTML view, API endpoint, CLI path and export gets its objects through it, so an object you may not
  see is a 404 everywhere alike. Each model's rule is registered here or in its app's ``access.py``
  with ``@scope_rule``; a model without a rule is refused loudly rather than shown.
* ``can(user, capability)`` answers role-wide questions that are not about one object (may this
  user open the audit log, approve quotas, power servers?). Navigation is built from it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from portal.models import ApiToken, AuditEvent, Membership, Role, Team, User


class Action(StrEnum):
    VIEW = "view"
    CHANGE = "change"
    DELETE = "delete"
    OPERATE = "operate"  # power actions, VM lifecycle


class Capability(StrEnum):
    AUDIT_VIEW = "audit.view"
    INVENTORY_VIEW = "inventory.view"
    INVENTORY_CHANGE = "inventory.change"
    POWER_OPERATE = "power.operate"
    TEAMS_VIEW_ALL = "teams.view_all"
    TEAMS_ONBOARD = "teams.onboard"
    QUOTA_APPROVE = "quota.approve"
    IMAGES_MANAGE = "images.manage"
    PROFILES_MANAGE = "profiles.manage"


# Which portal role holds which capability. Admins hold every capability managers hold.
_CAPABILITIES: dict[Capability, frozenset[str]] = {
    Capability.AUDIT_VIEW: frozenset({Role.MANAGER, Role.ADMIN}),
    Capability.INVENTORY_VIEW: frozenset({Role.MANAGER, Role.ADMIN}),
    Capability.INVENTORY_CHANGE: frozenset({Role.ADMIN}),
    Capability.POWER_OPERATE: frozenset({Role.ADMIN}),
    Capability.TEAMS_VIEW_ALL: frozenset({Role.MANAGER, Role.ADMIN}),
    Capability.TEAMS_ONBOARD: frozenset({Role.ADMIN}),
    Capability.QUOTA_APPROVE: frozenset({Role.ADMIN}),
    Capability.IMAGES_MANAGE: frozenset({Role.ADMIN}),
    Capability.PROFILES_MANAGE: frozenset({Role.ADMIN}),
}


def role_of(user: User | object) -> str | None:
    """The portal role of an active, signed-in user; None for anyone else."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return None
    assert isinstance(user, User)
    return user.portal_role


def can(user: User | object, capability: Capability | str) -> bool:
    role = role_of(user)
    return role is not None and role in _CAPABILITIES[Capability(capability)]


# A rule answers, for one user and action: every object (True), none (False), or those matching a Q.
Rule = Callable[[User, Action], "Q | bool"]
_RULES: dict[type[Model], Rule] = {}
M = TypeVar("M", bound=Model)


def scope_rule(model: type[Model]) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        _RULES[model] = rule
        return rule

    return register


def restrict(user: User | object, queryset: QuerySet[M], action: Action | str = Action.VIEW) -> QuerySet[M]:
    """The objects of ``queryset`` that ``user`` may perform ``action`` on."""
    role = role_of(user)
    if role is None:
        return queryset.none()
    try:
        rule = _RULES[queryset.model]
    except KeyError:
        raise LookupError(
            f"no access rule for {queryset.model.__name__}; register one with @scope_rule"
        ) from None
    assert isinstance(user, User)
    verdict = rule(user, Action(action))
    if verdict is True:
        return queryset
    if verdict is False:
        return queryset.none()
    # A subquery rather than a join, so rules that cross memberships never duplicate rows.
    return queryset.filter(pk__in=queryset.model._default_manager.filter(verdict).values("pk"))


@scope_rule(Team)
def _team_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(memberships__user=user)
    if action == Action.OPERATE:  # request VMs in the team's project
        return can(user, Capability.TEAMS_ONBOARD) or Q(memberships__user=user)
    return can(user, Capability.TEAMS_ONBOARD)


@scope_rule(Membership)
def _membership_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(team__memberships__user=user)
    return can(user, Capability.TEAMS_ONBOARD)


@scope_rule(AuditEvent)
def _audit_rule(user: User, action: Action) -> Q | bool:
    # Nobody changes the audit log; managers and admins read all of it, developers their own entries.
    if action != Action.VIEW:
        return False
    return can(user, Capability.AUDIT_VIEW) or Q(actor=user)


@scope_rule(ApiToken)
def _token_rule(user: User, action: Action) -> Q | bool:
    # A token is its owner's alone, admins included.
    return Q(user=user)


@scope_rule(User)
def _user_rule(user: User, action: Action) -> Q | bool:
    if action == Action.VIEW:
        return can(user, Capability.TEAMS_VIEW_ALL) or Q(pk=user.pk) | Q(
            memberships__team__memberships__user=user
        )
    return can(user, Capability.TEAMS_ONBOARD)
