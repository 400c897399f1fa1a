"""The one scoping function: what each role sees and may change."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from inventory.models import Server
from portal.access import Action, Capability, can, restrict
from portal.models import AuditEvent, Membership, Role, Team, User
from portal.services import audit_record
from tests.factories import MembershipFactory, ServerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_developer_sees_only_their_teams(member, team, other_team):
    assert list(restrict(member, Team.objects.all())) == [team]


def test_managers_and_admins_see_every_team(manager, admin, team, other_team):
    assert set(restrict(manager, Team.objects.all())) == {team, other_team}
    assert set(restrict(admin, Team.objects.all())) == {team, other_team}


def test_only_admins_change_teams(member, lead, manager, admin, team):
    for user in (member, lead, manager):
        assert not restrict(user, Team.objects.all(), Action.CHANGE).exists()
    assert restrict(admin, Team.objects.all(), Action.CHANGE).get() == team


def test_a_user_in_two_teams_is_listed_once(team, other_team):
    user = UserFactory(username="both")
    MembershipFactory(user=user, team=team)
    MembershipFactory(user=user, team=other_team)
    visible = restrict(user, User.objects.all())
    assert list(visible.filter(pk=user.pk)) == [user]
    assert restrict(user, Team.objects.all()).count() == 2


def test_anonymous_and_inactive_users_see_nothing(team, member):
    assert not restrict(AnonymousUser(), Team.objects.all()).exists()
    member.is_active = False
    member.save()
    assert not restrict(member, Team.objects.all()).exists()
    assert not can(member, Capability.TEAMS_VIEW_ALL)


def test_a_superuser_is_an_admin_whatever_their_role_field(team):
    root = UserFactory(username="root", is_superuser=True, role=Role.DEVELOPER)
    assert can(root, Capability.POWER_OPERATE)
    assert restrict(root, Team.objects.all(), Action.CHANGE).exists()


def test_developers_see_no_servers_managers_read_admins_operate(member, manager, admin):
    ServerFactory(name="X9")
    assert not restrict(member, Server.objects.all()).exists()
    assert restrict(manager, Server.objects.all()).exists()
    assert not restrict(manager, Server.objects.all(), Action.OPERATE).exists()
    assert restrict(admin, Server.objects.all(), Action.OPERATE).exists()


def test_audit_log_is_read_only_for_everyone(member, manager, admin):
    audit_record(actor=member, action="vm.create")
    audit_record(actor=admin, action="server.power_off")
    assert [e.action for e in restrict(member, AuditEvent.objects.all())] == ["vm.create"]
    assert restrict(manager, AuditEvent.objects.all()).count() == 2
    assert not restrict(admin, AuditEvent.objects.all(), Action.CHANGE).exists()


def test_a_developer_sees_the_memberships_of_their_team_only(member, outsider, team):
    visible = restrict(member, Membership.objects.all())
    assert {m.user for m in visible} == {member}
    assert not restrict(outsider, Membership.objects.filter(team=team)).exists()


def test_a_model_without_a_rule_is_refused_loudly(member):
    from django.contrib.sessions.models import Session

    with pytest.raises(LookupError, match="no access rule for Session"):
        restrict(member, Session.objects.all())
