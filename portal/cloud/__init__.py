"""Kennel's cloud gateway: ``cloud()`` returns the configured ``CloudGateway``.

Import records and errors from ``portal.cloud.gateway``; never import openstacksdk elsewhere.
Tests swap the gateway with ``override(FakeCloud())``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from portal.cloud.gateway import CloudGateway

_override: CloudGateway | None = None


def cloud() -> CloudGateway:
    """The portal's gateway, one per process (it keeps its token between calls)."""
    return _override if _override is not None else _configured()


@functools.cache
def _configured() -> CloudGateway:
    from portal.cloud.openstack import OpenStackGateway

    return OpenStackGateway(cloud=settings.OPENSTACK_CLOUD, config_file=settings.OPENSTACK_CONFIG_FILE)


@contextmanager
def override(gateway: CloudGateway) -> Iterator[CloudGateway]:
    """Use ``gateway`` instead of the configured cloud inside the block (tests)."""
    global _override
    previous, _override = _override, gateway
    try:
        yield gateway
    finally:
        _override = previous
