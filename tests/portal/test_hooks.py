"""The core's hook registry: the core tells apps about its changes without importing them."""

from __future__ import annotations

import pytest

from onboarding.services import team_roles_sync_enqueue
from portal import hooks, services
from portal.hooks import Event, hook_register
from portal.models import Membership, Role
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(monkeypatch):
    """An empty registry holding one recording hook, for the test's duration."""
    monkeypatch.setattr(hooks, "_HOOKS", {})
    seen: list[dict] = []
    hook_register(Event.TEAM_ROLES_CHANGED, lambda **kwargs: seen.append(kwargs))
    return seen


def test_onboarding_registers_its_role_sync_in_its_app_config():
    assert team_roles_sync_enqueue in hooks._HOOKS[Event.TEAM_ROLES_CHANGED]


def test_a_new_membership_runs_the_hooks_with_its_team(calls):
    team, user = TeamFactory(), UserFactory()
    services.membership_set(actor=None, team=team, user=user)
    assert calls == [{"team_ids": [team.pk]}]


def test_a_role_change_runs_the_hooks_for_every_team_of_the_person(calls):
    first, second = MembershipFactory(), MembershipFactory()
    person = first.user
    Membership.objects.create(team=second.team, user=person, level=Membership.Level.MEMBER)
    calls.clear()
    services.user_set_role(actor=None, user=person, role=Role.MANAGER)
    assert len(calls) == 1 and sorted(calls[0]["team_ids"]) == sorted([first.team.pk, second.team.pk])


def test_an_unchanged_membership_runs_no_hook(calls):
    membership = MembershipFactory()
    calls.clear()
    services.membership_set(actor=None, team=membership.team, user=membership.user, level=membership.level)
    assert calls == []


def test_registering_the_same_hook_twice_runs_it_once(calls):
    hook = hooks._HOOKS[Event.TEAM_ROLES_CHANGED][0]
    hook_register(Event.TEAM_ROLES_CHANGED, hook)
    services.membership_set(actor=None, team=TeamFactory(), user=UserFactory())
    assert len(calls) == 1
