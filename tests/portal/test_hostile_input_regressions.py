"""The server errors the hostile-input property tests found on the HTML side, one test per class, each
with the value that found it: what the page answers now."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from inventory.models import Server
from inventory.services import bmc_password_matches
from portal.inputs import INTEGER_MAX, object_id
from portal.models import AuditEvent
from quotas.models import QuotaRequest, QuotaRule
from tests.factories import ServerFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client(raise_request_exception=True)  # a server error fails the test with its traceback
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "value", ["abc", "²", "١٢", "-1", " 7", "7\n", "1e9", "1" * 5000, "9" * 19, "\x00", "", None, 7]
)
def test_object_id_takes_only_ascii_digits_that_fit(value):
    assert object_id(value) is None


def test_object_id_reads_ids():
    assert object_id("42") == 42 and object_id("9" * 18) == 10**18 - 1


@pytest.mark.parametrize("odd", ["abc", "²", "1" * 5000, "-1", "%ED%A0%80", "9" * 30])
def test_the_vm_form_and_its_preview_ignore_ids_that_are_not_ids(member, fake_cloud, odd):
    client = client_for(member)
    query = {"team": odd, "architecture": "x86_64", "image": odd, "flavor": odd, "profile": odd}
    page = client.get(reverse("provisioning:vm-request"), query, headers={"HX-Request": "true"})
    assert page.status_code == 200
    preview = client.post(reverse("provisioning:vm-preview"), {**query, "name": "web2"})
    assert preview.status_code == 200
    assert "Choose an architecture, an image and a name first." in preview.content.decode()


def test_a_nul_in_a_query_string_is_a_400_that_says_so(member):
    response = client_for(member).get(reverse("provisioning:vm-request"), {"architecture": "x86\x00"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_people_refuses_a_person_that_is_not_an_id(admin, member):
    response = client_for(admin).post(reverse("people"), {"user": "²", "role": "manager"})
    assert response.status_code == 404
    member.refresh_from_db()
    assert member.role == "developer"


@pytest.mark.parametrize("days", ["1000000000", "9" * 40, "-5", "abc", "\x00"])
def test_a_lease_extended_by_absurd_days_is_refused_with_a_message(member, vm, days):
    before = vm.expires_at
    response = client_for(member).post(
        reverse("provisioning:vm-extend", args=[vm.pk]), {"days": days}, follow=True
    )
    assert response.status_code == 200
    vm.refresh_from_db()
    assert vm.expires_at == before
    page = response.content.decode()
    assert "flash-error" in page


def test_a_lease_past_the_limit_says_the_limit(member, vm, settings):
    response = client_for(member).post(
        reverse("provisioning:vm-extend", args=[vm.pk]), {"days": "91"}, follow=True
    )
    assert f"at most {settings.KENNEL_VM_LEASE_MAX_DAYS} days" in response.content.decode()


def test_quota_values_past_any_integer_are_form_errors(lead_member, team, synced):
    url = reverse("quotas:request-create", args=[team.slug])
    response = client_for(lead_member).post(url, {"dim_cores": str(INTEGER_MAX + 1), "reason": "CI"})
    assert response.status_code == 200
    assert "less than or equal to" in response.content.decode()
    assert not QuotaRequest.objects.exists()


@pytest.mark.parametrize("act,field", [("reject", "reason"), ("ask", "question"), ("approve", "comment")])
def test_a_nul_in_a_decision_text_is_refused_with_a_message(admin, pending, act, field):
    url = reverse("quotas:request-act", args=[pending.pk, act])
    response = client_for(admin).post(url, {field: "no\x00pe", "dim_cores": "80"}, follow=True)
    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == QuotaRequest.Status.PENDING


def test_deleting_a_rule_by_an_odd_key_changes_nothing(admin):
    QuotaRule.objects.create(key="cores", ceiling=100)
    for key in ("cores\x00", "²", "x" * 5000):
        assert client_for(admin).post(reverse("quotas:rules"), {"delete": key}).status_code == 302
    assert QuotaRule.objects.filter(key="cores").exists()


@pytest.mark.parametrize("field", ["min_disk_gb", "min_ram_mb"])
def test_image_properties_past_any_integer_are_refused(admin, field):
    from catalog.forms import ImagePropertiesForm

    form = ImagePropertiesForm({"min_disk_gb": "1", "min_ram_mb": "1", field: str(INTEGER_MAX + 1)})
    assert not form.is_valid() and field in form.errors


def test_a_non_ascii_bmc_password_is_stored_and_replaced_through_the_form(admin):
    server = ServerFactory(name="U1")
    url = reverse("inventory:server-bmc-edit", args=[server.pk])
    fields = {"protocol": "redfish", "address": "127.0.0.1", "port": "8000", "username": "root"}
    client = client_for(admin)
    for password in ("pässwörd-密码", "плохой-пароль", "ascii-again"):
        response = client.post(url, {**fields, "password": password, "tls_verify": ""})
        assert response.status_code == 302, response.content.decode()[:500]
        assert bmc_password_matches(Server.objects.get(pk=server.pk), password)


def test_a_csv_import_that_is_not_utf8_is_a_form_error(admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("s.csv", "name,architecture\nÄ1,x86_64\n".encode("latin-1"), "text/csv")
    response = client_for(admin).post(reverse("inventory:server-import"), {"file": upload})
    assert response.status_code == 400
    assert "not UTF-8" in response.content.decode()
    assert not Server.objects.exists()


def test_a_sign_in_with_a_very_long_name_is_refused_by_the_form(db):
    response = Client(raise_request_exception=True).post(
        reverse("login"), {"username": "1" * 5000, "password": "x"}
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()


def test_a_failed_sign_in_audits_the_name_within_the_logs_bounds(db):
    Client(raise_request_exception=True).post(reverse("login"), {"username": "n" * 150, "password": "x"})
    event = AuditEvent.objects.get(action="auth.login")
    assert event.outcome == AuditEvent.Outcome.FAILURE and len(event.actor_name) == 150
