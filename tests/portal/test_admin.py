"""Django's admin at /admin/: portal admins only, every table read-only, the audit log never changed or
deleted, secrets never shown; the one change offered (keep people out) goes through the service."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from inventory import services as inventory_services
from portal.models import ApiToken, AuditEvent, Team
from portal.services import api_token_create, audit_record
from tests.factories import ServerFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db

DENIED = {"member": 403, "outsider": 403, "manager": 403, "admin": 200}


def as_admin(people) -> Client:
    client = Client()
    client.force_login(people["admin"])
    return client


@pytest.mark.parametrize("url", ["/admin/", "/admin/portal/auditevent/", "/admin/portal/user/"])
def test_admin_permission_matrix(people, url):
    check_matrix(people, url, {"anonymous": 302, **DENIED})


def test_anonymous_is_sent_to_kennels_own_login(db):
    response = Client().get("/admin/portal/team/", follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("login") + "?next=")
    assert response.status_code == 200


def test_every_registered_table_lists_and_shows_for_an_admin(people, team):
    client = as_admin(people)
    audit_record(actor=people["admin"], action="test.seen", target=team)
    for model in admin.site._registry:
        meta = model._meta
        response = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert response.status_code == 200, meta.label
    event = AuditEvent.objects.first()
    assert client.get(reverse("admin:portal_auditevent_change", args=[event.pk])).status_code == 200


def test_nothing_is_added_changed_or_deleted_through_the_admin(people, team):
    client = as_admin(people)
    assert client.get(reverse("admin:portal_team_add")).status_code == 403
    change = reverse("admin:portal_team_change", args=[team.pk])
    page = client.get(change)
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(change, {"name": "Renamed", "slug": "renamed"}).status_code == 403
    assert (
        client.post(reverse("admin:portal_team_delete", args=[team.pk]), {"post": "yes"}).status_code == 403
    )
    assert Team.objects.get(pk=team.pk).name == team.name


def test_the_audit_log_cannot_be_changed_or_deleted_through_the_admin(people, team):
    client = as_admin(people)
    event = audit_record(actor=people["admin"], action="test.keep", target=team)
    count = AuditEvent.objects.count()
    change = reverse("admin:portal_auditevent_change", args=[event.pk])
    assert client.post(change, {"action": "forged"}).status_code == 403
    assert (
        client.post(reverse("admin:portal_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    bulk = client.post(
        reverse("admin:portal_auditevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)  # Django answers "no such action", and deletes nothing
    event.refresh_from_db()
    assert event.action == "test.keep" and AuditEvent.objects.count() == count


def test_secrets_are_never_shown(people):
    client = as_admin(people)
    server = inventory_services.server_bmc_set(
        actor=None,
        server=ServerFactory(name="srv-secret"),
        protocol="ipmi",
        address="10.0.0.1",
        port=623,
        username="ADMIN",
        password="bmc-very-secret",
    )
    token, _key = api_token_create(user=people["member"], name="laptop", source="test")
    pages = [
        client.get(reverse("admin:inventory_server_change", args=[server.pk])).content.decode(),
        client.get(reverse("admin:portal_user_change", args=[people["member"].pk])).content.decode(),
        client.get(reverse("admin:portal_apitoken_change", args=[token.pk])).content.decode(),
        client.get(reverse("admin:portal_apitoken_changelist")).content.decode(),
    ]
    for secret in (server.bmc_password_encrypted, people["member"].password, token.digest, "bmc-very-secret"):
        assert all(secret not in page for page in pages)


def test_keeping_people_out_from_the_admin_goes_through_the_service(people):
    client = as_admin(people)
    member = people["member"]
    api_token_create(user=member, name="laptop", source="test")
    response = client.post(
        reverse("admin:portal_user_changelist"), {"action": "keep_out", "_selected_action": [member.pk]}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert not member.is_active and not ApiToken.objects.filter(user=member).exists()
    event = AuditEvent.objects.get(action="user.deactivate", target_id=str(member.pk))
    assert event.actor == people["admin"] and event.source.startswith("web ")


def test_an_admin_cannot_keep_themselves_out(people):
    client = as_admin(people)
    client.post(
        reverse("admin:portal_user_changelist"),
        {"action": "keep_out", "_selected_action": [people["admin"].pk]},
    )
    people["admin"].refresh_from_db()
    assert people["admin"].is_active


@pytest.mark.parametrize(
    "path",
    [
        "/admin/portal/team/9223372036854775808/change/",
        "/admin/portal/auditevent/%00/change/",
        "/admin/portal/user/" + "9" * 400 + "/change/",
        "/admin/inventory/server/-1/change/",
        "/admin/portal/auditevent/?created_at__gte=%00&q=%00",
        "/admin/portal/auditevent/?o=99&p=99999999999999999999",
        "/admin/no-such-app/",
    ],
)
def test_odd_admin_paths_are_never_server_errors(people, path):
    client = Client(raise_request_exception=False)
    client.force_login(people["admin"])
    assert client.get(path).status_code < 500
