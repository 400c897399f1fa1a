"""The contract suite runs each test against the real local cloud and the in-memory fake."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest

from portal.cloud.gateway import CloudGateway, CloudNotFound
from tests.fixtures.local_cloud import wait_gone

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
