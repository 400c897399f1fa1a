"""``kennel vm``: several VMs at once, resize with confirm, lock, snapshot and a VM from it. The real
script against a live Kennel, the fake cloud, tasks run eagerly."""

from __future__ import annotations

import pytest

from provisioning.models import VmRequest

pytestmark = pytest.mark.django_db(transaction=True)


def test_several_vms_resize_confirm_lock_and_snapshot(kennel, logged_in, member, fake_cloud, eager_tasks):
    logged_in(member)
    many = kennel(
        "vm",
        "request",
        "--image",
        "cirros-0.6-x86_64",
        "--flavor",
        "m1.tiny",
        "--name",
        "web",
        "--count",
        "3",
    )
    assert many.code == 0, many.err
    assert sorted(VmRequest.objects.values_list("name", flat=True)) == ["web-1", "web-2", "web-3"]
    assert "Requested web-3" in many.out

    resized = kennel("vm", "resize", "web-1", "--flavor", "m1.small")
    assert resized.code == 0, resized.err
    fake_cloud.settle()
    assert kennel("vm", "show", "web-1", "--json").json()["flavor_name"] in ("m1.tiny", "m1.small")
    kennel("vm", "list")  # nothing to assert: the mirror follows the server below
    from provisioning import services

    vm = services.vm_refresh(request_id=VmRequest.objects.get(name="web-1").pk)
    assert vm.server_state == "resized"
    confirmed = kennel("vm", "confirm-resize", "web-1")
    assert confirmed.code == 0, confirmed.err
    fake_cloud.settle()
    vm = services.vm_refresh(request_id=vm.pk)
    assert (vm.server_state, vm.flavor_name) == ("running", "m1.small")

    assert kennel("vm", "lock", "web-2").code == 0
    assert "(locked)" in kennel("vm", "show", "web-2").out
    refused = kennel("vm", "stop", "web-2")
    assert refused.code == 5 and "web-2 is locked against changes; unlock it first." in refused.err
    assert kennel("vm", "unlock", "web-2").code == 0

    snap = kennel("vm", "snapshot", "web-3", "--name", "web-gold", "--wait", "--interval", "0.2")
    assert snap.code == 0, snap.err
    assert "Snapshot web-gold is ready" in snap.out
    images = kennel("image", "list", "--arch", "x86_64", "--json")
    assert "web-gold" in [i["name"] for i in images.json()]
    again = kennel("vm", "request", "--image", "web-gold", "--flavor", "m1.tiny", "--name", "from-gold")
    assert again.code == 0, again.err
    assert VmRequest.objects.get(name="from-gold").image_name == "web-gold"
