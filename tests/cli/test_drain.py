"""``kennel host drain --migrate --wait`` against a live Kennel with the fake cloud (tasks run eagerly)."""

from __future__ import annotations

import pytest

from inventory.models import ServerDrain, ServerRole
from tests.factories import ServerFactory
from tests.fixtures.fake_cloud import place

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_drains_a_host_moving_its_vms_and_follows_each_one(
    kennel, logged_in, admin, member, fake_cloud, eager_tasks
):
    ServerFactory(name="x4", roles=[ServerRole.COMPUTE.value], hypervisor_hostname="x4")
    place(fake_cloud, "x4", ["web-1", "web-2"])
    logged_in(member)
    refused = kennel("host", "drain", "x4", "--reason", "r", "--migrate")
    assert refused.code == 5 and "you (member) are a developer" in refused.err
    logged_in(admin)
    done = kennel("host", "drain", "x4", "--reason", "replace PSU", "--migrate", "--wait")
    assert done.code == 0, done.err
    hosts = {s.name: s.host for s in fake_cloud.list_servers()}
    assert f"  web-1: moved to {hosts['web-1']}" in done.out
    assert f"  web-2: moved to {hosts['web-2']}" in done.out
    assert "x4: drained, 2 of 2 VMs moved; no VM left on the host" in done.out
    assert set(hosts.values()) <= {"x2", "x3"}
    shown = kennel("host", "show", "x4", "--json").json()
    assert [m["status"] for m in shown["drain"]["moves"]] == ["moved", "moved"]
    again = kennel("host", "undrain", "x4")
    assert again.code == 0 and ServerDrain.objects.get().status == ServerDrain.Status.UNDRAINED


def test_a_vm_that_cannot_move_is_named_with_the_reason_and_the_exit_code_says_so(
    kennel, logged_in, admin, fake_cloud, eager_tasks
):
    ServerFactory(
        name="p1", architecture="ppc64le", roles=[ServerRole.COMPUTE.value], hypervisor_hostname="p1"
    )
    place(fake_cloud, "p1", ["power-1"], arch="ppc64le")
    logged_in(admin)
    done = kennel("host", "drain", "p1", "--reason", "firmware", "--migrate", "--wait")
    assert done.code == 1, done.err
    assert "  power-1: could not move: No other enabled ppc64le host: p1 is the only one" in done.out
    assert "p1: drained, 0 of 1 VMs moved; still on the host: power-1" in done.out
