"""Real emulated BMCs on loopback (bmcsim), started once per test session."""

from __future__ import annotations

import socket

import pytest

from bmcsim.fleet import BmcSpec, Fleet, free_ports
from inventory.bmc import BmcProtocol, BmcTarget


def target_of(spec: BmcSpec, *, password: str | None = None) -> BmcTarget:
    return BmcTarget(
        protocol=BmcProtocol(spec.protocol),
        address=spec.address,
        port=spec.port,
        username=spec.username,
        password=spec.password if password is None else password,
    )


@pytest.fixture(scope="session")
def bmcs():
    """Named emulated BMCs: ``ipmi`` and ``redfish`` stay on; ``*_to_stop`` are for power-off tests."""
    udp, tcp = free_ports(2, socket.SOCK_DGRAM), free_ports(2)
    specs = {
        "ipmi": BmcSpec("T-IPMI", "ipmi", udp[0], "ADMIN", "ipmi-secret-1"),
        "ipmi_to_stop": BmcSpec("T-IPMI-2", "ipmi", udp[1], "ADMIN", "ipmi-secret-2"),
        "redfish": BmcSpec("T-RF", "redfish", tcp[0], "root", "redfish-secret-1"),
        "redfish_to_stop": BmcSpec("T-RF-2", "redfish", tcp[1], "root", "redfish-secret-2"),
    }
    with Fleet(list(specs.values())):
        yield specs


@pytest.fixture
def silent_tcp_port():
    """A port that accepts connections and never answers: a hung Redfish BMC."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def dead_ipmi_port():
    """A UDP port on 127.0.0.9 where nothing listens: an IPMI BMC that never answers."""
    return free_ports(1, socket.SOCK_DGRAM, "127.0.0.9")[0]
