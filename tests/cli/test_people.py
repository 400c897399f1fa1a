"""``kennel people list|add|sign-in-link`` against a live Kennel (tasks run eagerly: the mail is sent)."""

from __future__ import annotations

import pytest
from django.core import mail

from portal.models import AuditEvent, User

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_adds_a_person_who_gets_a_sign_in_link(kennel, logged_in, admin, member, eager_tasks):
    logged_in(member)
    refused = kennel("people", "add", "ana", "--email", "ana@example.org")
    assert refused.code != 0 and not User.objects.filter(username="ana").exists()
    logged_in(admin)
    added = kennel(
        "people", "add", "ana", "--email", "ana@example.org", "--role", "manager", "--first-name", "Ana"
    )
    assert added.code == 0, added.err
    assert "a first sign-in link is on its way to ana@example.org" in added.out
    ana = User.objects.get(username="ana")
    assert (ana.email, ana.portal_role, ana.first_name, ana.has_usable_password()) == (
        "ana@example.org", "manager", "Ana", False,
    )  # fmt: skip
    assert [m.to for m in mail.outbox] == [["ana@example.org"]]
    taken = kennel("people", "add", "ANA", "--email", "other@example.org")
    assert taken.code != 0 and "already has this user name" in taken.err
    assert kennel("people", "add", "bob", "--email", "not-an-address").code != 0
    listed = kennel("people", "list")
    assert listed.code == 0 and "ana" in listed.out and "manager" in listed.out and "never" in listed.out
    again = kennel("people", "sign-in-link", "ana")
    assert again.code == 0 and len(mail.outbox) == 2
    assert kennel("people", "sign-in-link", "nobody").code != 0
    assert AuditEvent.objects.filter(action="user.sign_in_link", target_id=str(ana.pk)).count() == 2


def test_the_api_takes_a_person_without_names(admin, eager_tasks):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin)
    answer = client.post(
        "/api/v1/people/",
        {"username": "cy", "email": "cy@example.org", "first_name": "", "last_name": ""},
        format="json",
    )
    assert answer.status_code == 201, answer.content
