"""Kennel's cloud gateway: ``cloud()`` returns the configured ``CloudGateway``.

Import records and errors from ``portal.cloud.gateway``; never import openstacksdk elsewhere.
"""

from __future__ import annotations

import functools

from django.conf import settings

from portal.cloud.gateway import CloudGateway


@functools.cache
def cloud() -> CloudGateway:
    """The portal's gateway, one per process (it keeps its token between calls)."""
    from portal.cloud.openstack import OpenStackGateway

    return OpenStackGateway(cloud=settings.OPENSTACK_CLOUD, config_file=settings.OPENSTACK_CONFIG_FILE)
