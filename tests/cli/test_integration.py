"""``kennel vm request --wait`` end to end: the installed script, a live Kennel over HTTP, a real Celery
worker and the real local OpenStack. The VM is deleted again whatever happens."""

from __future__ import annotations

import re

import pytest

from portal.cloud import cloud
from portal.models import User
from provisioning import services
from provisioning.models import VmRequest
from tests.live import celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
X86_HOSTS = {"x2", "x3", "x4"}
STEP = re.compile(r"^\d\d:\d\d:\d\d  (queued|building|active)\s+\S")


def status_of(vm: VmRequest) -> str:
    vm.refresh_from_db()
    return vm.status


def test_request_with_wait_follows_the_build_to_active_then_delete_times_out_waiting(
    kennel, live_server, demo
):
    login = kennel("login", live_server.url, "-u", "dev1", "--password-stdin", input=demo["dev1"] + "\n")
    assert login.code == 0, login.err
    with celery_worker():
        try:
            done = kennel(
                "vm",
                "request",
                "--arch",
                "x86_64",
                "--image",
                "cirros-0.6-x86_64",
                "--flavor",
                "m1.tiny",
                "--name",
                "cli-wait",
                "--wait",
                "--wait-timeout",
                "240",
                "--interval",
                "0.5",
                timeout=300,
            )
            vm = VmRequest.objects.get(name="cli-wait")
            assert done.code == 0, (done.out, done.err, vm.status_message)
            lines = done.out.splitlines()
            assert lines[0] == f"Requested cli-wait (id {vm.pk}, x86_64) for team alpha."
            steps = [line for line in lines if STEP.match(line)]
            # Every step of the VM's history, each printed once, in order; nothing else in between.
            assert len(steps) == vm.events.count() == len(lines) - 2
            assert steps[0].split()[1] == "queued" and steps[-1].split()[1] == "active"
            assert lines[-1].startswith(f"cli-wait is active on {vm.host}: ") and vm.host in X86_HOSTS
            assert cloud().get_server(vm.server_id).host == vm.host  # the cloud agrees

            listed = kennel("vm", "list", "--json").json()
            assert [(v["name"], v["status"]) for v in listed] == [("cli-wait", "active")]

            # Deleting takes the cloud a few seconds: a half-second wait gives up with exit code 6.
            impatient = kennel("vm", "delete", "cli-wait", "--yes", "--wait", "--wait-timeout", "0.5")
            assert impatient.code == 6, impatient.err
            assert "is still deleting after" in impatient.err and f"kennel vm show {vm.pk}" in impatient.err
            eventually(lambda: status_of(vm), lambda s: s == "deleted", timeout=120, what="deleting cli-wait")
            assert kennel("vm", "show", "cli-wait", "--json").json()["status"] == "deleted"
        finally:
            leftover = VmRequest.objects.filter(name="cli-wait").exclude(status="deleted").first()
            if leftover is not None:
                if leftover.status != VmRequest.Status.DELETING:
                    services.vm_delete_request(
                        actor=User.objects.get(username="dev1"), vm=leftover, source="test"
                    )
                eventually(lambda: status_of(leftover), lambda s: s == "deleted", timeout=120, what="cleanup")
    assert (
        cloud().find_servers_by_metadata(
            project_id=vm.team.openstack_project_id, key=services.METADATA_KEY, value=str(vm.pk)
        )
        == []
    )
