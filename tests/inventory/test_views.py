"""The server pages and API: the permission matrix, and BMC secrets never leave the server."""

from __future__ import annotations

import pytest
from django.test import Client

from inventory import services
from inventory.models import HardwareState, Server
from portal.models import AuditEvent
from tests.factories import HardwareStateFactory, ServerFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db

PASSWORD = "bmc-pw-never-shown"


@pytest.fixture
def server(db):
    server = services.server_bmc_set(
        actor=None,
        server=ServerFactory(name="X9"),
        protocol="ipmi",
        address="10.1.2.3",
        port=623,
        username="bmc-user-x9",
        password=PASSWORD,
    )
    HardwareStateFactory(
        server=server,
        sensors=[{"name": "CPU1 Temp", "kind": "temperature", "value": 52.0, "health": "ok"}],
        max_temperature_c=52.0,
        power_watts=236.0,
    )
    return server


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_no_secret(content: bytes, server: Server) -> None:
    text = content.decode()
    assert PASSWORD not in text
    assert server.bmc_password_encrypted not in text


def test_server_list_matrix(people, server):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, "/inventory/servers/", expected)


def test_server_detail_matrix(people, server):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, f"/inventory/servers/{server.pk}/", expected)


def test_bmc_edit_matrix(people, server):
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
    check_matrix(people, f"/inventory/servers/{server.pk}/bmc/", expected)
    data = {"protocol": "ipmi", "address": "10.1.2.4", "port": 623, "username": "u", "password": ""}
    check_matrix(
        people, f"/inventory/servers/{server.pk}/bmc/", {**expected, "admin": 302}, method="post", data=data
    )


def test_server_api_matrix(people, server):
    expected = {"anonymous": 401, "member": 404, "outsider": 404, "manager": 200, "admin": 200}
    check_matrix(people, f"/api/v1/servers/{server.pk}/", expected, api=True)


def test_server_list_shows_power_health_temperature_draw_and_last_seen(manager, server):
    response = as_user(manager).get("/inventory/servers/")
    row = response.content.decode().split('data-server="X9"')[1].split("</tr>")[0]
    assert "On" in row and "OK" in row and "52 °C" in row and "236 W" in row and "<time" in row
    assert_no_secret(response.content, server)


def test_the_list_refreshes_through_its_own_htmx_partial(manager, server):
    response = as_user(manager).get("/inventory/servers/?q=X", HTTP_HX_REQUEST="true")
    assert response.templates[0].name == "inventory/_server_table.html"
    assert 'hx-trigger="every 30s"' in response.content.decode()


def test_an_unreachable_bmc_shows_unreachable_and_when_it_was_last_seen(manager, server):
    HardwareState.objects.filter(server=server).update(
        reachable=False, power_state="unknown", health="unknown", error="The BMC did not answer."
    )
    response = as_user(manager).get(f"/inventory/servers/{server.pk}/")
    text = response.content.decode()
    assert "Unreachable" in text and "The BMC did not answer." in text and "Last seen" in text


def test_no_page_or_api_response_contains_the_bmc_password_or_username(admin, server):
    client = as_user(admin)
    for url in (
        "/inventory/servers/",
        f"/inventory/servers/{server.pk}/",
        f"/inventory/servers/{server.pk}/bmc/",
    ):
        assert_no_secret(client.get(url).content, server)
    for url in ("/api/v1/servers/", f"/api/v1/servers/{server.pk}/"):
        response = client.get(url)
        assert_no_secret(response.content, server)
        assert "bmc-user-x9" not in response.content.decode()


def test_the_api_gives_managers_the_bmc_location_and_hardware_state(manager, server):
    body = as_user(manager).get(f"/api/v1/servers/{server.pk}/").json()
    assert body["bmc"] == {"protocol": "ipmi", "address": "10.1.2.3", "port": 623, "tls_verify": ""}
    assert body["hardware"]["power_state"] == "on"
    assert body["hardware"]["power_watts"] == 236.0
    assert body["hardware"]["sensors"][0]["name"] == "CPU1 Temp"


def test_an_admin_changes_the_bmc_and_a_blank_password_keeps_the_old_one(admin, server):
    response = as_user(admin).post(
        f"/inventory/servers/{server.pk}/bmc/",
        {"protocol": "redfish", "address": "10.0.0.19", "port": 443, "username": "root", "password": ""},
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert (server.bmc_protocol, server.bmc_address, server.bmc_port) == ("redfish", "10.0.0.19", 443)
    from portal.crypto import secret_decrypt

    assert secret_decrypt(server.bmc_password_encrypted) == PASSWORD
    event = AuditEvent.objects.filter(action="server.bmc_set", actor=admin).get()
    assert event.source.startswith("web ")
    assert "bmc_password" not in event.detail["fields"]


def test_an_admin_turns_on_certificate_checking_for_a_redfish_bmc(admin, server):
    response = as_user(admin).post(
        f"/inventory/servers/{server.pk}/bmc/",
        {
            "protocol": "redfish",
            "address": "10.0.0.19",
            "port": 443,
            "username": "root",
            "tls_verify": "verify",
        },
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert server.bmc_tls_verify == "verify"
    assert "Verify the certificate" in as_user(admin).get(f"/inventory/servers/{server.pk}/").text
    event = AuditEvent.objects.filter(action="server.bmc_set", actor=admin).get()
    assert "bmc_tls_verify" in event.detail["fields"]


def test_a_bmc_without_address_is_refused_with_a_message(admin, server):
    response = as_user(admin).post(
        f"/inventory/servers/{server.pk}/bmc/",
        {"protocol": "ipmi", "address": "", "port": "", "username": ""},
    )
    assert response.status_code == 200
    assert "A BMC needs an address, a port and a username." in response.content.decode()


def test_bmc_api_edit_matrix(people, server):
    data = {"protocol": "ipmi", "address": "10.1.2.5", "port": 623, "username": "u"}
    expected = {"anonymous": 401, "member": 404, "outsider": 404, "manager": 403, "admin": 200}
    check_matrix(people, f"/api/v1/servers/{server.pk}/bmc/", expected, method="put", data=data, api=True)


def test_the_bmc_api_takes_a_password_and_never_returns_it(admin, server):
    response = as_user(admin).put(
        f"/api/v1/servers/{server.pk}/bmc/",
        {
            "protocol": "redfish",
            "address": "10.0.0.20",
            "port": 443,
            "username": "root",
            "password": "new-pw-1",
            "tls_verify": "verify",
        },
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["bmc"] == {
        "protocol": "redfish",
        "address": "10.0.0.20",
        "port": 443,
        "tls_verify": "verify",
    }
    assert "new-pw-1" not in response.content.decode()
    server.refresh_from_db()
    from portal.crypto import secret_decrypt

    assert secret_decrypt(server.bmc_password_encrypted) == "new-pw-1"


def test_the_server_list_costs_the_same_queries_for_5_or_50_servers(
    manager, server, django_assert_max_num_queries
):
    client = as_user(manager)
    client.get("/inventory/servers/")  # warm the session
    ServerFactory.create_batch(4)
    with django_assert_max_num_queries(8) as few:
        client.get("/inventory/servers/", HTTP_HX_REQUEST="true")
    ServerFactory.create_batch(45)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/inventory/servers/", HTTP_HX_REQUEST="true")


def test_the_server_page_offers_power_actions_to_admins_only(client, manager, admin):
    from django.urls import reverse

    server = ServerFactory(name="X9")
    client.force_login(manager)
    assert (
        'data-testid="power-form"'
        not in client.get(reverse("inventory:server-detail", args=[server.pk])).text
    )
    client.force_login(admin)
    assert 'data-testid="power-form"' in client.get(reverse("inventory:server-detail", args=[server.pk])).text
