"""Floating IPs against the real local OpenStack, with a real Celery worker: a VM's address is released
with the VM, and the team's floating-IP usage (Neutron's count, as the quota page shows it) is back
where it was."""

from __future__ import annotations

import time

import pytest

from portal.cloud import cloud
from portal.cloud.gateway import QuotaService
from provisioning import floating_ips, services
from provisioning.models import CloudFloatingIp, VmRequest
from quotas.selectors import team_quota_table
from quotas.services import quota_sync
from tests.live import celery_worker
from tests.polling import eventually
from tests.provisioning.test_integration import delete_and_wait, request_vm, status_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
Status = VmRequest.Status


def kennel_usage(team) -> int:
    quota_sync(team_ids=[team.pk])
    line = team_quota_table(team).line("floating_ips")
    assert line is not None
    return line.used


def neutron_usage(team) -> int:
    return cloud().get_quota_usage(team.openstack_project_id, QuotaService.NETWORK)["floatingip"]


def test_deleting_a_vm_releases_its_floating_ip_and_the_usage_is_back(member, linked_team):
    before = (neutron_usage(linked_team), kennel_usage(linked_team))
    with celery_worker():
        vm = request_vm(member, linked_team, "it-fip", "x86_64")
        eventually(
            lambda: status_of(vm), lambda s: s in (Status.ACTIVE, Status.FAILED), timeout=120, what="build"
        )
        assert status_of(vm) == Status.ACTIVE, vm.status_message
        services.vm_floating_ip_request(actor=member, vm=vm, attach=True, source="test")

        def address():
            vm.refresh_from_db()
            return vm.floating_ip

        ip = eventually(address, bool, timeout=60, what="attaching a floating IP")
        held = {f.address: f for f in cloud().list_floating_ips(project_id=linked_team.openstack_project_id)}
        assert held[ip].server_id == vm.server_id
        assert (neutron_usage(linked_team), kennel_usage(linked_team)) == (before[0] + 1, before[1] + 1)
        floating_ips.floating_ips_refresh()
        row = CloudFloatingIp.objects.get(address=ip)
        assert (row.team, row.vm) == (linked_team, vm)

        started = time.monotonic()
        delete_and_wait(member, vm)
        print(f"\ndelete with its floating IP released: {time.monotonic() - started:.1f} s")
    assert ip not in {f.address for f in cloud().list_floating_ips()}, "Neutron still holds the address"
    line = team_quota_table(linked_team).line("floating_ips")  # read again by the worker, no sync here
    assert line is not None and (neutron_usage(linked_team), line.used) == before
    assert any(e.message == f"Floating IP {ip} released." for e in vm.events.all())
    assert not CloudFloatingIp.objects.filter(address=ip).exists()
