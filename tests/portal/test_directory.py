"""Company accounts against a real directory (slapd, tests/conftest.py): sign-in through the login page
and the API, groups to roles and team memberships, the periodic sync, TLS, and the directory away."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from devldap import free_port
from portal import directory
from portal.directory_sync import directory_people_sync
from portal.models import ApiToken, AuditEvent, Membership, Role, User
from portal.services import api_token_create, user_set_active
from portal.tasks import directory_sync
from tests.factories import PASSWORD, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"


@pytest.fixture
def alpha(db):
    return TeamFactory(name="Alpha", slug="alpha")


def web_login(username: str, password: str) -> tuple[Client, object]:
    client = Client()
    return client, client.post(reverse("login"), {"username": username, "password": password})


def signed_in_as(client: Client) -> str | None:
    response = client.get("/api/v1/me/")  # the session, checked as every request checks it
    return response.json()["username"] if response.status_code == 200 else None


def test_a_directory_person_signs_in_through_the_login_form(ldap_settings, alpha):
    client, response = web_login("alice", "alice-secret")
    assert response.status_code == 302
    assert signed_in_as(client) == "alice"
    alice = User.objects.get(username="alice")
    assert alice.directory_dn == "uid=alice,ou=people,dc=kennel,dc=test"
    assert (alice.email, alice.first_name, alice.last_name) == ("alice@example.test", "Alice", "Admin")
    assert alice.portal_role == Role.ADMIN and not alice.has_usable_password()
    actions = list(AuditEvent.objects.filter(target_id=str(alice.pk)).values_list("action", flat=True))
    assert "user.create" in actions and "auth.login" in actions


def test_a_wrong_directory_password_is_refused_and_audited(ldap_settings, alpha):
    client, response = web_login("alice", "not-her-password")
    assert response.status_code == 200 and signed_in_as(client) is None
    assert not User.objects.filter(username="alice").exists()
    assert AuditEvent.objects.filter(
        action="auth.login", outcome=AuditEvent.Outcome.FAILURE, actor_name="anonymous (alice)"
    ).exists()


def test_an_empty_password_is_never_an_anonymous_bind(ldap_settings):
    assert directory.person_authenticate(username="alice", password="") is None


def test_groups_give_the_portal_role_and_the_team_level(ldap_settings, alpha):
    web_login("bob", "bob-secret")
    web_login("carol", "carol-secret")
    web_login("mona", "mona-secret")
    bob, carol, mona = (User.objects.get(username=name) for name in ("bob", "carol", "mona"))
    assert [bob.portal_role, carol.portal_role, mona.portal_role] == [
        Role.DEVELOPER,
        Role.DEVELOPER,
        Role.MANAGER,
    ]
    levels = dict(Membership.objects.filter(team=alpha).values_list("user__username", "level"))
    assert levels == {"bob": "lead", "carol": "member"}  # lead wins over member; mona is in no team
    assert AuditEvent.objects.filter(action="team.member_set", team=alpha).count() == 2


def test_a_person_in_no_mapped_group_cannot_sign_in_and_gets_no_account(ldap_settings, alpha):
    client, _ = web_login("dave", "dave-secret")
    assert signed_in_as(client) is None
    assert not User.objects.filter(username="dave").exists()


def test_a_directory_name_that_is_a_local_account_does_not_take_it_over(ldap_settings, alpha):
    local = UserFactory(username="member")
    client, _ = web_login("member", "member-directory-secret")
    assert signed_in_as(client) is None
    local.refresh_from_db()
    assert local.directory_dn == "" and local.has_usable_password()
    client, _ = web_login("member", PASSWORD)  # its own password still works
    assert signed_in_as(client) == "member"


def api_login(username: str, password: str):
    return APIClient().post(LOGIN, {"username": username, "password": password, "name": "cli"}, format="json")


def test_the_api_token_endpoint_takes_a_directory_password(ldap_settings, alpha):
    response = api_login("carol", "carol-secret")
    assert response.status_code == 201
    me = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {response.json()['key']}")
    assert me.status_code == 200 and me.json()["username"] == "carol"
    refused = api_login("carol", "wrong")
    assert refused.status_code == 401


def test_the_periodic_sync_keeps_out_who_left_the_directory(ldap_settings, alpha, slapd):
    from devldap import Person

    slapd.add_person(Person("frank", "frank-secret", "Frank", "Leaver"))
    slapd.set_group_members("alpha-devs", ["bob", "carol", "member", "frank"])
    try:
        client, _ = web_login("frank", "frank-secret")
        assert signed_in_as(client) == "frank"
        frank = User.objects.get(username="frank")
        api_token_create(user=frank, name="laptop", source="test")
        assert Membership.objects.filter(user=frank, team=alpha).exists()

        slapd.delete_person("frank")
        directory_sync.apply()  # the beat-scheduled task, run here

        frank.refresh_from_db()
        assert not frank.is_active and frank.left_directory_at is not None
        assert not ApiToken.objects.filter(user=frank).exists()
        assert signed_in_as(client) is None  # the session ended
        deactivate = AuditEvent.objects.get(action="user.deactivate", target_id=str(frank.pk))
        assert deactivate.actor is None and deactivate.source == "directory"
        assert deactivate.detail["tokens_revoked"] == 1
        _, response = web_login("frank", "frank-secret")
        assert response.status_code == 200  # and he cannot sign in again

        slapd.add_person(Person("frank", "frank-secret", "Frank", "Leaver"))  # back in the directory
        slapd.set_group_members("alpha-devs", ["bob", "carol", "member", "frank"])
        result = directory_people_sync()
        frank.refresh_from_db()
        assert result.ok and frank.is_active and frank.left_directory_at is None
    finally:
        slapd.set_group_members("alpha-devs", ["bob", "carol", "member"])


def test_leaving_every_mapped_group_keeps_out_and_leaving_a_team_group_ends_the_membership(
    ldap_settings, alpha, slapd
):
    web_login("bob", "bob-secret")
    bob = User.objects.get(username="bob")
    try:
        slapd.set_group_members("alpha-leads", [])
        directory_people_sync()
        assert Membership.objects.get(user=bob, team=alpha).level == "member"  # still in alpha-devs
        slapd.set_group_members("alpha-devs", ["carol", "member"])
        result = directory_people_sync()
        bob.refresh_from_db()
        assert not bob.is_active and "bob" in result.kept_out
    finally:
        slapd.set_group_members("alpha-leads", ["bob"])
        slapd.set_group_members("alpha-devs", ["bob", "carol", "member"])


def test_someone_an_admin_kept_out_stays_out_whatever_the_directory_says(ldap_settings, alpha):
    web_login("carol", "carol-secret")
    carol = User.objects.get(username="carol")
    user_set_active(actor=UserFactory(username="root", role=Role.ADMIN), user=carol, active=False)
    directory_people_sync()
    carol.refresh_from_db()
    assert not carol.is_active
    client, _ = web_login("carol", "carol-secret")
    assert signed_in_as(client) is None


def test_a_directory_that_is_down_never_locks_out_local_accounts_nor_answers_500(ldap_settings, alpha):
    web_login("carol", "carol-secret")
    ldap_settings.KENNEL_LDAP_URL = f"ldap://127.0.0.1:{free_port()}"  # nothing listens there
    UserFactory(username="localadmin", role=Role.ADMIN)
    client, response = web_login("localadmin", PASSWORD)
    assert response.status_code == 302 and signed_in_as(client) == "localadmin"
    client, response = web_login("carol", "carol-secret")
    assert response.status_code == 200 and signed_in_as(client) is None
    assert api_login("carol", "carol-secret").status_code == 401
    result = directory_people_sync()
    assert not result.ok and User.objects.get(username="carol").is_active  # nobody kept out


def test_starttls_with_the_directory_ca(ldap_settings, slapd):
    ldap_settings.KENNEL_LDAP_STARTTLS = True
    ldap_settings.KENNEL_LDAP_CA_FILE = str(slapd.tls.ca_file)
    person = directory.person_authenticate(username="alice", password="alice-secret")
    assert person is not None and "kennel-admins" in person.groups


def test_ldaps_with_the_directory_ca(ldap_settings, slapd):
    ldap_settings.KENNEL_LDAP_URL = slapd.ldaps_url
    ldap_settings.KENNEL_LDAP_CA_FILE = str(slapd.tls.ca_file)
    assert directory.person_authenticate(username="alice", password="alice-secret") is not None


def test_a_certificate_from_an_unknown_ca_is_refused(ldap_settings, slapd, tmp_path):
    from devldap import make_tls

    ldap_settings.KENNEL_LDAP_STARTTLS = True
    ldap_settings.KENNEL_LDAP_CA_FILE = str(make_tls(tmp_path / "other").ca_file)
    with pytest.raises(directory.DirectoryUnavailable):
        directory.person_authenticate(username="alice", password="alice-secret")
    client, response = web_login("alice", "alice-secret")
    assert response.status_code == 200 and signed_in_as(client) is None


@pytest.mark.parametrize("scheme", ["starttls", "ldaps"])
def test_a_certificate_for_another_host_name_is_refused(ldap_settings, slapd, scheme):
    # the certificate names 127.0.0.1 only; localhost reaches the same slapd
    port = slapd.port if scheme == "starttls" else slapd.ldaps_port
    ldap_settings.KENNEL_LDAP_URL = f"{'ldap' if scheme == 'starttls' else 'ldaps'}://localhost:{port}"
    ldap_settings.KENNEL_LDAP_STARTTLS = scheme == "starttls"
    ldap_settings.KENNEL_LDAP_CA_FILE = str(slapd.tls.ca_file)
    with pytest.raises(directory.DirectoryUnavailable, match="certificate"):
        directory.person_authenticate(username="alice", password="alice-secret")


def test_without_ldap_settings_nothing_asks_a_directory(settings, db):
    settings.KENNEL_LDAP_URL = ""
    assert directory_people_sync().ok
    client, _ = web_login("alice", "alice-secret")
    assert signed_in_as(client) is None
