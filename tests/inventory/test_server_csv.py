"""Servers to and from CSV: an export never holds a secret; an import is validated row by row and column by
column, previewed, then applied all or nothing; a round trip changes nothing."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from inventory import services
from inventory.models import DataCenter, Server
from inventory.server_csv import (
    EXPORT_COLUMNS,
    servers_csv_export,
    servers_csv_import,
    servers_csv_plan,
    servers_csv_stage,
)
from portal.crypto import secret_decrypt
from portal.models import AuditEvent
from tests.factories import DataCenterFactory, ServerFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db

PASSWORD = 's3cret,with"quote'
NEW_PASSWORD = "n3w-p@ss word"


@pytest.fixture
def estate(db):
    """Servers with everything a cell can hold: commas, quotes, line breaks, formula-looking text."""
    dc1 = DataCenterFactory(code="dc1", name="Data center 1")
    DataCenterFactory(code="dc2", name="Data center 2")
    x1 = ServerFactory(
        name="X1",
        datacenter=dc1,
        vendor="Dell",
        model="R640",
        serial='SN, "one"',
        rack="R1",
        rack_unit=12,
        roles=["network", "compute"],
        hypervisor_hostname="x1",
        notes='line one\r\nline two, with "quotes"',
    )
    services.server_bmc_set(
        actor=None,
        server=x1,
        protocol="redfish",
        address="https://10.0.0.11",
        port=443,
        username="root",
        password=PASSWORD,
    )
    ServerFactory(name="P1", architecture="ppc64le", datacenter=dc1, notes='=HYPERLINK("http://evil")')
    ServerFactory(name="-dash", datacenter=dc1, notes="'=already quoted", rack_unit=None, roles=["outside"])
    ServerFactory(name="C1", datacenter=dc1, roles=["controller"], notes="@SUM(1)")
    return Server.objects.all()


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def snapshot() -> list[tuple]:
    return list(Server.objects.order_by("name").values_list())


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Export --------------------------------------------------------------------------------------------


def test_the_export_has_every_server_and_no_secret(admin, estate):
    text = servers_csv_export(user=admin)
    rows = rows_of(text)
    assert [r["name"] for r in rows] == ["'-dash", "C1", "P1", "X1"]  # see the next test
    assert tuple(rows[0]) == EXPORT_COLUMNS
    x1 = rows[3]
    assert (x1["datacenter"], x1["roles"], x1["rack_unit"]) == ("dc1", "network;compute", "12")
    assert (x1["bmc_protocol"], x1["bmc_address"], x1["bmc_port"], x1["bmc_username"]) == (
        "redfish",
        "https://10.0.0.11",
        "443",
        "root",
    )
    assert "bmc_password" not in text and PASSWORD not in text
    assert Server.objects.get(name="X1").bmc_password_encrypted not in text


def test_cells_a_spreadsheet_would_run_as_formulas_are_quoted(admin, estate):
    rows = {r["name"]: r for r in rows_of(servers_csv_export(user=admin))}
    assert rows["P1"]["notes"] == '\'=HYPERLINK("http://evil")'
    assert rows["C1"]["notes"] == "'@SUM(1)"
    assert "'-dash" in rows and rows["'-dash"]["notes"] == "''=already quoted"


def test_a_managers_export_leaves_out_the_bmc_username(manager, estate):
    rows = rows_of(servers_csv_export(user=manager))
    assert "bmc_username" not in rows[0] and rows[3]["bmc_address"] == "https://10.0.0.11"


def test_export_page_and_api_matrix(people, estate):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, "/inventory/servers/export.csv", expected)
    check_matrix(people, "/api/v1/servers/export/", {**expected, "anonymous": 401}, api=True)


def test_the_api_export_is_text_csv_also_when_asked_for(admin, estate):
    client = as_user(admin)
    for accept in ("*/*", "text/csv"):
        response = client.get("/api/v1/servers/export/", HTTP_ACCEPT=accept)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert len(rows_of(response.content.decode())) == 4


# Round trip ----------------------------------------------------------------------------------------


def test_export_then_import_changes_nothing(admin, estate):
    before = snapshot()
    text = servers_csv_export(user=admin)
    plan = servers_csv_import(actor=admin, text=text)
    assert plan.valid and plan.applied
    assert (plan.created, plan.updated, plan.unchanged) == (0, 0, 4)
    assert snapshot() == before
    assert not AuditEvent.objects.filter(actor=admin, action__in=["server.update", "server.bmc_set"]).exists()
    assert AuditEvent.objects.get(action="server.csv_import").detail == {
        "rows": 4,
        "created": 0,
        "updated": 0,
        "unchanged": 4,
    }


def test_a_managers_export_imported_by_an_admin_changes_nothing_either(admin, manager, estate):
    before = snapshot()
    plan = servers_csv_import(actor=admin, text=servers_csv_export(user=manager))
    assert (plan.applied, plan.unchanged) == (True, 4)
    assert snapshot() == before


# Import --------------------------------------------------------------------------------------------

HEADER = (
    "name,architecture,datacenter,roles,hypervisor_hostname,rack_unit,"
    "bmc_protocol,bmc_address,bmc_port,bmc_username,bmc_password\r\n"
)


def test_an_import_creates_and_updates_by_name_and_encrypts_the_password(admin, estate):
    text = HEADER + (
        f'N1,x86_64,dc2,compute,n1,7,ipmi,10.0.0.7,623,ADMIN,"{NEW_PASSWORD}"\r\n'
        "P1,ppc64le,dc2,outside,,,,,,,\r\n"
    )
    preview = servers_csv_import(actor=admin, text=text, dry_run=True)
    assert preview.valid and not preview.applied
    assert (preview.created, preview.updated) == (1, 1)
    assert preview.rows[1].changes["datacenter"] == ("dc1", "dc2")
    assert Server.objects.filter(name="N1").count() == 0

    plan = servers_csv_import(actor=admin, text=text)
    assert plan.applied
    n1 = Server.objects.get(name="N1")
    assert (n1.datacenter.code, n1.roles, n1.rack_unit, n1.bmc_port) == ("dc2", ["compute"], 7, 623)
    assert secret_decrypt(n1.bmc_password_encrypted) == NEW_PASSWORD
    assert Server.objects.get(name="P1").datacenter.code == "dc2"
    for event in AuditEvent.objects.all():
        assert NEW_PASSWORD not in str(event.detail)


def test_a_column_left_out_is_left_alone_and_an_empty_cell_empties(admin, estate):
    servers_csv_import(actor=admin, text="name,notes\r\nX1,\r\n")
    x1 = Server.objects.get(name="X1")
    assert x1.notes == "" and x1.serial == 'SN, "one"' and x1.bmc_protocol == "redfish"
    assert secret_decrypt(x1.bmc_password_encrypted) == PASSWORD


def test_a_blank_password_cell_keeps_the_stored_password(admin, estate):
    plan = servers_csv_import(actor=admin, text="name,bmc_port,bmc_password\r\nX1,8443,\r\n")
    assert plan.applied and plan.rows[0].changes == {"bmc_port": ("443", "8443")}
    assert secret_decrypt(Server.objects.get(name="X1").bmc_password_encrypted) == PASSWORD


def test_every_bad_cell_is_reported_by_row_and_column_and_nothing_is_written(admin, estate):
    before = snapshot()
    text = HEADER + (
        "N1,sparc,dc9,compute;boss,,x,ipmi,,70000,,\r\n"  # row 2
        "N2,x86_64,dc1,,,,,,,,only-a-password\r\n"  # row 3
        "N3,x86_64,dc1,compute,,,,,,,\r\n"  # row 4: compute without hypervisor
        ",x86_64,dc1,,,,,,,,\r\n"  # row 5
        "N1,x86_64,dc1,,,,,,,,\r\n"  # row 6: N1 again
        "N4,x86_64,dc1,outside,,,,,,,\r\n"  # row 7: fine
    )
    plan = servers_csv_import(actor=admin, text=text)
    assert not plan.valid and not plan.applied
    errors = {row.row: row.errors for row in plan.rows}
    assert set(errors[2]) == {"architecture", "datacenter", "roles", "rack_unit", "bmc_port", "bmc_address"}
    assert "dc9" in errors[2]["datacenter"][0]
    assert set(errors[3]) == {"bmc_password"}
    assert set(errors[4]) == {"hypervisor_hostname"}
    assert set(errors[5]) == {"name"}
    assert errors[6] == {"name": ["This name is already on row 2."]}
    assert errors[7] == {}
    assert plan.invalid_rows == 5
    assert snapshot() == before
    assert "only-a-password" not in repr(plan)
    assert not AuditEvent.objects.filter(action="server.csv_import").exists()


def test_file_level_problems_are_reported_before_any_row(admin, estate):
    assert servers_csv_plan(user=admin, text="").errors
    plan = servers_csv_plan(user=admin, text="name,colour\r\nX1,red\r\n")
    assert plan.errors and "colour" in plan.errors[0] and not plan.rows
    assert "name" in servers_csv_plan(user=admin, text="architecture\r\nx86_64\r\n").errors[0]
    assert servers_csv_plan(user=admin, text='name\r\n"unclosed\r\n').errors


def test_a_new_server_needs_architecture_and_datacenter_columns(admin, estate):
    plan = servers_csv_plan(user=admin, text="name,notes\r\nNEW,hello\r\n")
    assert set(plan.rows[0].errors) == {"architecture", "datacenter"}
    assert servers_csv_plan(user=admin, text="name,notes\r\nX1,hello\r\n").valid


def test_the_preview_costs_the_same_queries_for_5_or_50_rows(admin, estate, django_assert_max_num_queries):
    def csv_of(count: int) -> str:
        return "name,architecture,datacenter\r\n" + "".join(f"S{i},x86_64,dc1\r\n" for i in range(count))

    with django_assert_max_num_queries(10) as few:
        servers_csv_plan(user=admin, text=csv_of(5))
    with django_assert_max_num_queries(len(few.captured_queries)):
        servers_csv_plan(user=admin, text=csv_of(50))


# Pages ---------------------------------------------------------------------------------------------


def upload(client: Client, text: str):
    return client.post(
        "/inventory/servers/import/",
        {"file": SimpleUploadedFile("servers.csv", text.encode("utf-8-sig"), content_type="text/csv")},
    )


def test_import_page_matrix(people, estate):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
    check_matrix(people, "/inventory/servers/import/", expected)
    check_matrix(people, "/inventory/servers/import/", {**expected, "admin": 400}, method="post", data={})


def test_the_page_previews_then_applies_and_never_shows_the_password(admin, estate, clean_cache):
    client = as_user(admin)
    text = HEADER + f'N1,x86_64,dc2,compute,n1,7,ipmi,10.0.0.7,623,ADMIN,"{NEW_PASSWORD}"\r\n'
    preview = upload(client, text)
    page = preview.content.decode()
    assert preview.status_code == 200 and 'data-testid="import-apply"' in page
    assert NEW_PASSWORD not in page and "(new password)" in page
    assert not Server.objects.filter(name="N1").exists()
    token = preview.context["token"]
    applied = client.post("/inventory/servers/import/", {"token": token})
    assert applied.status_code == 302
    assert Server.objects.filter(name="N1").exists()
    follow = client.get("/inventory/servers/")
    assert "Import applied: 1 created, 0 updated, 0 unchanged." in follow.content.decode()
    again = client.post("/inventory/servers/import/", {"token": token})
    assert again.status_code == 400 and "upload the file again" in again.content.decode()


def test_the_page_shows_errors_per_row_and_column_and_offers_no_apply(admin, estate, clean_cache):
    response = upload(as_user(admin), HEADER + "N1,sparc,dc1,,,,,,,,hidden-pw\r\n")
    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-row="2"' in page and 'data-error-column="architecture"' in page
    assert 'data-testid="import-apply"' not in page and "hidden-pw" not in page


def test_a_preview_is_applied_only_by_whoever_uploaded_it(admin, estate, clean_cache):
    from tests.factories import UserFactory

    other_admin = UserFactory(username="admin2", role="admin")
    token = servers_csv_stage(actor=admin, text="name,notes\r\nX1,changed\r\n")
    response = as_user(other_admin).post("/inventory/servers/import/", {"token": token})
    assert response.status_code == 400
    assert Server.objects.get(name="X1").notes != "changed"


def test_the_file_is_checked_again_when_applied(admin, estate, clean_cache):
    client = as_user(admin)
    preview = upload(client, "name,architecture,datacenter\r\nN1,x86_64,dc2\r\n")
    assert preview.status_code == 200
    services.datacenter_delete(actor=admin, datacenter=DataCenter.objects.get(code="dc2"))
    applied = client.post("/inventory/servers/import/", {"token": preview.context["token"]})
    assert applied.status_code == 409 and "dc2" in applied.content.decode()
    assert not Server.objects.filter(name="N1").exists()


def test_a_file_that_is_not_utf8_is_refused_with_a_reason(admin, estate):
    response = as_user(admin).post(
        "/inventory/servers/import/", {"file": SimpleUploadedFile("s.csv", "name\r\nÄ\r\n".encode("utf-16"))}
    )
    assert response.status_code == 400 and "not UTF-8" in response.content.decode()


# API -----------------------------------------------------------------------------------------------


def test_import_api_matrix(people, estate):
    expected = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
    data = {"csv": "name,notes\r\nX1,matrix\r\n", "dry_run": True}
    check_matrix(people, "/api/v1/servers/import/", expected, method="post", data=data, api=True)
    assert Server.objects.get(name="X1").notes != "matrix"


def test_the_api_previews_with_dry_run_and_applies_without(admin, estate):
    client = as_user(admin)
    text = HEADER + f'N1,x86_64,dc2,compute,n1,7,ipmi,10.0.0.7,623,ADMIN,"{NEW_PASSWORD}"\r\n'
    preview = client.post(
        "/api/v1/servers/import/", {"csv": text, "dry_run": True}, content_type="application/json"
    )
    body = preview.json()
    assert preview.status_code == 200 and (body["dry_run"], body["applied"], body["created"]) == (
        True,
        False,
        1,
    )
    assert body["rows"][0]["changes"]["bmc_password"] == {"before": "", "after": "(new password)"}
    assert NEW_PASSWORD not in preview.content.decode()
    assert not Server.objects.filter(name="N1").exists()
    applied = client.post(
        "/api/v1/servers/import/?dry_run=false", data=text.encode(), content_type="text/csv"
    )
    assert applied.status_code == 200 and applied.json()["applied"] is True
    assert Server.objects.filter(name="N1").exists()


def test_the_api_takes_a_file_upload_and_answers_400_with_row_errors(admin, estate):
    response = as_user(admin).post(
        "/api/v1/servers/import/",
        {"file": SimpleUploadedFile("s.csv", (HEADER + "N1,sparc,dc1,,,,,,,,pw-x\r\n").encode())},
    )
    body = response.json()
    assert response.status_code == 400 and body["applied"] is False and body["invalid"] == 1
    assert body["rows"][0]["row"] == 2 and "architecture" in body["rows"][0]["errors"]
    assert "pw-x" not in response.content.decode()


def test_the_api_round_trip_changes_nothing(admin, estate):
    client = as_user(admin)
    before = snapshot()
    exported = client.get("/api/v1/servers/export/").content.decode()
    response = client.post("/api/v1/servers/import/", data=exported.encode(), content_type="text/csv")
    assert response.status_code == 200
    assert (response.json()["unchanged"], response.json()["rows"]) == (4, [])
    assert snapshot() == before


def test_the_certificate_check_is_a_bmc_column_too(admin, estate):
    assert servers_csv_import(actor=admin, text="name,bmc_tls_verify\r\nX1,verify\r\n").applied
    assert Server.objects.get(name="X1").bmc_tls_verify == "verify"
    assert rows_of(servers_csv_export(user=admin))[3]["bmc_tls_verify"] == "verify"
    plan = servers_csv_plan(user=admin, text="name,bmc_tls_verify\r\nX1,always\r\n")
    assert set(plan.rows[0].errors) == {"bmc_tls_verify"}
