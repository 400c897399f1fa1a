"""The gateway's volumes (Cinder, and Nova's attachments), checked against the real local cloud started
with Cinder (``make test`` starts it so) and against the fake with block storage."""

from __future__ import annotations

import contextlib
import time
import uuid

import pytest

from portal.cloud.gateway import CloudGateway, CloudNotFound, CloudRequestError, QuotaExceeded, QuotaService
from tests.fixtures.local_cloud import wait_active, wait_gone
from tests.portal.cloud.conftest import _openstack


@pytest.fixture(
    scope="module",
    params=[pytest.param("fake"), pytest.param("openstack", marks=pytest.mark.integration)],
)
def gateway(request) -> CloudGateway:
    if request.param == "fake":
        from portal.cloud.fake import FakeCloud

        return FakeCloud(block_storage=True)
    real = _openstack()
    if QuotaService.VOLUME not in real.services():
        pytest.fail("the local cloud runs without Cinder: start it with DEVCLOUD_CINDER=1 devcloud/run start")
    return real


def wait_volume(gateway, volume_id: str, status: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    volume = gateway.get_volume(volume_id)
    while volume.status != status:
        if time.monotonic() > deadline or volume.failed:
            pytest.fail(f"volume {volume.name} stuck at {volume.status}, not {status}")
        time.sleep(0.3)
        volume = gateway.get_volume(volume_id)
    return volume


def wait_volume_gone(gateway, volume_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            gateway.get_volume(volume_id)
        except CloudNotFound:
            return
        time.sleep(0.3)
    pytest.fail(f"volume {volume_id} was not deleted within {timeout} s")


def test_a_volume_is_made_counted_listed_and_deleted(gateway, project):
    created = gateway.create_volume(project_id=project.id, name="data-1", size_gb=2)
    assert (created.name, created.project_id, created.size_gb, created.server_id) == (
        "data-1",
        project.id,
        2,
        None,
    )
    volume = wait_volume(gateway, created.id, "available")
    assert volume.settled and not volume.failed
    assert [v.id for v in gateway.list_volumes(project_id=project.id)] == [created.id]
    assert created.id in {v.id for v in gateway.list_volumes()}  # every project's
    assert gateway.get_quota_usage(project.id, QuotaService.VOLUME) == {"gigabytes": 2, "volumes": 1}
    gateway.delete_volume(created.id)
    wait_volume_gone(gateway, created.id)
    assert gateway.list_volumes(project_id=project.id) == []
    with pytest.raises(CloudNotFound):
        gateway.delete_volume(created.id)


def test_the_volume_quota_refuses_a_volume_too_big(gateway, project):
    gateway.set_quotas(project.id, QuotaService.VOLUME, {"gigabytes": 5})
    try:
        with pytest.raises(QuotaExceeded, match="gigabytes"):
            gateway.create_volume(project_id=project.id, name="too-big", size_gb=6)
    finally:
        gateway.set_quotas(project.id, QuotaService.VOLUME, {"gigabytes": 1000})
    assert gateway.list_volumes(project_id=project.id) == []


def test_a_volume_attaches_to_a_server_is_kept_while_attached_and_detaches(gateway, project):
    image = next(
        i for i in gateway.list_images() if i.architecture == "x86_64" and i.name.startswith("cirros")
    )
    tiny = next(f for f in gateway.list_flavors() if f.name == "m1.tiny")
    server = gateway.create_server(
        project_id=project.id, name=f"vol-{uuid.uuid4().hex[:6]}", image_id=image.id, flavor_id=tiny.id
    )
    volume = gateway.create_volume(project_id=project.id, name="data-2", size_gb=1)
    try:
        wait_active(gateway, server.id)
        wait_volume(gateway, volume.id, "available")
        gateway.attach_volume(server_id=server.id, volume_id=volume.id)
        attached = wait_volume(gateway, volume.id, "in-use")
        assert attached.server_id == server.id and attached.device == "/dev/sdb"
        with pytest.raises(CloudRequestError):
            gateway.delete_volume(volume.id)  # Cinder keeps an attached volume
        gateway.detach_volume(server_id=server.id, volume_id=volume.id)
        detached = wait_volume(gateway, volume.id, "available")
        assert (detached.server_id, detached.device) == (None, None)
        with pytest.raises(CloudNotFound):
            gateway.detach_volume(server_id=server.id, volume_id=volume.id)
        # Deleting the server detaches what it still holds.
        gateway.attach_volume(server_id=server.id, volume_id=volume.id)
        wait_volume(gateway, volume.id, "in-use")
        gateway.delete_server(server.id)
        wait_gone(gateway, server.id)
        assert wait_volume(gateway, volume.id, "available").server_id is None
    finally:
        with contextlib.suppress(CloudNotFound):
            gateway.delete_server(server.id)
        with contextlib.suppress(CloudNotFound, CloudRequestError):
            gateway.delete_volume(volume.id)
        wait_volume_gone(gateway, volume.id)
