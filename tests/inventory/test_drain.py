"""Draining a compute node: a worker disables its Nova compute service and lists the VMs still on it;
only then, with no VM left per a fresh check, may the node be powered off. Against the FakeCloud."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inventory import services
from inventory.models import PowerRequest, ServerDrain, ServerRole
from inventory.services import DrainRefused, PowerActionRefused
from portal.cloud import override
from portal.cloud.fake import FakeCloud
from portal.cloud.gateway import CloudRequestError, CloudUnavailable
from portal.models import AuditEvent
from portal.worker import OUTAGE_RETRIES, outage_backoff
from tests.factories import ServerFactory
from tests.matrix import check_matrix
from tests.polling import until_done

WAITING = "Waiting for the cloud, which cannot be reached right now; Kennel retries by itself."
pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    """The fake cloud with two VMs, ``web-1`` and ``web-2``, on host x4 (the other x86 hosts are
    disabled while they are scheduled, so they can land nowhere else)."""
    fake = FakeCloud()
    with override(fake):
        project = fake.find_project("alpha")
        assert project is not None
        fake.assign_role(user_id=fake.whoami().id, project_id=project.id, role="admin")
        image = next(i for i in fake.list_images() if i.architecture == "x86_64")
        flavor = next(f for f in fake.list_flavors() if f.name == "m1.tiny")
        for host in ("x2", "x3"):
            fake.set_compute_service_enabled(host, enabled=False, reason="test")
        for name in ("web-1", "web-2"):
            fake.create_server(project_id=project.id, name=name, image_id=image.id, flavor_id=flavor.id)
        # Each read moves the fake's time on: the scheduler places them.
        until_done(
            lambda: all(s.host is not None for s in fake.list_servers()), what="placing web-1 and web-2"
        )
        for host in ("x2", "x3"):
            fake.set_compute_service_enabled(host, enabled=True)
        assert {s.name for s in fake.list_servers_on_host("x4")} == {"web-1", "web-2"}
        yield fake


@pytest.fixture
def x4(settings):
    settings.KENNEL_POWER_COOLDOWN = 0
    return ServerFactory(
        name="X4",
        roles=[ServerRole.COMPUTE.value],
        hypervisor_hostname="x4",
        bmc_protocol="ipmi",
        bmc_address="127.0.0.1",
        bmc_port=623,
        bmc_username="ADMIN",
    )


def power_off(admin, server, action="hard_off"):
    return services.power_request_create(
        actor=admin, server=server, action=action, reason="replace PSU", confirm_name=server.name
    )


def drain(admin, server) -> ServerDrain:
    services.server_drain_request(actor=admin, server=server, reason="replace PSU")
    result = services.server_drain_advance(server_id=server.pk)
    assert result is not None
    return result


def empty_host(fake, host: str) -> None:
    for vm in fake.list_servers_on_host(host):
        fake.delete_server(vm.id)
    until_done(lambda: servers_on_host_after_a_tick(fake, host) == 0, what=f"emptying {host}")


def servers_on_host_after_a_tick(fake, host: str) -> int:
    """How many servers ``host`` holds once the fake's time moved on (each list_servers() moves it,
    and deletions finish as it does)."""
    fake.list_servers()
    return len(fake.list_servers_on_host(host))


def test_drain_disables_the_host_and_lists_its_vms(
    admin, fake, x4, eager_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.server_drain_request(actor=admin, server=x4, reason="replace PSU")
    row = ServerDrain.objects.get(server=x4)
    assert row.status == ServerDrain.Status.DRAINED
    assert (row.service_enabled, row.vm_names, row.vm_count) == (False, ["web-1", "web-2"], 2)
    assert row.checked_at is not None
    service = fake.compute_service("x4")
    assert service.enabled is False
    assert service.disabled_reason == "kennel: replace PSU (by admin)"
    assert AuditEvent.objects.filter(action="server.drain", actor=admin).exists()
    assert AuditEvent.objects.filter(action="server.drain_execute").exists()


def test_a_duplicated_drain_task_acts_once(admin, fake, x4):
    drain(admin, x4)
    assert services.server_drain_advance(server_id=x4.pk) is None


def test_power_off_of_a_compute_node_with_vms_is_refused_naming_them(admin, fake, x4):
    drain(admin, x4)
    for action in ("soft_off", "hard_off", "cycle", "reset"):
        with pytest.raises(PowerActionRefused, match="web-1, web-2"):
            power_off(admin, x4, action)
    assert power_off(admin, x4, "on").status == PowerRequest.Status.QUEUED


def test_power_off_of_an_undrained_compute_node_is_refused(admin, fake, x4):
    with pytest.raises(PowerActionRefused, match="drain first"):
        power_off(admin, x4)


def test_the_page_shows_vms_leaving_after_a_check(admin, fake, x4):
    drain(admin, x4)
    vm = next(s for s in fake.list_servers_on_host("x4") if s.name == "web-1")
    fake.delete_server(vm.id)
    until_done(lambda: servers_on_host_after_a_tick(fake, "x4") == 1, what="deleting web-1")
    assert services.server_drains_check_all() == 1
    client = Client()
    client.force_login(admin)
    page = client.get(f"/inventory/servers/{x4.pk}/").content.decode()
    assert "web-2" in page and "web-1" not in page


def test_power_off_is_accepted_once_drained_empty_and_freshly_checked(admin, fake, x4):
    drain(admin, x4)
    empty_host(fake, "x4")
    services.server_drains_check_all()
    assert power_off(admin, x4).status == PowerRequest.Status.QUEUED


def test_power_off_is_refused_when_the_check_is_stale(admin, fake, x4, settings):
    drain(admin, x4)
    empty_host(fake, "x4")
    services.server_drains_check_all()
    ServerDrain.objects.filter(server=x4).update(
        checked_at=timezone.now() - timedelta(seconds=settings.KENNEL_DRAIN_MAX_AGE + 1)
    )
    with pytest.raises(PowerActionRefused, match="too old"):
        power_off(admin, x4)


def test_undrain_enables_the_host_again_and_power_off_is_refused_again(admin, fake, x4):
    drain(admin, x4)
    empty_host(fake, "x4")
    services.server_undrain_request(actor=admin, server=x4)
    row = services.server_drain_advance(server_id=x4.pk)
    assert row is not None and row.status == ServerDrain.Status.UNDRAINED
    assert row.service_enabled is True
    assert fake.compute_service("x4").enabled is True
    with pytest.raises(PowerActionRefused, match="drain first"):
        power_off(admin, x4)


def test_a_cloud_error_other_than_an_outage_lands_on_the_row(admin, x4):
    with override(FakeCloud()) as fake:
        services.server_drain_request(actor=admin, server=x4, reason="r")
        fake.fail_next("set_compute_service_enabled", CloudRequestError("Service x4 is in maintenance"))
        row = services.server_drain_advance(server_id=x4.pk)
    assert row is not None
    said = "The cloud refused: Service x4 is in maintenance"
    assert (row.status, row.error) == (ServerDrain.Status.FAILED, said)
    # Stored as a message id with the cloud's words: shown in the reader's language, its words as they are.
    page = Client()
    page.force_login(admin)
    chinese = page.get(f"/inventory/servers/{x4.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    refused_zh = "云平台拒绝了操作\uff1aService x4 is in maintenance"
    assert refused_zh in chinese
    api = page.get(f"/api/v1/servers/{x4.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert api["drain"]["error"] == refused_zh


def test_during_an_outage_the_drain_waits_in_its_requested_state(admin, x4):
    with override(FakeCloud()) as fake:
        services.server_drain_request(actor=admin, server=x4, reason="r")
        fake.available = False
        with pytest.raises(CloudUnavailable):
            services.server_drain_advance(server_id=x4.pk)
        row = ServerDrain.objects.get(server=x4)
        assert (row.status, row.error) == (ServerDrain.Status.REQUESTED, WAITING)
        assert not AuditEvent.objects.filter(action="server.drain_execute").exists()
        page = Client()
        page.force_login(admin)
        assert "Kennel retries by itself" in page.get(f"/inventory/servers/{x4.pk}/").content.decode()

        fake.available = True
        row = services.server_drain_advance(server_id=x4.pk)
    assert row is not None
    assert (row.status, row.error, row.service_enabled) == (ServerDrain.Status.DRAINED, "", False)


class BackoffSpy:
    """Records the countdowns the task asks for, and returns them as the real backoff would."""

    def __init__(self):
        self.countdowns: list[float] = []

    def __call__(self, retries: int) -> float:
        self.countdowns.append(outage_backoff(retries))
        return self.countdowns[-1]


def test_the_task_retries_with_growing_backoff_and_completes_when_the_cloud_returns(
    admin, x4, eager_tasks, monkeypatch, django_capture_on_commit_callbacks
):
    spy = BackoffSpy()
    monkeypatch.setattr("portal.worker.outage.outage_backoff", spy)
    with override(FakeCloud()) as fake:
        # Three timeouts, the last one after Nova had acted (its answer lost): setting the flag again
        # is harmless.
        fake.fail_next("set_compute_service_enabled")
        fake.fail_next("set_compute_service_enabled")
        fake.fail_next("set_compute_service_enabled", after=True)
        with django_capture_on_commit_callbacks(execute=True):
            services.server_drain_request(actor=admin, server=x4, reason="r")
        row = ServerDrain.objects.get(server=x4)
        assert fake.compute_service("x4").enabled is False
    assert (row.status, row.error) == (ServerDrain.Status.DRAINED, "")
    assert len(spy.countdowns) == 3
    for retries, countdown in enumerate(spy.countdowns):
        assert 0.8 * 2 ** (retries + 1) <= countdown <= 1.2 * 2 ** (retries + 1)
    assert AuditEvent.objects.filter(action="server.drain_execute", outcome="success").count() == 1


def test_a_long_outage_ends_the_retries_and_the_resume_task_finishes_the_drain(
    admin, x4, eager_tasks, monkeypatch, django_capture_on_commit_callbacks
):
    spy = BackoffSpy()
    monkeypatch.setattr("portal.worker.outage.outage_backoff", spy)
    with override(FakeCloud()) as fake:
        fake.available = False
        with django_capture_on_commit_callbacks(execute=True):
            services.server_drain_request(actor=admin, server=x4, reason="r")
        assert len(spy.countdowns) == OUTAGE_RETRIES  # bounded: then the task gives up quietly
        row = ServerDrain.objects.get(server=x4)
        assert (row.status, row.error) == (ServerDrain.Status.REQUESTED, WAITING)

        assert services.server_drains_resume() == []  # not waiting long enough yet
        fake.available = True
        ServerDrain.objects.filter(server=x4).update(status_changed_at=timezone.now() - timedelta(minutes=6))
        assert services.server_drains_resume() == [x4.pk]
    row.refresh_from_db()
    assert (row.status, row.error, row.service_enabled) == (ServerDrain.Status.DRAINED, "", False)


def test_a_step_whose_worker_died_is_resumed(admin, fake, x4, eager_tasks):
    services.server_drain_request(actor=admin, server=x4, reason="r")
    ServerDrain.objects.filter(server=x4).update(
        status=ServerDrain.Status.DRAINING, status_changed_at=timezone.now() - timedelta(minutes=6)
    )
    assert services.server_drains_resume() == [x4.pk]
    assert ServerDrain.objects.get(server=x4).status == ServerDrain.Status.DRAINED
    assert services.server_drains_resume() == []


def test_only_compute_nodes_with_a_reason_are_drained_by_admins(admin, manager, fake, x4):
    outside = ServerFactory(name="NAS1")
    with pytest.raises(DrainRefused, match="compute node"):
        services.server_drain_request(actor=admin, server=outside, reason="r")
    with pytest.raises(DrainRefused, match="reason"):
        services.server_drain_request(actor=admin, server=x4, reason=" ")
    with pytest.raises(DrainRefused, match="admin"):
        services.server_drain_request(actor=manager, server=x4, reason="r")
    with pytest.raises(DrainRefused, match="never drained"):
        services.server_undrain_request(actor=admin, server=x4)
    assert not ServerDrain.objects.exists()
    assert AuditEvent.objects.filter(action="server.drain", outcome=AuditEvent.Outcome.DENIED).count() == 3


def test_drain_page_matrix(people, x4):
    check_matrix(
        people,
        f"/inventory/servers/{x4.pk}/drain/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302},
        method="post",
        data={"reason": "matrix"},
    )
    assert ServerDrain.objects.get(server=x4).requested_by == people["admin"]
    check_matrix(
        people,
        f"/inventory/servers/{x4.pk}/undrain/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302},
        method="post",
    )
    assert ServerDrain.objects.get(server=x4).status == ServerDrain.Status.UNDRAIN_REQUESTED


def test_the_drain_form_is_shown_to_admins_only(people, x4):
    for who, shown in (("manager", False), ("admin", True)):
        client = Client()
        client.force_login(people[who])
        page = client.get(f"/inventory/servers/{x4.pk}/").content.decode()
        assert ('data-testid="drain-form"' in page) is shown, who


def test_drain_api_matrix(people, x4):
    check_matrix(
        people,
        f"/api/v1/servers/{x4.pk}/drain/",
        {"anonymous": 401, "member": 404, "outsider": 404, "manager": 403, "admin": 202},
        method="post",
        data={"reason": "matrix"},
        api=True,
    )
    check_matrix(
        people,
        f"/api/v1/servers/{x4.pk}/undrain/",
        {"anonymous": 401, "member": 404, "outsider": 404, "manager": 403, "admin": 202},
        method="post",
        api=True,
    )


def test_drain_api_refusal_is_a_409_and_the_server_shows_its_drain(admin, x4):
    client = Client()
    client.force_login(admin)
    outside = ServerFactory(name="NAS1")
    response = client.post(
        f"/api/v1/servers/{outside.pk}/drain/", {"reason": "x"}, content_type="application/json"
    )
    assert response.status_code == 409
    assert "compute node" in response.json()["detail"]
    client.post(f"/api/v1/servers/{x4.pk}/drain/", {"reason": "x"}, content_type="application/json")
    body = client.get(f"/api/v1/servers/{x4.pk}/").json()
    assert body["drain"]["status"] == "requested"
    assert body["drain"]["requested_by"] == "admin"


def test_drained_is_shown_only_once_a_check_confirmed_the_service_disabled(admin, fake, x4):
    row = drain(admin, x4)
    assert row.status == ServerDrain.Status.DRAINED and row.confirmed
    client = Client()
    client.force_login(admin)
    status = '<td data-testid="drain-status">'
    assert f"{status}Drained" in client.get(f"/inventory/servers/{x4.pk}/").text

    # The worker set the flag but no check has seen it since (the cloud went away before the check).
    ServerDrain.objects.filter(pk=row.pk).update(status_changed_at=timezone.now(), checked_at=None)
    page = client.get(f"/inventory/servers/{x4.pk}/").text
    assert f"{status}Compute service being disabled; not confirmed yet" in page

    # Someone enabled it again in Nova, behind Kennel's back: the next check says so.
    fake.set_compute_service_enabled("x4", enabled=True)
    services.server_drain_check(server_id=x4.pk)
    page = client.get(f"/inventory/servers/{x4.pk}/").text
    assert f"{status}Not drained: the cloud shows the compute service enabled" in page
    drain_shown = client.get(f"/api/v1/servers/{x4.pk}/").json()["drain"]
    assert (drain_shown["status"], drain_shown["confirmed"]) == ("drained", False)
