"""Admins add a person (a local account) and a first sign-in link goes to them by mail: a one-time,
expiring link to choose a password. Page, API, permission matrix, audit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent, Role, User
from tests.factories import UserFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


def _link(mail) -> str:
    found = re.search(r"https?://\S+/account/set-password/\S+/", mail.body)
    assert found, mail.body
    return found.group(0).split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def _add(client, **data):
    fields = {"username": "newbie", "email": "newbie@example.org", "role": "developer"} | data
    return client.post(reverse("person-add"), fields)


def test_an_admin_adds_a_person_who_chooses_a_password_once_through_the_mailed_link(
    client, admin, mailoutbox, eager_tasks, django_capture_on_commit_callbacks
):
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = _add(client, role="manager", first_name="New", last_name="Person")

    assert response.status_code == 302 and response.url == reverse("people")
    person = User.objects.get(username="newbie")
    assert (person.role, person.email, person.has_usable_password()) == (
        Role.MANAGER,
        "newbie@example.org",
        False,
    )
    assert AuditEvent.objects.filter(action="user.create", actor=admin, target_id=str(person.pk)).exists()
    assert AuditEvent.objects.filter(action="user.sign_in_link", actor=admin).exists()
    assert [m.to for m in mailoutbox] == [["newbie@example.org"]]
    link = _link(mailoutbox[0])

    stranger = Client()
    form = stranger.get(link, follow=True)
    assert 'data-testid="password-set"' in form.text
    done = stranger.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"new_password1": "a-long-new-passphrase-7", "new_password2": "a-long-new-passphrase-7"},
    )
    assert done.status_code == 302 and done.url == reverse("login")
    assert (
        stranger.post(
            reverse("login"), {"username": "newbie", "password": "a-long-new-passphrase-7"}
        ).status_code
        == 302
    )

    again = Client().get(link, follow=True)
    assert 'data-testid="link-invalid"' in again.text and 'data-testid="password-set"' not in again.text


def test_the_link_expires(
    client, admin, mailoutbox, eager_tasks, django_capture_on_commit_callbacks, settings, monkeypatch
):
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        _add(client)
    link = _link(mailoutbox[0])
    later = default_token_generator._now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    monkeypatch.setattr(default_token_generator, "_now", lambda: later)

    page = Client().get(link, follow=True).text

    assert 'data-testid="link-invalid"' in page


def test_a_taken_user_name_or_a_missing_email_is_refused_on_the_form(client, admin, member):
    client.force_login(admin)

    taken = _add(client, username="MEMBER")
    no_mail = _add(client, email="")

    assert taken.status_code == 200 and "Someone already has this user name." in taken.text
    assert no_mail.status_code == 200 and not User.objects.filter(username="newbie").exists()


def test_a_new_link_is_sent_from_people_but_never_to_a_company_account(
    client, admin, mailoutbox, eager_tasks, django_capture_on_commit_callbacks
):
    local = UserFactory(username="local1", email="l@example.org")
    company = UserFactory(username="ldap1", email="c@example.org", directory_dn="uid=ldap1,ou=people,dc=x")
    local.last_login = None
    local.save()
    client.force_login(admin)
    page = client.get(reverse("people")).text
    assert 'data-testid="sign-in-link-local1"' in page and 'data-testid="sign-in-link-ldap1"' not in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("person-sign-in-link", args=[local.pk]))
        refused = client.post(reverse("person-sign-in-link", args=[company.pk]), follow=True)

    assert [m.to for m in mailoutbox] == [["l@example.org"]]
    assert "directory password" in refused.text


def test_person_add_matrix(people):
    check_matrix(
        people,
        "/people/add/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200},
    )
    check_matrix(
        people,
        "/people/add/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302},
        method="post",
        data={"username": "matrix1", "email": "m@example.org", "role": "developer"},
    )
    target = UserFactory(username="target1", email="t@example.org")
    check_matrix(
        people,
        f"/people/{target.pk}/sign-in-link/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302},
        method="post",
    )


def test_person_add_api_matrix_and_refusals(people, mailoutbox):
    check_matrix(
        people,
        "/api/v1/people/",
        {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 201},
        method="post",
        data={"username": "apinew", "email": "a@example.org", "role": "developer"},
        api=True,
    )
    assert User.objects.get(username="apinew").role == Role.DEVELOPER
    admin = Client()
    admin.force_login(people["admin"])
    taken = admin.post(
        "/api/v1/people/", {"username": "apinew", "email": "b@example.org"}, content_type="application/json"
    )
    assert taken.status_code == 400 and "username" in taken.json()
    target = User.objects.get(username="apinew")
    check_matrix(
        people,
        f"/api/v1/people/{target.pk}/sign-in-link/",
        {"anonymous": 401, "member": 404, "outsider": 404, "manager": 403, "admin": 202},
        method="post",
        api=True,
    )
