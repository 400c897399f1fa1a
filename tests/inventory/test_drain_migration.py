"""Drains that move the VMs off: live migration one VM at a time, never across architectures, VMs
that cannot move listed with the reason, resumable after an outage. Against the FakeCloud."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from inventory import drain_migration, services
from inventory.models import DrainMove, PowerRequest, ServerDrain, ServerRole
from inventory.services import DrainRefused, PowerActionRefused
from kennel.celery import app
from portal.cloud import override
from portal.cloud.fake import FakeCloud
from portal.cloud.gateway import CloudUnavailable, ServerAction
from portal.models import AuditEvent
from tests.factories import ServerFactory
from tests.fixtures.fake_cloud import place
from tests.matrix import check_matrix
from tests.polling import until_done

pytestmark = pytest.mark.django_db

X86 = {"x2", "x3", "x4"}


@pytest.fixture
def fake():
    fake = FakeCloud()
    with override(fake):
        yield fake


def compute(name: str, host: str, arch: str = "x86_64"):
    return ServerFactory(
        name=name,
        architecture=arch,
        roles=[ServerRole.COMPUTE.value],
        hypervisor_hostname=host,
        bmc_protocol="ipmi",
        bmc_address="127.0.0.1",
        bmc_port=623,
        bmc_username="ADMIN",
    )


@pytest.fixture
def x4(settings):
    settings.KENNEL_POWER_COOLDOWN = 0
    return compute("X4", "x4")


def drain_with_moves(admin, server, django_capture_on_commit_callbacks) -> ServerDrain:
    with django_capture_on_commit_callbacks(execute=True):
        services.server_drain_request(actor=admin, server=server, reason="replace PSU", migrate=True)
    return ServerDrain.objects.get(server=server)


def test_a_host_with_three_vms_is_emptied_onto_hosts_of_its_architecture_then_may_be_powered_off(
    admin, fake, x4, eager_tasks, django_capture_on_commit_callbacks
):
    place(fake, "x4", ["web-1", "web-2", "web-3"])
    drain = drain_with_moves(admin, x4, django_capture_on_commit_callbacks)

    assert drain.status == ServerDrain.Status.DRAINED
    assert (drain.service_enabled, drain.vm_names) == (False, [])
    moves = list(drain.moves.all())
    assert [(m.name, m.status) for m in moves] == [(f"web-{i}", DrainMove.Status.MOVED) for i in (1, 2, 3)]
    assert all(m.target_host in X86 - {"x4"} and m.finished_at for m in moves)
    assert {s.name: s.host for s in fake.list_servers()} == {m.name: m.target_host for m in moves}
    assert fake.list_servers_on_host("x4") == []
    event = AuditEvent.objects.get(action="server.drain_migrate")
    assert event.outcome == AuditEvent.Outcome.SUCCESS and set(event.detail["moved"]) == {
        "web-1",
        "web-2",
        "web-3",
    }
    with django_capture_on_commit_callbacks(execute=False):
        power = services.power_request_create(
            actor=admin, server=x4, action="hard_off", reason="replace PSU", confirm_name="X4"
        )
    assert power.status == PowerRequest.Status.QUEUED


def test_vms_are_moved_one_at_a_time_with_progress_per_vm(admin, x4, django_capture_on_commit_callbacks):
    fake = FakeCloud(auto_advance=False)
    with override(fake):
        place(fake, "x4", ["a", "b"])
        with django_capture_on_commit_callbacks(execute=False):
            services.server_drain_request(actor=admin, server=x4, reason="r", migrate=True)
        services.server_drain_advance(server_id=x4.pk)
        drain = ServerDrain.objects.get(server=x4)
        assert drain.status == ServerDrain.Status.MIGRATING

        def statuses():
            return [m.status for m in drain.moves.all()]

        assert drain_migration.server_drain_migrate_step(server_id=x4.pk) is not None
        assert statuses() == ["migrating", "waiting"]
        # Nova has not finished: the next steps follow it and start nothing else.
        drain_migration.server_drain_migrate_step(server_id=x4.pk)
        drain_migration.server_drain_migrate_step(server_id=x4.pk)
        assert statuses() == ["migrating", "waiting"]
        assert sum(len(fake.list_server_migrations(s.id)) for s in fake.list_servers()) == 1
        fake.tick()
        drain_migration.server_drain_migrate_step(server_id=x4.pk)
        assert statuses() == ["moved", "waiting"]
        drain_migration.server_drain_migrate_step(server_id=x4.pk)
        assert statuses() == ["moved", "migrating"]
        fake.tick()
        drain_migration.server_drain_migrate_step(server_id=x4.pk)
        assert drain_migration.server_drain_migrate_step(server_id=x4.pk) is None
        drain.refresh_from_db()
        assert statuses() == ["moved", "moved"] and drain.status == ServerDrain.Status.DRAINED


def test_vms_that_cannot_move_are_listed_with_the_reason_and_keep_the_host_from_power_off(
    admin, fake, eager_tasks, settings, django_capture_on_commit_callbacks
):
    settings.KENNEL_POWER_COOLDOWN = 0
    p1 = compute("P1", "p1", arch="ppc64le")
    place(fake, "p1", ["power-1"], arch="ppc64le")
    drain = drain_with_moves(admin, p1, django_capture_on_commit_callbacks)
    move = drain.moves.get()
    assert move.status == DrainMove.Status.FAILED
    assert "No other enabled ppc64le host: p1 is the only one" in move.reason and move.target_host == ""
    assert drain.status == ServerDrain.Status.DRAINED and drain.vm_names == ["power-1"]
    assert fake.get_server(fake.list_servers()[0].id).host == "p1"
    assert AuditEvent.objects.get(action="server.drain_migrate").outcome == AuditEvent.Outcome.FAILURE
    with pytest.raises(PowerActionRefused, match="power-1"):
        services.power_request_create(
            actor=admin, server=p1, action="hard_off", reason="r", confirm_name="P1"
        )


def test_a_stopped_vm_is_not_live_migrated_and_says_why(
    admin, fake, x4, eager_tasks, django_capture_on_commit_callbacks
):
    place(fake, "x4", ["idle", "busy"])
    idle = next(s for s in fake.list_servers() if s.name == "idle")
    fake.server_action(idle.id, ServerAction.STOP)
    fake.settle()
    drain = drain_with_moves(admin, x4, django_capture_on_commit_callbacks)
    moves = {m.name: m for m in drain.moves.all()}
    assert moves["busy"].status == DrainMove.Status.MOVED
    assert (
        moves["idle"].status == DrainMove.Status.FAILED
        and "It is SHUTOFF: only a running VM" in moves["idle"].reason
    )
    assert drain.vm_names == ["idle"]


def test_no_other_enabled_host_of_the_architecture_is_a_reason_too(
    admin, fake, x4, django_capture_on_commit_callbacks
):
    place(fake, "x4", ["big"])
    for host in ("x2", "x3"):
        fake.set_compute_service_enabled(host, enabled=False, reason="maintenance")
    drain = drain_with_moves(admin, x4, django_capture_on_commit_callbacks)
    services.server_drain_advance(server_id=x4.pk)
    until_done(
        lambda: drain_migration.server_drain_migrate_step(server_id=x4.pk) is None, what="moving x4's VMs off"
    )
    assert "No other enabled x86_64 host: x4" in drain.moves.get().reason


def test_an_outage_is_waited_out_and_a_lost_answer_does_not_move_twice(
    admin, fake, x4, django_capture_on_commit_callbacks
):
    place(fake, "x4", ["web-1", "web-2"])
    with django_capture_on_commit_callbacks(execute=False):
        services.server_drain_request(actor=admin, server=x4, reason="r", migrate=True)
        services.server_drain_advance(server_id=x4.pk)
    fake.available = False
    with pytest.raises(CloudUnavailable):
        drain_migration.server_drain_migrate_step(server_id=x4.pk)
    drain = ServerDrain.objects.get(server=x4)
    assert drain.status == ServerDrain.Status.MIGRATING and "Waiting for the cloud" in drain.error
    fake.available = True
    # Nova takes the move but the answer is lost on the way back.
    fake.fail_next("live_migrate_server", after=True)
    with pytest.raises(CloudUnavailable):
        drain_migration.server_drain_migrate_step(server_id=x4.pk)
    # A worker died meanwhile: the resume task finds the drain without a step and restarts it.
    ServerDrain.objects.filter(pk=drain.pk).update(status_changed_at=timezone.now() - timedelta(minutes=10))
    app.conf.task_always_eager = True
    try:
        assert x4.pk in services.server_drains_resume()
    finally:
        app.conf.task_always_eager = False
    drain.refresh_from_db()
    assert drain.status == ServerDrain.Status.DRAINED and drain.error == ""
    assert [m.status for m in drain.moves.all()] == ["moved", "moved"]
    for server in fake.list_servers():
        assert len(fake.list_server_migrations(server.id)) == 1, "each VM was asked to move once"


def test_undrain_and_a_second_drain_wait_while_vms_are_moved(
    admin, fake, x4, django_capture_on_commit_callbacks
):
    place(fake, "x4", ["web-1"])
    with django_capture_on_commit_callbacks(execute=False):
        services.server_drain_request(actor=admin, server=x4, reason="r", migrate=True)
        services.server_drain_advance(server_id=x4.pk)
    with pytest.raises(DrainRefused, match="being moved"):
        services.server_undrain_request(actor=admin, server=x4)
    with pytest.raises(DrainRefused, match="being moved"):
        services.server_drain_request(actor=admin, server=x4, reason="again", migrate=True)
    assert AuditEvent.objects.filter(action="server.undrain", outcome=AuditEvent.Outcome.DENIED).exists()


def test_a_drain_without_migrate_leaves_the_vms_where_they_are(
    admin, fake, x4, eager_tasks, django_capture_on_commit_callbacks
):
    place(fake, "x4", ["web-1"])
    with django_capture_on_commit_callbacks(execute=True):
        services.server_drain_request(actor=admin, server=x4, reason="r")
    drain = ServerDrain.objects.get(server=x4)
    assert drain.status == ServerDrain.Status.DRAINED and drain.vm_names == ["web-1"]
    assert not drain.moves.exists()


def test_the_drain_with_migration_matrix_page_and_api(people, fake, x4):
    check_matrix(
        people,
        f"/inventory/servers/{x4.pk}/drain/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302},
        method="post",
        data={"reason": "matrix", "migrate": "on"},
    )
    assert ServerDrain.objects.get(server=x4).migrate is True
    ServerDrain.objects.all().delete()
    check_matrix(
        people,
        f"/api/v1/servers/{x4.pk}/drain/",
        {"anonymous": 401, "member": 404, "outsider": 404, "manager": 403, "admin": 202},
        method="post",
        data={"reason": "matrix", "migrate": True},
        api=True,
    )
    assert ServerDrain.objects.get(server=x4).migrate is True
    # The drain's live section, as the page polls it: managers read it, developers get nothing.
    check_matrix(
        people,
        f"/inventory/servers/{x4.pk}/",
        {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200},
    )


def test_the_page_and_the_api_show_each_vms_move_and_poll_only_while_working(
    admin, fake, x4, django_capture_on_commit_callbacks
):
    place(fake, "x4", ["web-1", "web-2"])
    with django_capture_on_commit_callbacks(execute=False):
        services.server_drain_request(actor=admin, server=x4, reason="r", migrate=True)
        services.server_drain_advance(server_id=x4.pk)
    drain_migration.server_drain_migrate_step(server_id=x4.pk)  # web-1 under way, web-2 waiting
    client = Client()
    client.force_login(admin)
    live = client.get(f"/inventory/servers/{x4.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="drain")
    html = live.content.decode()
    assert html.startswith('<section id="drain"') and 'hx-trigger="every 2s"' in html
    assert 'data-state="migrating"' in html and 'data-state="waiting"' in html
    until_done(
        lambda: drain_migration.server_drain_migrate_step(server_id=x4.pk) is None, what="moving x4's VMs off"
    )
    html = client.get(
        f"/inventory/servers/{x4.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="drain"
    ).content.decode()
    assert "hx-trigger" not in html, "polling stops once the drain is finished"
    moved_to = {m.name: m.target_host for m in ServerDrain.objects.get(server=x4).moves.all()}
    assert f"moved to {moved_to['web-1']}" in html and "2 of 2 VMs moved." in html
    body = client.get(f"/api/v1/servers/{x4.pk}/").json()["drain"]
    assert body["status"] == "drained" and body["migrate"] is True and body["vm_names"] == []
    assert [(m["name"], m["status"], m["target_host"]) for m in body["moves"]] == [
        ("web-1", "moved", moved_to["web-1"]),
        ("web-2", "moved", moved_to["web-2"]),
    ]
