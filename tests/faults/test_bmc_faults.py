"""BMCs that misbehave, next to healthy ones (the emulators of bmcsim): one that takes the connection and
never answers, one that answers garbage, one that refuses the credentials, for Redfish and for IPMI.
Each is shown for what it is, and none slows the poll of the others: a poll cycle with all of them
present costs about one timeout, as a poll of the healthy ones alone is bounded by it too.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from inventory import services
from inventory.models import HardwareState
from tests.factories import ServerFactory

pytestmark = [pytest.mark.fault, pytest.mark.django_db]
TIMEOUT = 3.0


@contextmanager
def tcp_bmc(*, garbage: bool) -> Iterator[int]:
    """A TCP port that accepts connections and then never answers, or answers bytes that are not HTTP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(32)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if garbage:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(os.urandom(64) + b"\r\n\r\n")
                except OSError:
                    pass
                conn.close()
            else:
                held.append(conn)  # open, silent, until the test ends

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for conn in held:
            conn.close()


@contextmanager
def udp_bmc(*, garbage: bool) -> Iterator[int]:
    """A UDP port (IPMI over LAN) that swallows every request, or answers each with random bytes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                _data, peer = sock.recvfrom(4096)
            except OSError:
                return
            if garbage:
                sock.sendto(os.urandom(40), peer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def with_bmc(name: str, spec, *, port: int | None = None, password: str | None = None):
    return services.server_bmc_set(
        actor=None,
        server=ServerFactory(name=name),
        protocol=spec.protocol,
        address=spec.address,
        port=port or spec.port,
        username=spec.username,
        password=password or spec.password,
    )


def test_hung_babbling_and_refusing_bmcs_are_each_named_and_do_not_slow_the_others(bmcs):
    healthy = [with_bmc("OK-IPMI", bmcs["ipmi"]), with_bmc("OK-RF", bmcs["redfish"])]
    alone = services.bmc_poll_all(timeout=TIMEOUT)
    assert (alone.reachable, alone.unreachable) == (2, 0)
    with (
        tcp_bmc(garbage=False) as rf_silent,
        tcp_bmc(garbage=True) as rf_garbage,
        udp_bmc(garbage=False) as ipmi_silent,
        udp_bmc(garbage=True) as ipmi_garbage,
    ):
        faulty = {
            "redfish silent": with_bmc("RF-SILENT", bmcs["redfish"], port=rf_silent),
            "redfish garbage": with_bmc("RF-GARBAGE", bmcs["redfish"], port=rf_garbage),
            "redfish wrong password": with_bmc("RF-AUTH", bmcs["redfish"], password="not-the-password"),
            "ipmi silent": with_bmc("IPMI-SILENT", bmcs["ipmi"], port=ipmi_silent),
            "ipmi garbage": with_bmc("IPMI-GARBAGE", bmcs["ipmi"], port=ipmi_garbage),
            "ipmi wrong password": with_bmc("IPMI-AUTH", bmcs["ipmi"], password="not-the-password"),
        }
        summary = services.bmc_poll_all(timeout=TIMEOUT)
    errors = {what: HardwareState.objects.get(server=server).error for what, server in faulty.items()}
    print(
        f"\n[fault] BMC poll cycle: {alone.seconds:.2f} s for the 2 healthy BMCs alone, "
        f"{summary.seconds:.2f} s with the 6 faulty ones present (timeout {TIMEOUT:g} s)"
    )
    for what, error in errors.items():
        print(f"[fault]   {what}: {error}")
    assert (summary.reachable, summary.unreachable) == (2, 6)
    assert all(HardwareState.objects.get(server=s).reachable for s in healthy)
    # The faulty ones cost one timeout in all, not one each: nobody waits for them.
    assert summary.seconds < TIMEOUT + 2.5, summary.seconds
    assert errors["redfish silent"] == f"The BMC did not answer within {TIMEOUT:g} s."
    assert errors["redfish garbage"].startswith("The BMC answered with something that is not its protocol")
    assert errors["redfish wrong password"] == "The BMC refused the credentials."
    assert errors["ipmi silent"] == f"The BMC did not answer within {TIMEOUT:g} s."
    assert errors["ipmi wrong password"] == "The BMC refused the credentials."
    # IPMI over UDP: ipmitool drops answers that are not IPMI, so garbage looks like silence to it.
    assert errors["ipmi garbage"] in (
        errors["ipmi silent"],
        *[e for e in errors.values() if e.startswith("The BMC answered with something")],
    ) or errors["ipmi garbage"].startswith("The BMC answered with something")
    for state in HardwareState.objects.filter(server__in=faulty.values()):
        assert (state.reachable, state.power_state, state.health) == (False, "unknown", "unknown")
