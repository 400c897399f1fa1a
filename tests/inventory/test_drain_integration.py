"""Draining against the real local OpenStack: Nova's compute service on x4 is disabled, then enabled."""

from __future__ import annotations

import pytest

from inventory import services
from inventory.models import ServerDrain, ServerRole
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
