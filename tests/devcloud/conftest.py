"""Connections to the devcloud for its own integration tests.

The tests use openstacksdk directly: devcloud is test infrastructure, not the
portal (whose one gateway module has its own contract suite). They never
skip: ``make test`` starts the cloud first, so an unreachable cloud is a
failure with a message saying what to run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from openstack import exceptions
from openstack.config.loader import OpenStackConfig
from openstack.connection import Connection

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CLOUDS_YAML = REPO / "var" / "devcloud" / "clouds.yaml"


def _connect(cloud: str) -> Connection:
    clouds_yaml = Path(os.environ.get("OS_CLIENT_CONFIG_FILE", DEFAULT_CLOUDS_YAML))
    if not clouds_yaml.exists():
        pytest.fail(
            f"{clouds_yaml} does not exist: start the local cloud with `make devcloud`", pytrace=False
        )
    try:
        region = OpenStackConfig(config_files=[str(clouds_yaml)]).get_one(cloud=cloud)
        conn = Connection(config=region)
        conn.authorize()
    except exceptions.SDKException as e:
        pytest.fail(
            f"cloud {cloud} from {clouds_yaml} is not reachable ({e}): start it with `make devcloud`",
            pytrace=False,
        )
    return conn


@pytest.fixture(scope="session")
def admin() -> Iterator[Connection]:
    conn = _connect("kennel-admin")
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def alpha() -> Iterator[Connection]:
    conn = _connect("kennel-alpha")
    yield conn
    conn.close()


@pytest.fixture
def unique_name() -> str:
    return f"devcloud-test-{uuid.uuid4().hex[:8]}"
