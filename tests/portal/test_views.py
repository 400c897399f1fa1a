"""Every portal page: who may open it, and what it shows."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from portal.models import ApiToken, AuditEvent
from portal.services import api_token_create, audit_record
from tests.factories import ServerFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db

EVERYONE = {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
MANAGERS = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}


@pytest.mark.parametrize(
    ("url_name", "expected"),
    [
        ("home", EVERYONE),
        ("team-list", EVERYONE),
        ("token-list", EVERYONE),
        ("audit-list", MANAGERS),
        ("inventory:server-list", MANAGERS),
    ],
)
def test_page_permission_matrix(people, url_name, expected):
    check_matrix(people, reverse(url_name), expected)


def test_team_page_is_a_404_for_a_developer_of_another_team(people, team):
    check_matrix(
        people,
        reverse("team-detail", args=[team.slug]),
        {"anonymous": 302, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
    )


def test_api_docs_need_a_signed_in_user(people):
    check_matrix(
        people,
        reverse("api-docs"),
        {"anonymous": 401, "member": 200, "outsider": 200, "manager": 200, "admin": 200},
    )


def test_login_page_is_public_and_signs_in(client, member):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "member", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert response.url == reverse("home")
    event = AuditEvent.objects.get(action="auth.login")
    assert (event.actor, event.outcome) == (member, AuditEvent.Outcome.SUCCESS)
    assert event.source == "web 127.0.0.1"


def test_a_failed_login_says_so_and_is_audited(client, member):
    response = client.post(reverse("login"), {"username": "member", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text
    event = AuditEvent.objects.get(action="auth.login")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.actor is None and "member" in event.actor_name


@pytest.mark.parametrize(
    ("who", "marker"),
    [("member", "landing-developer"), ("manager", "landing-manager"), ("admin", "landing-admin")],
)
def test_each_role_lands_on_its_own_page(client, people, who, marker):
    client.force_login(people[who])
    assert f'data-testid="{marker}"' in client.get(reverse("home")).text


def test_navigation_shows_only_what_the_role_may_open(client, people):
    client.force_login(people["member"])
    page = client.get(reverse("home")).text
    assert reverse("team-list") in page
    assert reverse("audit-list") not in page
    assert reverse("inventory:server-list") not in page
    client.force_login(people["manager"])
    page = client.get(reverse("home")).text
    assert reverse("audit-list") in page and reverse("inventory:server-list") in page


def test_team_list_shows_a_developer_only_their_teams(client, people, team, other_team):
    client.force_login(people["member"])
    page = client.get(reverse("team-list")).text
    assert reverse("team-detail", args=["alpha"]) in page
    assert reverse("team-detail", args=["beta"]) not in page
    client.force_login(people["manager"])
    page = client.get(reverse("team-list")).text
    assert reverse("team-detail", args=["beta"]) in page


def test_audit_log_filters_and_answers_htmx_with_the_table_alone(client, people):
    audit_record(actor=people["admin"], action="server.power_off", source="web 10.0.0.1")
    audit_record(actor=people["member"], action="vm.create", source="api 10.0.0.2")
    client.force_login(people["manager"])
    full = client.get(reverse("audit-list"), {"action": "server."})
    assert "server.power_off" in full.text and "vm.create" not in full.text
    assert "<html" in full.text
    partial = client.get(reverse("audit-list"), {"actor": "member"}, HTTP_HX_REQUEST="true")
    assert "vm.create" in partial.text and "server.power_off" not in partial.text
    assert "<html" not in partial.text


def test_audit_log_reports_a_bad_filter_instead_of_failing(client, people):
    client.force_login(people["manager"])
    response = client.get(reverse("audit-list"), {"since": "yesterday-ish"})
    assert response.status_code == 200
    assert "Could not read the date" in response.text


def test_server_list_filters_by_architecture(client, people):
    ServerFactory(name="XA", architecture="x86_64")
    ServerFactory(name="PA", architecture="ppc64le")
    client.force_login(people["manager"])
    page = client.get(reverse("inventory:server-list"), {"architecture": "ppc64le"}).text
    assert 'data-server="PA"' in page and 'data-server="XA"' not in page


def test_token_page_issues_a_key_once_and_revokes_it(client, member):
    client.force_login(member)
    response = client.post(reverse("token-list"), {"name": "laptop"})
    token = ApiToken.objects.get(user=member)
    key = re.search(r'data-testid="new-key">([^<]+)<', response.text).group(1)
    assert ApiToken.digest_of(key) == token.digest
    assert key not in client.get(reverse("token-list")).text  # shown once, never again
    response = client.post(reverse("token-revoke", args=[token.pk]))
    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_a_token_cannot_be_revoked_by_someone_else(client, member, admin):
    token, _key = api_token_create(user=member, name="laptop", source="test")
    client.force_login(admin)
    assert client.post(reverse("token-revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_token_form_refuses_an_empty_name(client, member):
    client.force_login(member)
    response = client.post(reverse("token-list"), {"name": ""})
    assert "This field is required." in response.text
    assert not ApiToken.objects.exists()


def test_logout_needs_post_and_signs_out(client, member):
    client.force_login(member)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302
