"""Guarded power actions: only admins, with a reason, the name typed, a cooldown, a second admin for
the controller, compute nodes refused until they can be drained; observed on the real emulators."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from inventory import services
from inventory import stored_messages as texts
from inventory.bmc import PowerAction, PowerState, gateway_for
from inventory.models import PowerRequest, ServerRole
from inventory.services import PowerActionRefused
from portal.models import AuditEvent, Role
from tests.factories import HardwareStateFactory, ServerFactory, UserFactory
from tests.fixtures.bmcs import target_of
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


def server_on(spec, *, name: str = "PX1", roles: list[str] | None = None):
    server = ServerFactory(name=name, roles=roles or [ServerRole.OUTSIDE.value], hypervisor_hostname="px1")
    return services.server_bmc_set(
        actor=None,
        server=server,
        protocol=spec.protocol,
        address=spec.address,
        port=spec.port,
        username=spec.username,
        password=spec.password,
    )


def ask(admin, server, action="hard_off", *, reason="replace PSU", name=None):
    return services.power_request_create(
        actor=admin,
        server=server,
        action=action,
        reason=reason,
        confirm_name=server.name if name is None else name,
    )


def test_a_guarded_power_off_is_observed_on_the_ipmi_emulator(
    admin, bmcs, eager_tasks, django_capture_on_commit_callbacks
):
    spec = bmcs["ipmi_to_stop"]
    server = server_on(spec)
    gateway = gateway_for("ipmi")
    gateway.power(target_of(spec), PowerAction.ON, timeout=5)
    with django_capture_on_commit_callbacks(execute=True):
        request = ask(admin, server)
    request.refresh_from_db()
    assert (request.status, request.error) == (PowerRequest.Status.DONE, "")
    assert gateway.read_state(target_of(spec), timeout=5).power == PowerState.OFF
    actions = list(AuditEvent.objects.filter(target_id=str(server.pk)).values_list("action", "outcome"))
    assert ("server.power_request", "success") in actions and ("server.power_execute", "success") in actions
    gateway.power(target_of(spec), PowerAction.ON, timeout=5)


def test_the_servers_name_must_be_typed_and_a_reason_given(admin, bmcs):
    server = server_on(bmcs["ipmi"])
    with pytest.raises(PowerActionRefused, match="Type the server's name exactly"):
        ask(admin, server, name="px1")
    with pytest.raises(PowerActionRefused, match="Give a reason"):
        ask(admin, server, reason="  ")
    assert not PowerRequest.objects.exists()
    refusals = AuditEvent.objects.filter(action="server.power_request", outcome="denied")
    assert refusals.count() == 2


def test_a_manager_may_not_power_a_server(manager, bmcs):
    with pytest.raises(PowerActionRefused, match="Only an admin"):
        ask(manager, server_on(bmcs["ipmi"]))


def test_a_compute_node_is_refused_power_off_until_it_can_be_drained(admin, bmcs):
    server = server_on(bmcs["ipmi"], roles=[ServerRole.COMPUTE.value])
    for action in ("soft_off", "hard_off", "cycle", "reset"):
        with pytest.raises(PowerActionRefused, match="drain first"):
            ask(admin, server, action)
    assert ask(admin, server, "on").status == PowerRequest.Status.QUEUED


def test_a_second_action_within_the_cooldown_is_refused(admin, bmcs, settings):
    settings.KENNEL_POWER_COOLDOWN = 300
    server = server_on(bmcs["ipmi"])
    ask(admin, server, "on")
    with pytest.raises(PowerActionRefused, match=r"wait \d+ s"):
        ask(admin, server, "on")


def test_the_controller_waits_for_a_second_admin(
    admin, bmcs, eager_tasks, django_capture_on_commit_callbacks
):
    spec = bmcs["ipmi_to_stop"]
    server = server_on(spec, name="CTL", roles=[ServerRole.CONTROLLER.value])
    gateway_for("ipmi").power(target_of(spec), PowerAction.HARD_OFF, timeout=5)
    request = ask(admin, server, "on")
    assert request.status == PowerRequest.Status.AWAITING_CONFIRMATION
    with pytest.raises(PowerActionRefused, match="second admin"):
        services.power_request_confirm(actor=admin, request=request)
    other = UserFactory(username="admin2", role=Role.ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        services.power_request_confirm(actor=other, request=request)
    request.refresh_from_db()
    assert (request.status, request.confirmed_by) == (PowerRequest.Status.DONE, other)
    assert gateway_for("ipmi").read_state(target_of(spec), timeout=5).power == PowerState.ON
    with pytest.raises(PowerActionRefused, match="no longer awaiting"):
        services.power_request_confirm(actor=other, request=request)


def test_a_duplicated_task_acts_once(admin, bmcs):
    request = ask(admin, server_on(bmcs["ipmi"]), "on")
    assert services.power_request_execute(request_id=request.pk) is not None
    assert services.power_request_execute(request_id=request.pk) is None
    assert AuditEvent.objects.filter(action="server.power_execute").count() == 1


def test_an_unreachable_bmc_fails_the_request_with_a_message(admin, bmcs, dead_ipmi_port):
    server = server_on(bmcs["ipmi"])
    services.server_bmc_set(
        actor=None,
        server=server,
        protocol="ipmi",
        address="127.0.0.9",
        port=dead_ipmi_port,
        username="ADMIN",
        password="x",
    )
    request = services.power_request_execute(request_id=ask(admin, server, "on").pk, timeout=2)
    assert request is not None
    assert (request.status, request.error) == (
        PowerRequest.Status.FAILED,
        "The BMC did not answer within 2 s.",
    )
    # A message id and its seconds: the server page in Chinese says it in Chinese.
    from django.test import Client
    from django.utils import translation

    with translation.override("zh-hans"):
        chinese = str(texts.BMC_TIMEOUT(seconds="2"))
    assert (
        chinese != "The BMC did not answer within 2 s."
        and request.error_text == "The BMC did not answer within 2 s."
    )
    page = Client()
    page.force_login(admin)
    assert (
        chinese
        in page.get(f"/inventory/servers/{server.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    )


def test_power_page_matrix(people, bmcs):
    server = server_on(bmcs["ipmi"])
    url = f"/inventory/servers/{server.pk}/power/"
    data = {"action": "on", "reason": "matrix", "confirm_name": server.name}
    expected = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302}
    check_matrix(people, url, expected, method="post", data=data)
    assert PowerRequest.objects.filter(server=server, requested_by=people["admin"]).count() == 1


def test_power_api_matrix(people, bmcs):
    server = server_on(bmcs["ipmi"])
    url = f"/api/v1/servers/{server.pk}/power/"
    data = {"action": "on", "reason": "matrix", "confirm_name": server.name}
    expected = {"anonymous": 401, "member": 404, "outsider": 404, "manager": 403, "admin": 201}
    check_matrix(people, url, expected, method="post", data=data, api=True)


def test_power_api_refusal_is_a_409_with_the_reason(admin, bmcs):
    server = server_on(bmcs["ipmi"], roles=[ServerRole.COMPUTE.value])
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/api/v1/servers/{server.pk}/power/",
        {"action": "hard_off", "reason": "x", "confirm_name": server.name},
        content_type="application/json",
    )
    assert response.status_code == 409
    assert "drain first" in response.json()["detail"]


def test_power_request_list_and_confirm_matrix(people, bmcs):
    server = server_on(bmcs["ipmi"], name="CTL2", roles=[ServerRole.CONTROLLER.value])
    other = UserFactory(username="admin0", role=Role.ADMIN)
    request = ask(other, server, "on")
    check_matrix(
        people,
        f"/api/v1/power-requests/{request.pk}/",
        {"anonymous": 401, "member": 404, "outsider": 404, "manager": 200, "admin": 200},
        api=True,
    )
    check_matrix(
        people,
        f"/inventory/power-requests/{request.pk}/confirm/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302},
        method="post",
    )
    request.refresh_from_db()
    assert request.confirmed_by == people["admin"]


# --- cancelling, the action offered first, the cooldown left --------------------------------------------


def test_a_power_action_waiting_for_a_second_admin_can_be_cancelled(admin, bmcs, settings):
    settings.KENNEL_POWER_COOLDOWN = 300
    server = server_on(bmcs["ipmi"], name="CTL3", roles=[ServerRole.CONTROLLER.value])
    request = ask(admin, server, "on")
    other = UserFactory(username="admin2", role=Role.ADMIN)

    cancelled = services.power_request_cancel(actor=admin, request=request)

    assert cancelled.status == PowerRequest.Status.CANCELLED and cancelled.finished_at is not None
    assert AuditEvent.objects.filter(action="server.power_cancel", actor=admin).exists()
    with pytest.raises(PowerActionRefused, match="no longer awaiting"):
        services.power_request_confirm(actor=other, request=request)
    # Nothing reached the BMC: the cooldown does not hold it against the next request.
    assert ask(admin, server, "on").status == PowerRequest.Status.AWAITING_CONFIRMATION


def test_a_confirmed_or_queued_power_action_cannot_be_cancelled(admin, bmcs):
    request = ask(admin, server_on(bmcs["ipmi"]), "on")
    assert request.status == PowerRequest.Status.QUEUED
    with pytest.raises(PowerActionRefused, match="cannot be cancelled"):
        services.power_request_cancel(actor=admin, request=request)
    request.refresh_from_db()
    assert request.status == PowerRequest.Status.QUEUED


def test_power_cancel_matrix_page_and_api(people, bmcs):
    server = server_on(bmcs["ipmi"], name="CTL4", roles=[ServerRole.CONTROLLER.value])
    other = UserFactory(username="admin0", role=Role.ADMIN)
    page_request = ask(other, server, "on")
    check_matrix(
        people,
        f"/inventory/power-requests/{page_request.pk}/cancel/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302},
        method="post",
    )
    page_request.refresh_from_db()
    assert page_request.status == PowerRequest.Status.CANCELLED

    PowerRequest.objects.all().delete()  # the cooldown
    api_request = ask(other, server, "on")
    check_matrix(
        people,
        f"/api/v1/power-requests/{api_request.pk}/cancel/",
        {"anonymous": 401, "member": 404, "outsider": 404, "manager": 403, "admin": 200},
        method="post",
        api=True,
    )
    api_request.refresh_from_db()
    assert api_request.status == PowerRequest.Status.CANCELLED
    again = Client()
    again.force_login(people["admin"])
    assert again.post(f"/api/v1/power-requests/{api_request.pk}/cancel/").status_code == 409


def test_the_page_offers_cancel_only_while_a_second_admin_is_awaited(admin, bmcs):
    server = server_on(bmcs["ipmi"], name="CTL5", roles=[ServerRole.CONTROLLER.value])
    request = ask(admin, server, "on")
    client = Client()
    client.force_login(admin)
    page = client.get(f"/inventory/servers/{server.pk}/").text
    assert f'action="/inventory/power-requests/{request.pk}/cancel/"' in page

    services.power_request_cancel(actor=admin, request=request)

    page = client.get(f"/inventory/servers/{server.pk}/").text
    assert 'data-testid="power-cancel"' not in page


@pytest.mark.parametrize(("power", "first"), [("off", "on"), ("on", "soft_off"), ("unknown", "on")])
def test_the_action_offered_first_fits_the_servers_power(admin, bmcs, power, first):
    server = server_on(bmcs["ipmi"])
    HardwareStateFactory(server=server, power_state=power)
    client = Client()
    client.force_login(admin)

    page = client.get(f"/inventory/servers/{server.pk}/").text

    select = page[page.index('name="action"') :]
    select = select[: select.index("</select>")]
    assert f'<option value="{first}" selected>' in select


def test_the_page_says_how_long_the_cooldown_still_lasts(admin, bmcs, settings):
    settings.KENNEL_POWER_COOLDOWN = 300
    server = server_on(bmcs["ipmi"])
    client = Client()
    client.force_login(admin)
    assert 'data-testid="power-cooldown"' not in client.get(f"/inventory/servers/{server.pk}/").text

    ask(admin, server, "on")

    page = client.get(f"/inventory/servers/{server.pk}/").text
    note = page[page.index('data-testid="power-cooldown"') :]
    seconds = int(re.search(r"in (\d+) seconds", note).group(1))
    assert 290 <= seconds <= 300
