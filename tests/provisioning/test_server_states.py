"""Two states, shown honestly: the server's state from the cloud is the VM's main badge everywhere (pages,
API, filters), the request's life cycle a second label while it matters, and only sensible actions are
offered and accepted."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from portal.cloud.gateway import ServerAction
from provisioning import services
from provisioning.models import VmRequest
from provisioning.server_states import action_allowed, server_state_for
from tests.fixtures.fake_cloud import flavor, image
from tests.polling import until_done

Status = VmRequest.Status


# --- the mapping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "task_state", "state"),
    [
        ("ACTIVE", None, "running"),
        ("SHUTOFF", None, "stopped"),
        ("ACTIVE", "powering-off", "stopping"),
        ("SHUTOFF", "powering-on", "starting"),
        ("REBOOT", "rebooting", "rebooting"),
        ("HARD_REBOOT", "rebooting_hard", "rebooting"),
        ("ACTIVE", "reboot_started_hard", "rebooting"),
        ("PAUSED", None, "paused"),
        ("SUSPENDED", None, "suspended"),
        ("SHELVED_OFFLOADED", None, "shelved"),
        ("RESIZE", "resize_migrating", "resizing"),
        ("VERIFY_RESIZE", None, "resized"),
        ("MIGRATING", "migrating", "migrating"),
        ("ACTIVE", "migrating", "migrating"),
        ("BUILD", "spawning", "building"),
        ("REBUILD", "rebuild_spawning", "rebuilding"),
        ("RESCUE", None, "rescue"),
        ("ERROR", None, "error"),
        ("ERROR", "deleting", "deleting"),
        ("ACTIVE", "deleting", "deleting"),
        ("DELETED", "deleting", "deleted"),
        ("SOFT_DELETED", None, "deleted"),
        ("UNKNOWN", None, "unknown"),
        ("SOMETHING_NEW", None, "unknown"),
        ("", None, ""),
    ],
)
def test_novas_status_and_task_state_map_to_the_state_shown(status, task_state, state):
    assert server_state_for(status, task_state) == state


CHANGES = ("resize", "rebuild", "snapshot")
LOCKS = ("lock", "unlock")


@pytest.mark.parametrize(
    ("state", "allowed"),
    [
        ("running", {"stop", "reboot_soft", "reboot_hard", "console", "console_log", *CHANGES, *LOCKS}),
        ("stopped", {"start", "reboot_hard", "console_log", *CHANGES, *LOCKS}),
        ("error", {"stop", "reboot_hard", "console_log", "rebuild", *LOCKS}),
        ("paused", {"reboot_hard", "console_log", *LOCKS}),
        ("rebooting", {"reboot_hard", "console_log", *LOCKS}),
        ("stopping", {"console_log", *LOCKS}),
        ("migrating", {"console_log", *LOCKS}),
        ("resized", {"confirm_resize", "revert_resize", "console_log", *LOCKS}),
        ("snapshotting", {"console_log", *LOCKS}),
        ("building", {*LOCKS}),
        ("deleted", set()),
        ("", set()),
    ],
)
def test_the_actions_that_make_sense_follow_novas_rules(state, allowed):
    # Whether locked or not is the VM's to say (VmRequest.may); here only the server's state counts.
    actions = {*(a.value for a in ServerAction), "console", "console_log", *CHANGES}
    assert {a for a in actions if action_allowed(state, a)} == allowed


# --- the services ---------------------------------------------------------------------------------------


def built(member, team, name="web1"):
    vm = services.vm_request_submit(
        actor=member, team=team, name=name, image=image(), flavor=flavor(), source="test"
    )
    until_done(lambda: services.vm_request_build_advance(request_id=vm.pk), what=f"building {vm.name}")
    vm.refresh_from_db()
    return vm


def act(vm, member, action):
    services.vm_action_request(actor=member, vm=vm, action=action, source="test")
    services.vm_action_advance(request_id=vm.pk, action=action)
    vm.refresh_from_db()
    return vm


@pytest.mark.django_db
def test_the_mirror_records_novas_status_task_state_and_the_state_they_mean(fake_cloud, member, team):
    vm = built(member, team)
    assert (vm.status, vm.server_status, vm.server_task_state, vm.server_state) == (
        "active",
        "ACTIVE",
        "",
        "running",
    )
    services.vm_action_request(actor=member, vm=vm, action=ServerAction.STOP, source="test")
    fake_cloud.auto_advance = False  # catch it mid-way: Nova says ACTIVE with task state powering-off
    services.vm_action_advance(request_id=vm.pk, action=ServerAction.STOP)
    vm.refresh_from_db()
    assert (vm.server_status, vm.server_task_state, vm.server_state) == ("ACTIVE", "powering-off", "stopping")
    fake_cloud.auto_advance = True
    services.vm_refresh(request_id=vm.pk)
    vm.refresh_from_db()
    # The request is still "active" (built); the server is stopped, and that is what shows first.
    assert (vm.status, vm.server_status, vm.server_state) == ("active", "SHUTOFF", "stopped")
    assert (vm.state, vm.state_label, vm.lifecycle_shown) == ("stopped", "Stopped", False)


@pytest.mark.django_db
def test_reconciliation_notices_a_server_stopped_outside_kennel(fake_cloud, member, team):
    vm = built(member, team)
    fake_cloud.server_action(vm.server_id, ServerAction.STOP)
    fake_cloud.list_servers()  # the fake's time moves on reads: the stop finishes
    assert services.vm_reconcile()["updated"] == 1
    vm.refresh_from_db()
    assert vm.server_state == "stopped"
    assert services.vm_reconcile()["updated"] == 0  # nothing changed since


@pytest.mark.django_db
def test_nonsensical_actions_are_refused_with_the_reason(fake_cloud, member, team):
    vm = built(member, team)
    with pytest.raises(services.VmStateConflict, match="web1 is already running"):
        services.vm_action_request(actor=member, vm=vm, action=ServerAction.START, source="test")
    vm = act(vm, member, ServerAction.STOP)
    assert vm.server_state == "stopped"
    with pytest.raises(services.VmStateConflict, match="web1 is already stopped"):
        services.vm_action_request(actor=member, vm=vm, action=ServerAction.STOP, source="test")
    with pytest.raises(services.VmStateConflict, match="cannot reboot web1 while it is stopped"):
        services.vm_action_request(actor=member, vm=vm, action=ServerAction.REBOOT_SOFT, source="test")
    with pytest.raises(services.VmStateConflict, match="console"):
        services.vm_console_request(actor=member, vm=vm, source="test")
    vm = act(vm, member, ServerAction.START)
    assert vm.server_state == "running"
    VmRequest.objects.filter(pk=vm.pk).update(server_status="REBOOT", server_state="rebooting")
    vm.refresh_from_db()
    with pytest.raises(services.VmStateConflict, match="web1 is rebooting right now; wait"):
        services.vm_action_request(actor=member, vm=vm, action=ServerAction.STOP, source="test")
    # A hard reboot is what Nova accepts while a soft one hangs.
    services.vm_action_request(actor=member, vm=vm, action=ServerAction.REBOOT_HARD, source="test")


@pytest.mark.django_db
def test_a_deleted_vm_shows_deleted_whatever_its_server_was(fake_cloud, member, team):
    vm = built(member, team)
    services.vm_delete_request(actor=member, vm=vm, source="test")
    vm.refresh_from_db()
    assert (vm.state, vm.lifecycle_shown) == ("running", True)  # the server still runs; being deleted
    until_done(lambda: services.vm_delete_advance(request_id=vm.pk), what=f"deleting {vm.name}")
    vm.refresh_from_db()
    assert (vm.status, vm.server_state, vm.state) == ("deleted", "deleted", "deleted")


@pytest.mark.django_db
def test_a_vm_deleted_outside_kennel_shows_deleted(fake_cloud, member, team):
    vm = built(member, team)
    fake_cloud.delete_server(vm.server_id)
    fake_cloud.list_servers()
    assert services.vm_reconcile()["vanished"] == 1
    vm.refresh_from_db()
    assert (vm.status, vm.server_state) == ("deleted", "deleted")


# --- pages ----------------------------------------------------------------------------------------------


@pytest.fixture
def client_of():
    from django.test import Client

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


def badge(html: str) -> str:
    """The main state badge's state, from the first ``data-state`` in ``html``."""
    start = html.index('data-testid="vm-state" data-state="') + len('data-testid="vm-state" data-state="')
    return html[start : html.index('"', start)]


@pytest.mark.django_db
def test_a_stopped_vm_never_wears_a_green_active_badge(fake_cloud, member, team, client_of):
    vm = act(built(member, team), member, ServerAction.STOP)
    client = client_of(member)
    listing = client.get(reverse("provisioning:vm-list")).content.decode()
    assert badge(listing) == "stopped" and "state-stopped" in listing
    table = client.get(reverse("provisioning:vm-list"), HTTP_HX_REQUEST="true").content.decode()
    assert "web1" in table and "badge-active" not in table and ">Active<" not in table
    page = client.get(reverse("provisioning:vm-detail", args=[vm.pk])).content.decode()
    assert badge(page) == "stopped" and ">Stopped<" in page and ">Active<" not in page
    # Only what makes sense for a stopped server is offered.
    assert 'data-testid="action-start"' in page and 'data-testid="action-reboot-hard"' in page
    assert 'data-testid="action-stop"' not in page and 'data-testid="action-reboot"' not in page
    assert 'data-testid="console"' not in page
    team_page = client.get(reverse("team-detail", args=[team.slug])).content.decode()
    assert badge(team_page) == "stopped" and "web1" in team_page


@pytest.mark.django_db
def test_a_running_vm_offers_stop_and_reboot_but_not_start(fake_cloud, member, team, client_of):
    vm = built(member, team)
    page = client_of(member).get(reverse("provisioning:vm-detail", args=[vm.pk])).content.decode()
    assert badge(page) == "running" and ">Running<" in page
    assert 'data-testid="action-stop"' in page and 'data-testid="action-reboot"' in page
    assert 'data-testid="action-start"' not in page and 'data-testid="console"' in page


@pytest.mark.django_db
def test_a_busy_server_offers_no_action_and_the_page_keeps_following_it(fake_cloud, member, team, client_of):
    vm = built(member, team)
    VmRequest.objects.filter(pk=vm.pk).update(
        server_status="ACTIVE", server_task_state="powering-off", server_state="stopping"
    )
    page = client_of(member).get(reverse("provisioning:vm-detail", args=[vm.pk])).content.decode()
    assert badge(page) == "stopping" and 'data-testid="no-actions"' in page
    assert 'hx-trigger="every 2s"' in page


@pytest.mark.django_db
def test_the_request_life_cycle_is_a_second_label_while_it_matters(fake_cloud, member, team, client_of):
    vm = built(member, team)
    VmRequest.objects.filter(pk=vm.pk).update(status=Status.DELETING)
    page = client_of(member).get(reverse("provisioning:vm-detail", args=[vm.pk])).content.decode()
    assert badge(page) == "running" and 'data-testid="vm-lifecycle"' in page and "request: Deleting" in page
    queued = services.vm_request_submit(
        actor=member, team=team, name="later", image=image(), flavor=flavor(), source="test"
    )
    page = client_of(member).get(reverse("provisioning:vm-detail", args=[queued.pk])).content.decode()
    assert badge(page) == "queued" and 'data-testid="vm-lifecycle"' not in page  # no server yet


@pytest.mark.django_db
def test_the_vm_list_filters_by_the_servers_state(fake_cloud, member, team, client_of):
    act(built(member, team, "off1"), member, ServerAction.STOP)
    built(member, team, "on1")
    client = client_of(member)
    stopped = client.get(reverse("provisioning:vm-list"), {"server_state": "stopped"}).content.decode()
    assert "off1" in stopped and "on1" not in stopped
    both = client.get(
        reverse("provisioning:vm-list"), {"server_state": ["stopped", "running"]}
    ).content.decode()
    assert "off1" in both and "on1" in both


@pytest.mark.django_db
def test_the_page_is_translated(fake_cloud, member, team, client_of):
    vm = act(built(member, team), member, ServerAction.STOP)
    client = client_of(member)
    page = client.get(reverse("provisioning:vm-detail", args=[vm.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "已停止" in page.content.decode()


# --- API ------------------------------------------------------------------------------------------------


@pytest.fixture
def api_of():
    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.mark.django_db
def test_the_api_exposes_both_states_and_the_sensible_actions(fake_cloud, member, team, api_of):
    vm = act(built(member, team), member, ServerAction.STOP)
    data = api_of(member).get(f"/api/v1/vms/{vm.pk}/").json()
    assert (data["state"], data["server_state"], data["status"], data["server_status"]) == (
        "stopped",
        "stopped",
        "active",
        "SHUTOFF",
    )
    assert data["server_task_state"] == "" and data["allowed_actions"] == [
        "console_log",
        "lock",
        "reboot_hard",
        "rebuild",
        "resize",
        "snapshot",
        "start",
    ]


@pytest.mark.django_db
def test_the_api_answers_409_to_a_nonsensical_action_and_400_to_a_dead_request(
    fake_cloud, member, team, api_of
):
    vm = built(member, team)
    api = api_of(member)
    refused = api.post(f"/api/v1/vms/{vm.pk}/action/", {"action": "start"}, format="json")
    assert refused.status_code == 409 and "already running" in refused.json()["detail"]
    accepted = api.post(f"/api/v1/vms/{vm.pk}/action/", {"action": "stop"}, format="json")
    assert accepted.status_code == 202
    VmRequest.objects.filter(pk=vm.pk).update(status=Status.FAILED)
    assert api.post(f"/api/v1/vms/{vm.pk}/action/", {"action": "stop"}, format="json").status_code == 400


@pytest.mark.django_db
def test_the_api_filters_by_the_servers_state(fake_cloud, member, team, api_of):
    act(built(member, team, "off1"), member, ServerAction.STOP)
    built(member, team, "on1")
    api = api_of(member)
    names = [vm["name"] for vm in api.get("/api/v1/vms/", {"server_state": "stopped"}).json()["results"]]
    assert names == ["off1"]
    bad = api.get("/api/v1/vms/", {"server_state": "asleep"})
    assert bad.status_code == 400


@pytest.mark.django_db
def test_the_schema_documents_both_fields_with_their_choices(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    vm = schema["components"]["schemas"]["Vm"]["properties"]
    enums = schema["components"]["schemas"]
    assert set(enums["ServerStateEnum"]["enum"]) >= {"running", "stopped", "paused", "suspended", "rebooting"}
    assert "queued" in enums["VmStatusEnum"]["enum"] and "running" not in enums["VmStatusEnum"]["enum"]
    assert "life cycle" in vm["status"]["description"] and "Nova" in vm["server_state"]["description"]
    parameters = schema["paths"]["/api/v1/vms/"]["get"]["parameters"]
    assert any(p["name"] == "server_state" for p in parameters)
    assert "409" in schema["paths"]["/api/v1/vms/{id}/action/"]["post"]["responses"]


@pytest.mark.django_db
def test_servers_made_outside_kennel_show_their_state_too(fake_cloud, member, team, client_of):
    outside = fake_cloud.create_server(
        project_id=team.openstack_project_id,
        name="by-hand",
        image_id=image().cloud_id,
        flavor_id=flavor().cloud_id,
    )
    fake_cloud.list_servers()  # scheduled
    fake_cloud.list_servers()  # running
    fake_cloud.server_action(outside.id, ServerAction.STOP)
    fake_cloud.list_servers()
    services.vm_reconcile()
    page = client_of(member).get(reverse("provisioning:vm-list")).content.decode()
    table = page[page.index('data-testid="unmanaged-table"') :]
    assert "by-hand" in table and 'class="badge state-stopped">Stopped<' in table
