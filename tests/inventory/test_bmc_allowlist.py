"""BMC addresses are limited to KENNEL_BMC_ALLOWED_NETWORKS and KENNEL_BMC_ALLOWED_PORTS: refused when
saved through the page, the API and the CSV import, each with its reason, and never connected to by the
poll, even for an address stored before (or around) those checks."""

from __future__ import annotations

import socket
from ipaddress import ip_network

import pytest
from django.test import Client

from inventory.bmc import BmcRefused
from inventory.bmc.allowlist import bmc_endpoint
from inventory.models import HardwareState, Server
from inventory.server_csv import servers_csv_import
from inventory.services import bmc_poll_all
from tests.factories import DataCenterFactory, ServerFactory

NETS = [ip_network("10.20.0.0/16"), ip_network("fd00:b::/64")]
PORTS = [(443, 443), (623, 623), (8000, 8099)]
REFUSED_ADDRESS = "192.0.2.10"  # TEST-NET-1: outside every list here


def fake_dns(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def endpoint(address: str, port: int | None = 623, protocol: str = "ipmi", dns: dict | None = None):
    return bmc_endpoint(
        protocol=protocol,
        address=address,
        port=port,
        networks=NETS,
        ports=PORTS,
        resolver=fake_dns(dns or {}),
    )


# The rule ----------------------------------------------------------------------------------------


def test_an_address_inside_the_networks_on_an_allowed_port_is_allowed():
    assert endpoint("10.20.1.5").address == "10.20.1.5"
    assert endpoint("fd00:b::5").address == "fd00:b::5"
    assert endpoint("[fd00:b::5]").url_host(pinned=True) == "[fd00:b::5]"


@pytest.mark.parametrize(
    ("address", "port", "protocol", "says"),
    [
        (REFUSED_ADDRESS, 623, "ipmi", "outside the networks BMCs may be in"),
        ("127.0.0.1", 623, "ipmi", "outside the networks"),
        ("::ffff:192.0.2.10", 623, "ipmi", "outside the networks"),
        ("10.20.1.5", 22, "ipmi", "not among the ports"),
        ("https://10.20.1.5:6379", 443, "redfish", "Port 6379"),  # the URL's own port counts
        ("http://user:pw@10.20.1.5", 443, "redfish", "only the scheme, host and port"),
        ("https://10.20.1.5/redfish/v1?x=1", 443, "redfish", "only the scheme, host and port"),
        ("ftp://10.20.1.5", 443, "redfish", "https:// or http://"),
        ("http://10.20.1.5", 623, "ipmi", "not a URL"),
        ("10.20.1.5/24", 623, "ipmi", "not a host name"),
        ("bmc x", 623, "ipmi", "not a host name"),
        ("nowhere.example", 623, "ipmi", "does not resolve"),
        ("mixed.example", 623, "ipmi", "192.0.2.10"),  # one of its addresses is outside: refused
    ],
)
def test_anything_else_is_refused_with_the_reason(address, port, protocol, says):
    dns = {"mixed.example": ["10.20.1.6", REFUSED_ADDRESS]}
    with pytest.raises(BmcRefused, match=says.replace("?", r"\?")):
        endpoint(address, port, protocol, dns)


def test_a_name_is_allowed_when_all_its_addresses_are_and_the_connection_uses_the_checked_one():
    checked = endpoint("bmc.example", 8043, "redfish", {"bmc.example": ["10.20.1.7", "fd00:b::7"]})
    assert [str(a) for a in checked.addresses] == ["10.20.1.7", "fd00:b::7"]
    assert (checked.scheme, checked.port, checked.address) == ("https", 8043, "10.20.1.7")
    assert checked.url_host(pinned=False) == "bmc.example"
    url = endpoint("http://10.20.1.8:8080", 443, "redfish")
    assert (url.scheme, url.port) == ("http", 8080)


def test_the_default_allows_loopback_and_the_demo_emulators_ports(settings):
    from portal.env import env_networks, env_port_ranges

    # kennel.settings' defaults, read the same way: make run's emulated BMCs (bmcsim.demo) pass.
    networks = env_networks("KENNEL_BMC_TEST_UNSET", "127.0.0.0/8,::1/128")
    ports = env_port_ranges("KENNEL_BMC_TEST_UNSET", "80,443,623,16200-16299,18000-18099")
    from bmcsim.demo import DEMO_BMCS

    for spec in DEMO_BMCS:
        bmc_endpoint(
            protocol=spec.protocol, address=spec.address, port=spec.port, networks=networks, ports=ports
        )
    with pytest.raises(BmcRefused):
        bmc_endpoint(protocol="ipmi", address="10.0.0.5", port=623, networks=networks, ports=ports)


# Saving ------------------------------------------------------------------------------------------


@pytest.fixture
def lists(settings):
    settings.KENNEL_BMC_ALLOWED_NETWORKS = NETS
    settings.KENNEL_BMC_ALLOWED_PORTS = PORTS


@pytest.fixture
def server(db):
    return ServerFactory(name="S1")


def as_admin(admin) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def test_the_page_refuses_an_address_outside_the_networks(admin, server, lists):
    response = as_admin(admin).post(
        f"/inventory/servers/{server.pk}/bmc/",
        {"protocol": "ipmi", "address": REFUSED_ADDRESS, "port": 623, "username": "ADMIN", "password": "x"},
    )
    assert response.status_code == 200
    assert "outside the networks BMCs may be in" in response.text and REFUSED_ADDRESS in response.text
    server.refresh_from_db()
    assert (server.bmc_address, server.bmc_password_encrypted) == ("", "")


def test_the_page_refuses_a_port_outside_the_list_on_the_port_field(admin, server, lists):
    response = as_admin(admin).post(
        f"/inventory/servers/{server.pk}/bmc/",
        {"protocol": "ipmi", "address": "10.20.0.9", "port": 6379, "username": "ADMIN"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "not among the ports" in form.errors["port"][0]
    server.refresh_from_db()
    assert server.bmc_port is None


def test_the_api_refuses_it_with_a_400_naming_the_field(admin, server, lists):
    response = as_admin(admin).put(
        f"/api/v1/servers/{server.pk}/bmc/",
        {"protocol": "redfish", "address": f"https://{REFUSED_ADDRESS}", "port": 443, "username": "root"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "outside the networks BMCs may be in" in response.json()["address"][0]
    allowed = as_admin(admin).put(
        f"/api/v1/servers/{server.pk}/bmc/",
        {"protocol": "redfish", "address": "https://10.20.0.9:8001", "port": 443, "username": "root"},
        content_type="application/json",
    )
    assert allowed.status_code == 200
    server.refresh_from_db()
    assert server.bmc_address == "https://10.20.0.9:8001"


def test_the_csv_import_refuses_it_by_row_and_column_and_writes_nothing(admin, lists):
    DataCenterFactory(code="dc1")
    text = (
        "name,architecture,datacenter,bmc_protocol,bmc_address,bmc_port,bmc_username\r\n"
        "N1,x86_64,dc1,ipmi,10.20.0.5,623,ADMIN\r\n"
        f"N2,x86_64,dc1,ipmi,{REFUSED_ADDRESS},623,ADMIN\r\n"
        "N3,x86_64,dc1,ipmi,10.20.0.6,25,ADMIN\r\n"
    )
    plan = servers_csv_import(actor=admin, text=text)
    assert not plan.applied
    errors = {row.row: row.errors for row in plan.rows}
    assert errors[2] == {}
    assert "outside the networks BMCs may be in" in errors[3]["bmc_address"][0]
    assert "not among the ports" in errors[4]["bmc_port"][0]
    assert not Server.objects.filter(name__in=["N1", "N2", "N3"]).exists()
    response = as_admin(admin).post("/api/v1/servers/import/", data=text.encode(), content_type="text/csv")
    assert response.status_code == 400
    assert [r["row"] for r in response.json()["rows"] if r["errors"]] == [3, 4]


# Never fetched -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("protocol", ["redfish", "ipmi"])
def test_the_poll_refuses_a_stored_address_outside_the_list_without_connecting(settings, protocol):
    """A BMC written straight to the database (as before the list existed) on loopback, which the list
    here leaves out: a listener on its address and port sees nothing, and the server says why."""
    settings.KENNEL_BMC_ALLOWED_NETWORKS = [ip_network("10.0.0.0/8")]
    kind = socket.SOCK_STREAM if protocol == "redfish" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as listener:
        listener.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            listener.listen(4)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        address = "http://127.0.0.1" if protocol == "redfish" else "localhost"  # a name resolving outside
        server = ServerFactory(
            name=f"OLD-{protocol}",
            bmc_protocol=protocol,
            bmc_address=address,
            bmc_port=port,
            bmc_username="u",
        )
        summary = bmc_poll_all(timeout=2)
        with pytest.raises(BlockingIOError):
            listener.accept() if kind == socket.SOCK_STREAM else listener.recvfrom(512)
    assert (summary.polled, summary.reachable) == (1, 0)
    state = HardwareState.objects.get(server=server)
    assert not state.reachable and "outside what Kennel may reach" in state.error


@pytest.mark.django_db
def test_a_stored_address_on_loopback_is_polled_when_allowed(settings, bmcs):
    """The same path with the address allowed reaches the emulator: the refusal above is the list's doing."""
    spec = bmcs["redfish"]
    server = ServerFactory(
        name="OK", bmc_protocol="redfish", bmc_address=spec.address, bmc_port=spec.port, bmc_username="root"
    )
    from portal.crypto import secret_encrypt

    Server.objects.filter(pk=server.pk).update(bmc_password_encrypted=secret_encrypt(spec.password))
    assert bmc_poll_all(timeout=5).reachable == 1
