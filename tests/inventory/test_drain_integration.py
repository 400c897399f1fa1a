"""Draining against the real local OpenStack: Nova's compute service on x4 is disabled, then enabled."""

from __future__ import annotations

import pytest

from inventory import drain_migration, services
from inventory.models import DrainMove, PowerRequest, ServerDrain, ServerRole
from portal.cloud import cloud
from tests.factories import ServerFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_drain_and_undrain_x4_on_the_local_cloud(admin):
    x4 = ServerFactory(name="X4", roles=[ServerRole.COMPUTE.value], hypervisor_hostname="x4")
    try:
        services.server_drain_request(actor=admin, server=x4, reason="integration test")
        row = services.server_drain_advance(server_id=x4.pk)
        assert row is not None and row.status == ServerDrain.Status.DRAINED, row and row.error
        assert cloud().compute_service("x4").enabled is False
        assert row.service_enabled is False
        services.server_undrain_request(actor=admin, server=x4)
        row = services.server_drain_advance(server_id=x4.pk)
        assert row is not None and row.status == ServerDrain.Status.UNDRAINED, row and row.error
        assert cloud().compute_service("x4").enabled is True
    finally:
        # Whatever failed, x4 goes back in service: other tests schedule VMs there.
        cloud().set_compute_service_enabled("x4", enabled=True)


def test_a_host_with_three_vms_is_drained_onto_hosts_of_its_architecture_on_the_local_cloud(admin, settings):
    """Three VMs placed on one x86_64 host (the least busy, so the drain moves as few VMs of other
    tests as possible) are moved off one at a time by Nova's live migration; all end on other x86_64
    hosts, and the host then accepts a power action. Prints the time the moves took."""
    import os
    import time
    import uuid

    import openstack

    settings.KENNEL_POWER_COOLDOWN = 0
    conn = openstack.connect(cloud=os.environ.get("OS_CLOUD", "kennel-admin"))
    gateway = cloud()
    x86 = {p.name for p in gateway.list_resource_providers() if p.architecture == "x86_64"}
    load = {h: len(gateway.list_servers_on_host(h)) for h in sorted(x86)}
    host = min(load, key=lambda h: load[h])
    image = next(
        i for i in gateway.list_images() if i.architecture == "x86_64" and i.name.startswith("cirros")
    )
    tiny = next(f for f in gateway.list_flavors() if f.name == "m1.tiny")
    tag = uuid.uuid4().hex[:6]
    made = [
        conn.compute.create_server(
            name=f"drain-{tag}-{i}",
            image_id=image.id,
            flavor_id=tiny.id,
            networks="none",
            availability_zone=f"dc1:{host}",  # admins may name the host
        )
        for i in (1, 2, 3)
    ]
    ids = {s.id for s in made}
    server = ServerFactory(
        name=host.upper(),
        roles=[ServerRole.COMPUTE.value],
        hypervisor_hostname=host,
        bmc_protocol="ipmi",
        bmc_address="127.0.0.1",
        bmc_port=623,
        bmc_username="ADMIN",
    )
    try:
        for s in made:
            conn.compute.wait_for_server(s, wait=120, interval=1)
        assert ids <= {s.id for s in gateway.list_servers_on_host(host)}
        services.server_drain_request(actor=admin, server=server, reason="integration: drain", migrate=True)
        started = time.monotonic()
        row = services.server_drain_advance(server_id=server.pk)
        assert row is not None and row.status == ServerDrain.Status.MIGRATING, row and row.error
        while (delay := drain_migration.server_drain_migrate_step(server_id=server.pk)) is not None:
            assert time.monotonic() - started < 300, "the drain did not finish within 5 minutes"
            time.sleep(delay)
        took = time.monotonic() - started
        row = ServerDrain.objects.get(server=server)
        moves = {m.server_id: m for m in row.moves.all()}
        print(f"\ndrain of {host} with {len(moves)} VMs ({len(ids)} of this test): moved off in {took:.1f} s")
        assert row.status == ServerDrain.Status.DRAINED
        for server_id in ids:
            move = moves[server_id]
            assert move.status == DrainMove.Status.MOVED, move.reason
            landed = gateway.get_server(server_id)
            assert landed.host == move.target_host and landed.host in x86 - {host}
            assert landed.status == "ACTIVE"
        assert not ids & {s.id for s in gateway.list_servers_on_host(host)}
        names = {m.name for m in moves.values() if m.server_id in ids}
        assert not names & set(row.vm_names), "none of this test's VMs is left on the host"
        if not row.vm_names:
            power = services.power_request_create(
                actor=admin, server=server, action="hard_off", reason="integration", confirm_name=server.name
            )
            assert power.status == PowerRequest.Status.QUEUED
            PowerRequest.objects.filter(pk=power.pk).delete()  # accepted is all this test asks
        else:  # another test's VM, in the middle of something, could not move: the guard still holds
            with pytest.raises(services.PowerActionRefused, match=row.vm_names[0]):
                services.power_request_create(
                    actor=admin,
                    server=server,
                    action="hard_off",
                    reason="integration",
                    confirm_name=server.name,
                )
    finally:
        gateway.set_compute_service_enabled(host, enabled=True)
        for server_id in ids:
            conn.compute.delete_server(server_id, ignore_missing=True)
