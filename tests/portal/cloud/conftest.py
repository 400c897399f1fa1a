"""The contract suite runs each test against the real local cloud and the in-memory fake."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from portal.cloud.gateway import CloudGateway, CloudNotFound, Server

ROOT = Path(__file__).resolve().parents[3]


def _openstack() -> CloudGateway:
    from portal.cloud.openstack import OpenStackGateway

    config = os.environ.get("OS_CLIENT_CONFIG_FILE", str(ROOT / "var" / "devcloud" / "clouds.yaml"))
    if not Path(config).exists():
        pytest.fail(f"no clouds.yaml at {config}: start the local cloud with `make devcloud`")
    return OpenStackGateway(cloud=os.environ.get("OS_CLOUD", "kennel-admin"), config_file=config)


def _fake() -> CloudGateway:
    from portal.cloud.fake import FakeCloud

    return FakeCloud()


@pytest.fixture(
    scope="module",
    params=[pytest.param("fake"), pytest.param("openstack", marks=pytest.mark.integration)],
)
def gateway(request) -> CloudGateway:
    return _fake() if request.param == "fake" else _openstack()


@pytest.fixture(scope="module")
def project(gateway):
    """A fresh project the portal's cloud user holds the admin role in; removed afterwards."""
    created = gateway.create_project(name=f"contract-{uuid.uuid4().hex[:8]}", description="contract suite")
    me = gateway.whoami()
    gateway.assign_role(user_id=me.id, project_id=created.id, role="admin")
    yield created
    for server in gateway.list_servers(project_id=created.id):
        with contextlib.suppress(CloudNotFound):
            gateway.delete_server(server.id)
    for server in gateway.list_servers(project_id=created.id):
        wait_gone(gateway, server.id)
    # Neutron made the project's default security group with its first network; Keystone's delete
    # would leave it behind as an orphan.
    for group in gateway.list_security_groups():
        if group.project_id == created.id:
            with contextlib.suppress(CloudNotFound):
                gateway.delete_security_group(group.id)
    gateway.delete_project(created.id)


def wait_for(
    gateway: CloudGateway, server_id: str, done: Callable[[Server], bool], timeout: float = 90
) -> Server:
    """Poll until ``done(server)``; fails with the server's last state."""
    deadline = time.monotonic() + timeout
    server = gateway.get_server(server_id)
    while not done(server):
        if time.monotonic() > deadline:
            pytest.fail(f"server {server.name} stuck at {server.status}/{server.task_state}: {server.fault}")
        time.sleep(0.3)
        server = gateway.get_server(server_id)
    return server


def wait_active(gateway: CloudGateway, server_id: str) -> Server:
    return wait_for(gateway, server_id, lambda s: s.status in ("ACTIVE", "ERROR") and s.settled)


def wait_gone(gateway: CloudGateway, server_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            gateway.get_server(server_id)
        except CloudNotFound:
            return
        time.sleep(0.3)
    pytest.fail(f"server {server_id} was not deleted within {timeout} s")
