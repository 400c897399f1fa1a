"""BMCs that misbehave, for the inventory's own tests (the ones that answer: tests/fixtures/bmcs.py)."""

from __future__ import annotations

import socket

import pytest

from bmcsim.fleet import free_ports


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
