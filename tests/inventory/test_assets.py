"""Servers' records and data centers: admins create, edit and delete them (pages and API), managers read,
developers see nothing; a server in use (open power action, drain) or a data center with servers is not
deleted, and the refusal says why."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from inventory import services
from inventory.models import DataCenter, PowerRequest, Server
from inventory.services import AssetRefused
from portal.models import AuditEvent
from tests.factories import DataCenterFactory, PowerRequestFactory, ServerDrainFactory, ServerFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db

PASSWORD = "bmc-secret-of-a1"


@pytest.fixture
def dc1(db):
    return DataCenterFactory(code="dc1", name="Data center 1")


@pytest.fixture
def dc2(db):
    return DataCenterFactory(code="dc2", name="Data center 2")


@pytest.fixture
def a1(dc1):
    server = ServerFactory(name="A1", datacenter=dc1, serial="SN-1", roles=["outside"])
    return services.server_bmc_set(
        actor=None,
        server=server,
        protocol="ipmi",
        address="10.9.9.9",
        port=623,
        username="bmc-user-a1",
        password=PASSWORD,
    )


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


FORM = {
    "name": "N1",
    "architecture": "ppc64le",
    "vendor": "IBM",
    "model": "S922",
    "serial": "78-ABC",
    "rack": "R12",
    "rack_unit": "20",
    "roles": ["compute", "network"],
    "hypervisor_hostname": "p9",
    "notes": "bought 2021",
}


# Services ------------------------------------------------------------------------------------------


def test_an_admin_creates_a_server_and_the_audit_names_the_fields(admin, dc1):
    services.server_create(
        actor=admin,
        fields={
            "name": "N1",
            "architecture": "x86_64",
            "datacenter": dc1,
            "roles": ["compute", "network"],
            "hypervisor_hostname": "n1",
        },
    )
    assert Server.objects.get(name="N1").roles == ["network", "compute"]
    event = AuditEvent.objects.get(action="server.create", actor=admin)
    assert event.detail["fields"] == ["architecture", "datacenter", "hypervisor_hostname", "name", "roles"]


def test_roles_are_kept_in_one_order_so_a_reordering_is_no_change(admin, dc1):
    server = services.server_create(
        actor=admin,
        fields={
            "name": "N1",
            "architecture": "x86_64",
            "datacenter": dc1,
            "roles": ["network", "controller"],
        },
    )
    assert server.roles == ["controller", "network"]
    services.server_update(actor=admin, server=server, fields={"roles": ["network", "controller"]})
    assert not AuditEvent.objects.filter(action="server.update").exists()


def test_a_compute_server_without_hypervisor_name_is_refused_field_by_field(admin, dc1):
    with pytest.raises(ValidationError) as error:
        services.server_create(
            actor=admin,
            fields={"name": "N1", "architecture": "x86_64", "datacenter": dc1, "roles": ["compute"]},
        )
    assert "hypervisor_hostname" in error.value.message_dict
    assert not Server.objects.filter(name="N1").exists()


def test_managers_and_developers_may_not_change_assets(manager, member, a1, dc1):
    for user in (manager, member):
        with pytest.raises(PermissionDenied):
            services.server_create(
                actor=user, fields={"name": "N", "architecture": "x86_64", "datacenter": dc1}
            )
        with pytest.raises(PermissionDenied):
            services.server_update(actor=user, server=a1, fields={"notes": "x"})
        with pytest.raises(PermissionDenied):
            services.server_delete(actor=user, server=a1)
        with pytest.raises(PermissionDenied):
            services.datacenter_delete(actor=user, datacenter=dc1)
    assert Server.objects.filter(name="A1", notes="").exists()


def test_an_update_writes_and_audits_only_what_changed(admin, a1, dc2):
    services.server_update(actor=admin, server=a1, fields={"serial": "SN-1", "datacenter": dc2, "rack": "R1"})
    a1.refresh_from_db()
    assert (a1.datacenter, a1.rack) == (dc2, "R1")
    assert AuditEvent.objects.get(action="server.update").detail == {"fields": ["datacenter", "rack"]}


def test_a_server_with_an_open_power_action_is_not_deleted(admin, a1):
    PowerRequestFactory(server=a1, action="cycle", requested_by=admin, status="running")
    with pytest.raises(AssetRefused, match="open power action"):
        services.server_delete(actor=admin, server=a1)
    assert Server.objects.filter(pk=a1.pk).exists()
    event = AuditEvent.objects.get(action="server.delete")
    assert event.outcome == AuditEvent.Outcome.DENIED and "open power action" in event.detail["refused"]


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("requested", "drain in progress"),
        ("undraining", "drain in progress"),
        ("drained", "Undrain it first"),
    ],
)
def test_a_server_being_drained_or_drained_is_not_deleted(admin, a1, status, says):
    ServerDrainFactory(server=a1, status=status, requested_by=admin)
    with pytest.raises(AssetRefused, match=says):
        services.server_delete(actor=admin, server=a1)


def test_a_server_whose_actions_are_finished_is_deleted_with_its_history(admin, a1):
    PowerRequestFactory(server=a1, requested_by=admin, status="done")
    ServerDrainFactory(server=a1, status="undrained", requested_by=admin)
    services.server_delete(actor=admin, server=a1)
    assert not Server.objects.filter(name="A1").exists()
    assert not PowerRequest.objects.exists()
    event = AuditEvent.objects.get(action="server.delete", outcome="success")
    assert event.detail == {"name": "A1", "serial": "SN-1", "datacenter": "dc1"}
    assert PASSWORD not in str(event.detail)


def test_a_data_center_with_servers_is_not_deleted_and_an_empty_one_is(admin, a1, dc1, dc2):
    with pytest.raises(AssetRefused, match="1 server stands in Data center 1"):
        services.datacenter_delete(actor=admin, datacenter=dc1)
    services.datacenter_delete(actor=admin, datacenter=dc2)
    assert list(DataCenter.objects.values_list("code", flat=True)) == ["dc1"]


def test_data_center_codes_are_unique_slugs(admin, dc1):
    with pytest.raises(ValidationError) as error:
        services.datacenter_create(actor=admin, code="dc1", name="Again")
    assert "code" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.datacenter_create(actor=admin, code="no spaces", name="X")
    assert "code" in error.value.message_dict


# Pages ---------------------------------------------------------------------------------------------


def test_server_create_page_matrix(people, dc1):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
    check_matrix(people, "/inventory/servers/new/", expected)
    data = {**FORM, "datacenter": dc1.pk}
    check_matrix(people, "/inventory/servers/new/", {**expected, "admin": 302}, method="post", data=data)
    assert Server.objects.get(name="N1").roles == ["network", "compute"]  # ServerRole's order


def test_server_edit_page_matrix(people, a1):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
    check_matrix(people, f"/inventory/servers/{a1.pk}/edit/", expected)
    data = {**FORM, "name": "A1", "datacenter": a1.datacenter_id}
    check_matrix(
        people, f"/inventory/servers/{a1.pk}/edit/", {**expected, "admin": 302}, method="post", data=data
    )


def test_server_delete_page_matrix(people, a1):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
    check_matrix(people, f"/inventory/servers/{a1.pk}/delete/", expected)
    check_matrix(
        people,
        f"/inventory/servers/{a1.pk}/delete/",
        {**expected, "admin": 302},
        method="post",
        data={"confirm_name": "A1"},
    )
    assert not Server.objects.filter(pk=a1.pk).exists()


def test_datacenter_pages_matrix(people, dc1, dc2):
    read = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    change = {**read, "manager": 403}
    check_matrix(people, "/inventory/datacenters/", read)
    check_matrix(people, "/inventory/datacenters/new/", change)
    check_matrix(people, f"/inventory/datacenters/{dc1.pk}/edit/", change)
    check_matrix(people, f"/inventory/datacenters/{dc1.pk}/delete/", change)
    check_matrix(
        people,
        "/inventory/datacenters/new/",
        {**change, "admin": 302},
        method="post",
        data={"code": "dc3", "name": "Three"},
    )
    check_matrix(
        people,
        f"/inventory/datacenters/{dc2.pk}/delete/",
        {**change, "admin": 302},
        method="post",
        data={"confirm_name": "Data center 2"},
    )
    assert sorted(DataCenter.objects.values_list("code", flat=True)) == ["dc1", "dc3"]


def test_the_server_form_shows_each_error_at_its_field(admin, a1, dc1):
    response = as_user(admin).post(
        "/inventory/servers/new/",
        {
            **FORM,
            "name": "A1",
            "datacenter": dc1.pk,
            "rack_unit": "-3",
            "hypervisor_hostname": "",
            "roles": ["compute"],
            "architecture": "sparc",
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) >= {"name", "rack_unit", "architecture"}
    page = response.content.decode()
    assert 'data-error-for="name"' in page and 'data-error-for="rack_unit"' in page
    assert Server.objects.count() == 1


def test_a_model_rule_from_the_service_lands_on_its_field(admin, dc1):
    response = as_user(admin).post(
        "/inventory/servers/new/",
        {**FORM, "datacenter": dc1.pk, "roles": ["compute"], "hypervisor_hostname": ""},
    )
    assert response.status_code == 200
    assert (
        "A compute server needs its hypervisor host name."
        in response.context["form"].errors["hypervisor_hostname"]
    )


def test_an_admin_edits_a_server_without_touching_its_bmc(admin, a1, dc2):
    response = as_user(admin).post(
        f"/inventory/servers/{a1.pk}/edit/", {**FORM, "name": "A1-renamed", "datacenter": dc2.pk}
    )
    assert response.status_code == 302
    a1.refresh_from_db()
    assert (a1.name, a1.datacenter, a1.rack_unit, a1.roles) == ("A1-renamed", dc2, 20, ["network", "compute"])
    assert (a1.bmc_protocol, a1.bmc_username) == ("ipmi", "bmc-user-a1")
    from portal.crypto import secret_decrypt

    assert secret_decrypt(a1.bmc_password_encrypted) == PASSWORD


def test_the_edit_page_never_shows_bmc_secrets(admin, a1):
    page = as_user(admin).get(f"/inventory/servers/{a1.pk}/edit/").content.decode()
    assert PASSWORD not in page and a1.bmc_password_encrypted not in page and "bmc-user-a1" not in page


def test_delete_needs_the_name_typed(admin, a1):
    response = as_user(admin).post(f"/inventory/servers/{a1.pk}/delete/", {"confirm_name": "a1"})
    assert response.status_code == 400
    assert "Type A1 exactly to confirm." in response.content.decode()
    assert Server.objects.filter(pk=a1.pk).exists()


def test_the_delete_page_says_why_a_server_in_use_cannot_go(admin, a1):
    PowerRequestFactory(server=a1, requested_by=admin, status="queued")
    client = as_user(admin)
    page = client.get(f"/inventory/servers/{a1.pk}/delete/").content.decode()
    assert 'data-testid="delete-refusal"' in page and "open power action" in page
    assert 'data-testid="delete-form"' not in page
    response = client.post(f"/inventory/servers/{a1.pk}/delete/", {"confirm_name": "A1"})
    assert response.status_code == 409
    assert Server.objects.filter(pk=a1.pk).exists()


def test_edit_links_are_shown_to_admins_only(manager, admin, a1):
    for user, shown in ((manager, False), (admin, True)):
        client = as_user(user)
        assert (
            'data-testid="server-admin-links"' in client.get(f"/inventory/servers/{a1.pk}/").text
        ) is shown
        assert ('data-testid="server-create"' in client.get("/inventory/servers/").text) is shown
        assert ('data-testid="datacenter-create"' in client.get("/inventory/datacenters/").text) is shown


# API -----------------------------------------------------------------------------------------------

API_SERVER = {
    "name": "N1",
    "architecture": "x86_64",
    "datacenter": "dc1",
    "roles": ["compute"],
    "hypervisor_hostname": "n1",
    "rack": "R1",
    "rack_unit": 4,
}


def test_server_api_write_matrix(people, a1, dc1):
    write = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 201}
    check_matrix(people, "/api/v1/servers/", write, method="post", data=API_SERVER, api=True)
    detail = {"anonymous": 401, "member": 404, "outsider": 404, "manager": 403, "admin": 200}
    check_matrix(people, f"/api/v1/servers/{a1.pk}/", detail, method="patch", data={"notes": "n"}, api=True)
    check_matrix(
        people,
        f"/api/v1/servers/{a1.pk}/",
        detail,
        method="put",
        data={**API_SERVER, "name": "A1", "roles": []},
        api=True,
    )
    check_matrix(people, f"/api/v1/servers/{a1.pk}/", {**detail, "admin": 204}, method="delete", api=True)


def test_the_api_creates_and_patches_a_server_and_returns_no_secret(admin, a1, dc1, dc2):
    client = as_user(admin)
    created = client.post("/api/v1/servers/", API_SERVER, content_type="application/json")
    assert created.status_code == 201
    assert created.json()["datacenter"] == "dc1" and created.json()["rack_unit"] == 4
    patched = client.patch(
        f"/api/v1/servers/{a1.pk}/", {"datacenter": "dc2"}, content_type="application/json"
    )
    assert patched.status_code == 200 and patched.json()["datacenter"] == "dc2"
    assert PASSWORD not in patched.content.decode() and "bmc-user-a1" not in patched.content.decode()
    a1.refresh_from_db()
    assert (a1.datacenter, a1.serial) == (dc2, "SN-1")


def test_api_errors_are_per_field(admin, a1, dc1):
    client = as_user(admin)
    bad = client.post(
        "/api/v1/servers/",
        {**API_SERVER, "datacenter": "nowhere", "roles": ["boss"]},
        content_type="application/json",
    )
    assert bad.status_code == 400 and set(bad.json()) == {"datacenter", "roles"}
    taken = client.post("/api/v1/servers/", {**API_SERVER, "name": "A1"}, content_type="application/json")
    assert taken.status_code == 400 and "name" in taken.json()
    rule = client.post(
        "/api/v1/servers/", {**API_SERVER, "hypervisor_hostname": ""}, content_type="application/json"
    )
    assert rule.status_code == 400 and "hypervisor_hostname" in rule.json()


def test_api_delete_of_a_server_in_use_is_a_409_with_the_reason(admin, a1):
    PowerRequestFactory(server=a1, requested_by=admin, status="awaiting_confirmation")
    response = as_user(admin).delete(f"/api/v1/servers/{a1.pk}/")
    assert response.status_code == 409 and "open power action" in response.json()["detail"]


def test_datacenter_api_matrix(people, dc1, dc2):
    read = {"anonymous": 401, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, "/api/v1/datacenters/", read, api=True)
    detail = {"anonymous": 401, "member": 404, "outsider": 404, "manager": 200, "admin": 200}
    check_matrix(people, "/api/v1/datacenters/dc1/", detail, api=True)
    write = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 201}
    check_matrix(
        people, "/api/v1/datacenters/", write, method="post", data={"code": "dc3", "name": "3"}, api=True
    )
    change = {**detail, "manager": 403}
    check_matrix(people, "/api/v1/datacenters/dc1/", change, method="patch", data={"name": "One"}, api=True)
    check_matrix(people, "/api/v1/datacenters/dc2/", {**change, "admin": 204}, method="delete", api=True)


def test_developers_see_no_data_center_and_no_server(member, a1):
    client = as_user(member)
    assert client.get("/api/v1/datacenters/").json()["results"] == []
    assert client.get("/api/v1/servers/").json()["results"] == []


def test_the_datacenter_api_counts_servers_and_refuses_deleting_a_used_one(admin, a1, dc1):
    client = as_user(admin)
    assert client.get("/api/v1/datacenters/dc1/").json() == {
        "code": "dc1",
        "name": "Data center 1",
        "server_count": 1,
    }
    response = client.delete("/api/v1/datacenters/dc1/")
    assert response.status_code == 409 and "move it to another data center" in response.json()["detail"]
