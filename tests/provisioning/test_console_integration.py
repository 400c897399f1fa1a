"""Against the local OpenStack: a VM's state follows the real server (stopped shows Stopped, started
Running), its console link answers over HTTP (devcloud runs nova-novncproxy) and its console log is what
Nova's fake driver prints. The workers' steps are called in this process, one after the other."""

from __future__ import annotations

import time
import urllib.request

import pytest

from portal.cloud.gateway import ServerAction
from portal.services import team_link_project
from provisioning import services
from provisioning.models import VmRequest
from tests.fixtures.fake_cloud import flavor, image, offer_every_image
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def vm(member, team):
    team_link_project(actor=None, team=team, project="alpha")
    services.catalog_refresh()
    offer_every_image()
    vm = services.vm_request_submit(
        actor=member, team=team, name="it-console", image=image(), flavor=flavor(), source="test"
    )
    deadline = time.monotonic() + 120
    while not services.vm_request_build_advance(request_id=vm.pk):
        assert time.monotonic() < deadline, "the VM did not build within 120 s"
        time.sleep(0.5)
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.ACTIVE, vm.status_message
    yield vm
    services.vm_delete_request(actor=member, vm=vm, source="test")
    deadline = time.monotonic() + 90
    while not services.vm_delete_advance(request_id=vm.pk) and time.monotonic() < deadline:
        time.sleep(0.5)


def settle(vm, want, timeout=60):
    def look() -> str:
        services.vm_refresh(request_id=vm.pk)
        vm.refresh_from_db()
        return vm.server_state

    eventually(look, lambda state: state == want, timeout=timeout, what=f"{vm.name}'s state (want {want})")
    return vm


def test_the_state_follows_the_server_and_the_console_link_answers(member, vm):
    assert vm.server_state == "running"
    services.vm_action_request(actor=member, vm=vm, action=ServerAction.STOP, source="test")
    services.vm_action_advance(request_id=vm.pk, action=ServerAction.STOP)
    vm = settle(vm, "stopped")
    assert (vm.status, vm.server_status, vm.server_state) == ("active", "SHUTOFF", "stopped")
    with pytest.raises(services.VmStateConflict):
        services.vm_console_request(actor=member, vm=vm, source="test")
    services.vm_action_request(actor=member, vm=vm, action=ServerAction.START, source="test")
    services.vm_action_advance(request_id=vm.pk, action=ServerAction.START)
    vm = settle(vm, "running")
    assert vm.server_state == "running"

    services.vm_console_request(actor=member, vm=vm, source="test")
    started = time.monotonic()
    services.vm_console_advance(request_id=vm.pk)
    took = time.monotonic() - started
    vm.refresh_from_db()
    assert vm.console_error == "" and vm.console_url.startswith("http://127.0.0.1:6080/"), vm.console_error
    with urllib.request.urlopen(vm.console_url, timeout=10) as page:  # noqa: S310 (the devcloud's proxy)
        body = page.read().decode()
        assert page.status == 200 and "noVNC" in body
    print(f"\nconsole URL from Nova, proxy checked: {took:.2f} s")

    services.vm_console_log_request(actor=member, vm=vm, source="test")
    services.vm_console_log_advance(request_id=vm.pk)
    vm.refresh_from_db()
    assert vm.console_log == "FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE" and vm.console_log_at is not None
