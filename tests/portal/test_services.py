"""People, teams, tokens and the audit log, written through the service layer."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from portal import services
from portal.models import AuditEvent, Membership, Team
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_team_create_validates_and_audits(admin):
    team = services.team_create(actor=admin, name="Gamma", slug="gamma", source="web 10.0.0.9")
    event = AuditEvent.objects.get(action="team.create")
    assert (event.actor, event.target_id, event.team, event.source) == (
        admin,
        str(team.pk),
        team,
        "web 10.0.0.9",
    )
    with pytest.raises(ValidationError) as error:
        services.team_create(actor=admin, name="Gamma", slug="not a slug!")
    assert set(error.value.message_dict) == {"name", "slug"}
    assert Team.objects.count() == 1


def test_membership_set_changes_level_and_is_quiet_when_nothing_changes(admin, team):
    user = UserFactory(username="new")
    services.membership_set(actor=admin, team=team, user=user)
    services.membership_set(actor=admin, team=team, user=user)
    services.membership_set(actor=admin, team=team, user=user, level=Membership.Level.LEAD)
    assert Membership.objects.get(team=team, user=user).level == Membership.Level.LEAD
    details = [e.detail for e in AuditEvent.objects.filter(action="team.member_set").order_by("id")]
    assert details == [
        {"user": "new", "from": None, "to": "member"},
        {"user": "new", "from": "member", "to": "lead"},
    ]


def test_membership_remove_audits_only_a_real_removal(admin, member, team):
    services.membership_remove(actor=admin, team=team, user=member, source="test")
    services.membership_remove(actor=admin, team=team, user=member, source="test")
    assert not Membership.objects.filter(user=member).exists()
    assert AuditEvent.objects.filter(action="team.member_remove").count() == 1


def test_user_create_rejects_a_bad_role_and_writes_nothing(admin):
    with pytest.raises(ValidationError, match="role"):
        services.user_create(actor=admin, username="x", password="pw-long-enough", role="overlord")
    assert not AuditEvent.objects.filter(action="user.create").exists()


def test_a_token_authenticates_its_owner_and_stores_only_a_digest(member):
    token, key = services.api_token_create(user=member, name="cli", source="test")
    assert key.startswith("kn_") and key not in (token.digest, token.prefix)
    assert services.api_token_authenticate(key) == member
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert services.api_token_authenticate(key + "x") is None


def test_the_audit_log_refuses_changes_in_the_model(member):
    event = services.audit_record(actor=member, action="vm.create")
    event.action = "vm.delete"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_postgresql_itself_refuses_to_change_the_audit_log(member):
    event = services.audit_record(actor=member, action="vm.create")
    for sql in (
        "UPDATE portal_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM portal_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "vm.create"


def test_a_failed_login_records_the_attempted_name_not_a_user():
    services.audit_record(
        actor=None, actor_name="anonymous (mallory)", action="auth.login", outcome=AuditEvent.Outcome.FAILURE
    )
    event = AuditEvent.objects.get()
    assert (event.actor, event.actor_name) == (None, "anonymous (mallory)")
