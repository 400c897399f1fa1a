"""A power request left "running" by a worker killed mid-action is finished from what its BMC shows now,
never by repeating the action; observed on the real IPMI emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from inventory import services
from inventory.bmc import PowerAction, PowerState, gateway_for
from inventory.models import PowerRequest
from kennel.celery import app
from portal.models import AuditEvent
from tests.factories import PowerRequestFactory, ServerFactory
from tests.fixtures.bmcs import target_of

pytestmark = pytest.mark.django_db


def server_on(spec, name="PX1"):
    return services.server_bmc_set(
        actor=None,
        server=ServerFactory(name=name),
        protocol=spec.protocol,
        address=spec.address,
        port=spec.port,
        username=spec.username,
        password=spec.password,
    )


def running(server, user, action: str, *, for_seconds: float) -> PowerRequest:
    """A request a worker claimed ``for_seconds`` ago and never finished."""
    return PowerRequestFactory(
        server=server,
        action=action,
        reason="replace PSU",
        requested_by=user,
        status=PowerRequest.Status.RUNNING,
        started_at=timezone.now() - timedelta(seconds=for_seconds),
    )


def stuck(settings_) -> float:
    return settings_.KENNEL_POWER_STUCK_AFTER + 5


def test_a_stuck_request_whose_target_state_is_reached_is_done(admin, bmcs, settings):
    spec = bmcs["ipmi_to_stop"]
    gateway_for("ipmi").power(target_of(spec), PowerAction.HARD_OFF, timeout=5)
    request = running(server_on(spec), admin, "hard_off", for_seconds=stuck(settings))

    finished = services.power_requests_recover(timeout=5)

    request.refresh_from_db()
    assert [r.pk for r in finished] == [request.pk]
    assert (request.status, request.error) == (PowerRequest.Status.DONE, "")
    assert request.finished_at is not None
    event = AuditEvent.objects.get(action="server.power_recover")
    assert (event.outcome, event.detail["observed"]) == ("success", "off")
    # Recovery only reads: the emulator was not powered by it.
    assert gateway_for("ipmi").read_state(target_of(spec), timeout=5).power == PowerState.OFF
    gateway_for("ipmi").power(target_of(spec), PowerAction.ON, timeout=5)


def test_a_stuck_request_whose_target_state_is_not_reached_fails_saying_what_to_do(admin, bmcs, settings):
    request = running(server_on(bmcs["ipmi"]), admin, "soft_off", for_seconds=stuck(settings))
    services.power_requests_recover(timeout=5)
    request.refresh_from_db()
    assert request.status == PowerRequest.Status.FAILED
    assert request.error == services.POWER_RECOVERED_OTHER_STATE
    assert "ask again" in request.error
    client = Client()
    client.force_login(admin)
    assert (
        "ask again if the action is still needed"
        in client.get(f"/inventory/servers/{request.server_id}/").text
    )


def test_a_cycle_is_done_when_the_server_is_back_on(admin, bmcs, settings):
    request = running(server_on(bmcs["ipmi"]), admin, "cycle", for_seconds=stuck(settings))
    services.power_requests_recover(timeout=5)
    request.refresh_from_db()
    assert request.status == PowerRequest.Status.DONE


def test_an_unreachable_bmc_leaves_the_outcome_unconfirmed(admin, bmcs, settings, dead_ipmi_port):
    server = ServerFactory(
        name="DEAD1", bmc_protocol="ipmi", bmc_address="127.0.0.9", bmc_port=dead_ipmi_port, bmc_username="u"
    )
    request = running(server, admin, "on", for_seconds=stuck(settings))
    services.power_requests_recover(timeout=1)
    request.refresh_from_db()
    assert (request.status, request.error) == (
        PowerRequest.Status.FAILED,
        services.POWER_RECOVERED_UNCONFIRMED,
    )
    assert AuditEvent.objects.get(action="server.power_recover").outcome == "failure"


def test_a_request_whose_server_lost_its_bmc_is_failed_unconfirmed(admin, settings):
    request = running(ServerFactory(name="NOBMC"), admin, "on", for_seconds=stuck(settings))
    services.power_requests_recover(timeout=1)
    request.refresh_from_db()
    assert request.error == services.POWER_RECOVERED_UNCONFIRMED


def test_young_running_and_other_requests_are_left_alone(admin, bmcs, settings):
    server = server_on(bmcs["ipmi"])
    young = running(server, admin, "on", for_seconds=settings.KENNEL_POWER_STUCK_AFTER - 30)
    queued = PowerRequestFactory(server=server, requested_by=admin)
    assert services.power_requests_recover(timeout=5) == []
    young.refresh_from_db()
    queued.refresh_from_db()
    assert (young.status, queued.status) == (PowerRequest.Status.RUNNING, PowerRequest.Status.QUEUED)
    assert not AuditEvent.objects.filter(action="server.power_recover").exists()


def test_a_claimed_request_records_when_it_started(admin, bmcs, settings):
    settings.KENNEL_POWER_COOLDOWN = 0
    server = server_on(bmcs["ipmi"])
    request = services.power_request_create(
        actor=admin, server=server, action="on", reason="r", confirm_name=server.name
    )
    before = timezone.now()
    services.power_request_execute(request_id=request.pk, timeout=5)
    request.refresh_from_db()
    assert request.started_at is not None and request.started_at >= before


def test_recovery_and_drain_resume_are_scheduled_tasks():
    schedule = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"inventory.tasks.power_requests_recover", "inventory.tasks.server_drains_resume"} <= schedule
    app.loader.import_default_modules()
    assert {task for task in schedule if task.startswith("inventory.")} <= set(app.tasks)
