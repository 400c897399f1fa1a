"""BMC credentials and polling, on the real database against the real emulators."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from bmcsim.fleet import BmcSpec
from inventory import services
from inventory.models import HardwareState, Server
from portal.crypto import secret_decrypt
from portal.models import AuditEvent
from tests.factories import ServerFactory

pytestmark = pytest.mark.django_db


def with_bmc(server: Server, spec: BmcSpec, *, port: int | None = None, address: str | None = None) -> Server:
    return services.server_bmc_set(
        actor=None,
        server=server,
        protocol=spec.protocol,
        address=address or spec.address,
        port=port or spec.port,
        username=spec.username,
        password=spec.password,
    )


def test_the_bmc_password_is_stored_encrypted_and_decrypts_back(admin):
    server = services.server_bmc_set(
        actor=admin,
        server=ServerFactory(),
        protocol="ipmi",
        address="10.0.0.5",
        port=623,
        username="ADMIN",
        password="s3cret-bmc-pw",
    )
    stored = Server.objects.get(pk=server.pk).bmc_password_encrypted
    assert "s3cret-bmc-pw" not in stored
    assert secret_decrypt(stored) == "s3cret-bmc-pw"


def test_a_blank_password_keeps_the_stored_one_and_changes_nothing(admin):
    server = services.server_bmc_set(
        actor=admin,
        server=ServerFactory(),
        protocol="ipmi",
        address="10.0.0.5",
        port=623,
        username="A",
        password="pw1",
    )
    before = AuditEvent.objects.count()
    services.server_bmc_set(
        actor=admin, server=server, protocol="ipmi", address="10.0.0.5", port=623, username="A", password=None
    )
    services.server_bmc_set(
        actor=admin,
        server=server,
        protocol="ipmi",
        address="10.0.0.5",
        port=623,
        username="A",
        password="pw1",
    )
    assert AuditEvent.objects.count() == before
    assert secret_decrypt(Server.objects.get(pk=server.pk).bmc_password_encrypted) == "pw1"


def test_the_audit_entry_names_changed_fields_but_never_the_password(admin):
    server = services.server_bmc_set(
        actor=admin,
        server=ServerFactory(),
        protocol="redfish",
        address="10.0.0.12",
        port=443,
        username="root",
        password="pw-one",
    )
    services.server_bmc_set(
        actor=admin,
        server=server,
        protocol="redfish",
        address="10.0.0.12",
        port=443,
        username="root",
        password="pw-two",
    )
    events = AuditEvent.objects.filter(action="server.bmc_set").order_by("pk")
    assert [e.detail["fields"] for e in events] == [
        ["bmc_address", "bmc_password", "bmc_port", "bmc_protocol", "bmc_username"],
        ["bmc_password"],
    ]
    dumped = str([(e.detail, e.target_repr) for e in events])
    assert "pw-one" not in dumped and "pw-two" not in dumped


def test_removing_the_bmc_forgets_its_password(admin):
    server = services.server_bmc_set(
        actor=admin,
        server=ServerFactory(),
        protocol="ipmi",
        address="10.0.0.5",
        port=623,
        username="A",
        password="pw",
    )
    services.server_bmc_set(
        actor=admin, server=server, protocol="", address="", port=None, username="", password=None
    )
    server.refresh_from_db()
    assert (server.bmc_protocol, server.bmc_password_encrypted, server.has_bmc) == ("", "", False)


def test_a_poll_stores_power_health_sensors_and_draw_for_each_protocol(bmcs):
    ipmi = with_bmc(ServerFactory(name="I1"), bmcs["ipmi"])
    redfish = with_bmc(ServerFactory(name="R1"), bmcs["redfish"])
    ServerFactory(name="NOBMC")
    summary = services.bmc_poll_all(timeout=5)
    assert (summary.polled, summary.reachable, summary.unreachable) == (2, 2, 0)
    for server, watts in ((ipmi, (200, 260)), (redfish, (212, 212))):
        state = HardwareState.objects.get(server=server)
        assert (state.power_state, state.health, state.reachable, state.error) == ("on", "ok", True, "")
        assert state.last_seen_at == state.polled_at
        assert watts[0] <= state.power_watts <= watts[1]
        assert state.max_temperature_c is not None
        assert {s["kind"] for s in state.sensors} >= {"temperature", "fan"}
    assert not HardwareState.objects.filter(server__name="NOBMC").exists()


def test_dead_bmcs_are_marked_unreachable_without_delaying_the_others(bmcs, silent_tcp_port, dead_ipmi_port):
    alive = [with_bmc(ServerFactory(name=f"A{i}"), bmcs[n]) for i, n in enumerate(["ipmi", "redfish"])]
    hung_redfish = with_bmc(ServerFactory(name="D1"), bmcs["redfish"], port=silent_tcp_port)
    dead_ipmi = [
        with_bmc(ServerFactory(name=f"D{i}"), bmcs["ipmi"], address="127.0.0.9", port=dead_ipmi_port)
        for i in range(2, 5)
    ]
    seen_before = timezone.now() - timedelta(hours=1)
    HardwareState.objects.create(
        server=hung_redfish, polled_at=seen_before, last_seen_at=seen_before, reachable=True
    )
    timeout = 2.0
    started = time.monotonic()
    summary = services.bmc_poll_all(timeout=timeout, workers=8)
    elapsed = time.monotonic() - started
    # Four dead BMCs in sequence would cost 4 x 2 s; polled at once they cost one timeout.
    assert elapsed < timeout + 1.5, elapsed
    assert (summary.reachable, summary.unreachable) == (2, 4)
    assert all(HardwareState.objects.get(server=s).reachable for s in alive)
    for server in [hung_redfish, *dead_ipmi]:
        state = HardwareState.objects.get(server=server)
        assert (state.reachable, state.power_state, state.health) == (False, "unknown", "unknown")
        assert state.error == f"The BMC did not answer within {timeout:g} s."
    assert HardwareState.objects.get(server=hung_redfish).last_seen_at == seen_before
    assert HardwareState.objects.get(server=dead_ipmi[0]).last_seen_at is None


def test_a_hanging_bmc_costs_only_the_wait_for_its_first_answer(bmcs, silent_tcp_port, dead_ipmi_port):
    alive = with_bmc(ServerFactory(name="A1"), bmcs["ipmi"])
    hung = [
        with_bmc(ServerFactory(name="H1"), bmcs["redfish"], port=silent_tcp_port),
        with_bmc(ServerFactory(name="H2"), bmcs["ipmi"], address="127.0.0.9", port=dead_ipmi_port),
    ]
    started = time.monotonic()
    summary = services.bmc_poll_all(timeout=20, answer_timeout=1, workers=4)
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed  # not the 20 s a BMC may take in all
    assert (summary.reachable, summary.unreachable) == (1, 2)
    assert HardwareState.objects.get(server=alive).reachable
    for server in hung:
        state = HardwareState.objects.get(server=server)
        assert (state.reachable, state.error) == (False, "The BMC did not answer within 1 s.")


def test_a_failing_bmc_is_asked_again_only_after_its_backoff_and_shows_unreachable_meanwhile(
    bmcs, silent_tcp_port
):
    alive = with_bmc(ServerFactory(name="A1"), bmcs["redfish"])
    dead = with_bmc(ServerFactory(name="D1"), bmcs["redfish"], port=silent_tcp_port)
    seen = timezone.now() - timedelta(hours=2)
    HardwareState.objects.create(server=dead, polled_at=seen, last_seen_at=seen, reachable=True)
    first = services.bmc_poll_all(timeout=2, answer_timeout=1)
    assert (first.polled, first.unreachable, first.deferred) == (2, 1, 0)
    state = HardwareState.objects.get(server=dead)
    assert (state.reachable, state.failures, state.last_seen_at) == (False, 1, seen)
    assert state.next_poll_at == state.polled_at + timedelta(minutes=2)
    polled_at = state.polled_at

    # The next minute's cycle leaves it alone: still unreachable, as last polled, seen two hours ago.
    soon = services.bmc_poll_all(timeout=2, answer_timeout=1, now=timezone.now() + timedelta(minutes=1))
    assert (soon.polled, soon.reachable, soon.deferred) == (1, 1, 1)
    state.refresh_from_db()
    assert (state.reachable, state.polled_at, state.error) == (
        False,
        polled_at,
        "The BMC did not answer within 1 s.",
    )
    assert HardwareState.objects.get(server=alive).polled_at > polled_at

    # Once the backoff has passed it is asked again; failing again doubles the wait.
    later = services.bmc_poll_all(timeout=2, answer_timeout=1, now=timezone.now() + timedelta(minutes=3))
    assert (later.polled, later.deferred) == (2, 0)
    state.refresh_from_db()
    assert state.failures == 2
    assert state.next_poll_at == state.polled_at + timedelta(minutes=4)


def test_a_bmc_that_answers_again_is_polled_every_cycle_again(bmcs):
    server = with_bmc(ServerFactory(name="B1"), bmcs["ipmi"])
    HardwareState.objects.create(
        server=server, polled_at=timezone.now(), reachable=False, failures=3, next_poll_at=timezone.now()
    )
    services.bmc_poll_all(timeout=5)
    state = HardwareState.objects.get(server=server)
    assert (state.reachable, state.failures, state.next_poll_at, state.error) == (True, 0, None, "")


def test_changing_a_bmc_ends_its_backoff(bmcs):
    server = with_bmc(ServerFactory(name="C1"), bmcs["ipmi"])
    later = timezone.now() + timedelta(minutes=16)
    HardwareState.objects.create(
        server=server, polled_at=timezone.now(), reachable=False, failures=4, next_poll_at=later
    )
    assert services.bmc_poll_all(timeout=5).deferred == 1
    with_bmc(server, bmcs["redfish"])  # the admin fixes the BMC's address
    summary = services.bmc_poll_all(timeout=5)
    assert (summary.polled, summary.reachable, summary.deferred) == (1, 1, 0)


def test_the_backoff_doubles_up_to_its_bound(settings):
    settings.KENNEL_BMC_RETRY_MAX_MINUTES = 30
    delays = [services.bmc_retry_delay(n) for n in range(1, 7)]
    assert [d.total_seconds() / 60 for d in delays] == [2, 4, 8, 16, 30, 30]


def test_a_poll_writes_its_results_in_the_same_number_of_queries_for_more_bmcs(silent_tcp_port):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def poll() -> int:
        with CaptureQueriesContext(connection) as queries:
            services.bmc_poll_all(timeout=1, answer_timeout=1, workers=16)
        HardwareState.objects.update(next_poll_at=None)  # due again at the next poll
        return len(queries)

    def add(count: int) -> None:
        for i in range(count):
            services.server_bmc_set(
                actor=None,
                server=ServerFactory(),
                protocol="redfish",
                address="http://127.0.0.1",
                port=silent_tcp_port,
                username="root",
                password=f"pw{i}",
            )

    add(2)
    poll()  # 2 rows made
    again = poll()  # 2 rows updated
    add(8)
    poll()
    assert HardwareState.objects.count() == 10
    assert poll() == again  # 10 rows updated


def test_wrong_credentials_are_stored_as_such(bmcs):
    server = with_bmc(ServerFactory(), bmcs["ipmi"])
    services.server_bmc_set(
        actor=None,
        server=server,
        protocol="ipmi",
        address="127.0.0.1",
        port=bmcs["ipmi"].port,
        username="ADMIN",
        password="not-the-password",
    )
    services.bmc_poll_all(timeout=5)
    state = HardwareState.objects.get(server=server)
    assert (state.reachable, state.error) == (False, "The BMC refused the credentials.")


def test_a_password_encrypted_under_another_key_is_reported_not_raised(bmcs):
    server = with_bmc(ServerFactory(), bmcs["ipmi"])
    foreign = Fernet(Fernet.generate_key()).encrypt(b"pw").decode()
    Server.objects.filter(pk=server.pk).update(bmc_password_encrypted=foreign)
    summary = services.bmc_poll_all(timeout=5)
    assert summary.unreachable == 1
    assert HardwareState.objects.get(server=server).error == "The stored BMC password cannot be decrypted."


def test_the_poll_task_calls_the_service(bmcs):
    from inventory.tasks import bmc_poll

    server = with_bmc(ServerFactory(), bmcs["redfish"])
    bmc_poll.apply()
    assert HardwareState.objects.get(server=server).reachable is True


@pytest.mark.django_db(transaction=True)
def test_the_scheduled_poll_is_left_alone_while_another_workers_poll_runs(bmcs):
    import threading

    from portal.worker import work_lock

    server = with_bmc(ServerFactory(), bmcs["redfish"])
    held, release, results = threading.Event(), threading.Event(), []

    def other_worker() -> None:  # holds the poll's lock on its own database connection
        from django.db import connection

        with work_lock("bmc-poll", 0) as got:
            results.append(got)
            held.set()
            release.wait(30)
        connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(30) and results == [True]
        assert services.bmc_poll_scheduled() is None
        assert not HardwareState.objects.filter(server=server).exists()
    finally:
        release.set()
        thread.join()
    assert services.bmc_poll_scheduled().polled == 1


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_polling_logs_no_bmc_password_even_at_debug_level(bmcs, silent_tcp_port):
    with_bmc(ServerFactory(name="L1"), bmcs["redfish"])
    with_bmc(ServerFactory(name="L2"), bmcs["ipmi"])
    with_bmc(ServerFactory(name="L3"), bmcs["redfish"], port=silent_tcp_port)
    collector, root = _Collector(), logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "sushy", "urllib3", "inventory")}
    root.addHandler(collector)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        services.bmc_poll_all(timeout=2)
    finally:
        root.removeHandler(collector)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert any("sushy" in line or "HTTP" in line for line in collector.lines)  # the logs were captured
    text = "\n".join(collector.lines)
    assert bmcs["redfish"].password not in text and bmcs["ipmi"].password not in text
