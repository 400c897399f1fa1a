"""Writes for the physical estate."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from inventory.models import DataCenter, Server
from portal.models import User
from portal.origin import SYSTEM
from portal.services import audit_record


@transaction.atomic
def datacenter_upsert(*, actor: User | None, code: str, name: str, source: str = SYSTEM) -> DataCenter:
    """Create the data center ``code`` or bring its name up to date. Unchanged rows are not written."""
    datacenter = DataCenter.objects.filter(code=code).first()
    if datacenter is not None and datacenter.name == name:
        return datacenter
    created = datacenter is None
    datacenter = datacenter or DataCenter(code=code)
    datacenter.name = name
    datacenter.full_clean()
    datacenter.save()
    audit_record(
        actor=actor,
        action="datacenter.create" if created else "datacenter.update",
        target=datacenter,
        source=source,
    )
    return datacenter


@transaction.atomic
def server_upsert(*, actor: User | None, name: str, fields: dict[str, Any], source: str = SYSTEM) -> Server:
    """Create server ``name`` or update the given fields. Writes (and audits) only what changed."""
    server = Server.objects.select_for_update().filter(name=name).first()
    created = server is None
    server = server or Server(name=name)
    changed = {key: value for key, value in fields.items() if created or getattr(server, key) != value}
    if not changed:
        return server
    for key, value in changed.items():
        setattr(server, key, value)
    server.full_clean()
    server.save()
    audit_record(
        actor=actor,
        action="server.create" if created else "server.update",
        target=server,
        source=source,
        detail={"fields": sorted(k for k in changed if k != "datacenter")},
    )
    return server
