"""Reconciliation: VM rows brought in line with the cloud's servers (incremental listings, a full one
now and then) and servers nobody asked Kennel for listed as unmanaged."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from portal.bulk import bulk_update_fields
from portal.cloud import cloud
from portal.cloud.gateway import Server
from portal.models import Team
from portal.origin import WORKER
from portal.services import audit_record
from provisioning import stored_messages as texts
from provisioning.floating_ips import floating_ip_release_after_vanish
from provisioning.models import CloudFlavor, CloudImage, UnmanagedServer, VmRequest
from provisioning.services.vm_requests import METADATA_KEY
from provisioning.services.vm_state import _GONE, Status, _server_changes, _transition
from provisioning.sync import Part, mirror_run

# A full listing at least this often: it also finds what an incremental one cannot (a server whose
# deleted row Nova already archived, a VM row that lost its server otherwise).
SERVERS_FULL_EVERY = timedelta(minutes=5)
# Each changes-since listing starts this long before the previous run started: a change Nova committed
# a little late (its updated_at is taken before its transaction ends) or a clock apart by less than
# this is still seen. Listing a minute of changes again costs little; missing one costs a wrong page.
SERVERS_SINCE_MARGIN = timedelta(seconds=60)
# Rows one statement writes: a complete listing of 10,000 servers (the first, or after a restart)
# writes them in a few dozen UPDATEs and INSERTs, never one statement per server.
BULK_BATCH = 500


def vm_reconcile(*, full: bool | None = None) -> dict[str, int] | None:
    """Follow the cloud's servers (every project) onto Kennel's rows, one listing per run.

    Usually the listing is Nova's ``changes-since`` the last successful run (minus a margin), which
    includes servers deleted since; a complete listing is made when ``full`` is True, when there was
    no success yet, or every SERVERS_FULL_EVERY. Each server listed refreshes its VM (state, host,
    addresses, name, flavor after a resize); a server deleted outside Kennel marks its VM deleted; a
    server Kennel did not create is recorded as unmanaged (counted in its team's usage), and forgotten
    once deleted. A complete listing also marks VMs whose server is missing from it as deleted.
    Queries stay constant when nothing changed. Returns counts, or None when another run held the
    servers (nothing done). Raises the gateway's CloudError (recorded; the next run tries again)."""
    with mirror_run(Part.SERVERS) as run:
        if run is None:
            return None
        last = run.previous
        if full is None:
            full = (
                last.succeeded_at is None
                or last.full_at is None
                or run.started_at - last.full_at >= SERVERS_FULL_EVERY
            )
        gateway = cloud()
        if full or last.succeeded_at is None:
            servers = gateway.list_servers()
        else:
            servers = gateway.list_servers(changes_since=last.succeeded_at - SERVERS_SINCE_MARGIN)
        counts = _servers_apply(servers, complete=full, now=run.started_at)
        run.full = full
        return counts


def _servers_apply(servers: Sequence[Server], *, complete: bool, now: datetime) -> dict[str, int]:
    counts = {"listed": len(servers), "updated": 0, "vanished": 0, "unmanaged": 0, "forgotten": 0}
    listed = {s.id: s for s in servers}
    vms = VmRequest.objects.exclude(server_id="").exclude(status=Status.DELETED).select_related("team")
    if not complete:
        vms = vms.filter(server_id__in=list(listed))
    flavor_ids = dict(CloudFlavor.objects.values_list("name", "pk"))
    known = set()
    # Rows that changed, grouped by which fields did: each group is written by bulk UPDATEs of those
    # fields alone (as one UPDATE per row did), so a field another writer set meanwhile is left alone.
    changed: dict[frozenset[str], list[VmRequest]] = defaultdict(list)
    for vm in vms:
        known.add(vm.server_id)
        server = listed.get(vm.server_id)
        if server is None or server.deleted:
            if (server is not None or complete) and vm.status == Status.ACTIVE:
                _transition(vm, Status.DELETED, texts.VANISHED(), **{**_GONE, "server_status": "DELETED"})
                audit_record(actor=None, action="vm.vanished", target=vm, team=vm.team, source=WORKER)
                floating_ip_release_after_vanish(vm=vm)
                counts["vanished"] += 1
            continue
        fields = _server_changes(vm, server, flavor_ids)
        if fields:
            for key, value in fields.items():
                setattr(vm, key, value)
            changed[frozenset(fields)].append(vm)
    for names, rows in changed.items():
        bulk_update_fields(VmRequest, rows, sorted(names))
        counts["updated"] += len(rows)
    others = [s for s in servers if s.id not in known and not s.metadata.get(METADATA_KEY)]
    gone = [s.id for s in others if s.deleted]
    alive = [s for s in others if not s.deleted]
    if complete:
        forgotten, _n = UnmanagedServer.objects.exclude(server_id__in=[s.id for s in alive]).delete()
    else:
        forgotten, _n = UnmanagedServer.objects.filter(server_id__in=gone).delete()
    counts["forgotten"] = forgotten
    if alive:
        counts["unmanaged"] = _unmanaged_apply(alive, now=now)
    return counts


_UNMANAGED_FIELDS = (
    "name",
    "project_id",
    "team_id",
    "status",
    "host",
    "architecture",
    "vcpus",
    "ram_mb",
    "disk_gb",
    "seen_at",
)


def _unmanaged_apply(alive: Sequence[Server], *, now: datetime) -> int:
    """Record the servers Kennel did not create: new ones in bulk INSERTs, changed ones in bulk
    UPDATEs (only the reconcile writes these rows). Returns how many were created or changed."""
    teams = dict(Team.objects.exclude(openstack_project_id="").values_list("openstack_project_id", "pk"))
    architectures = dict(CloudImage.objects.values_list("cloud_id", "architecture"))
    rows = {u.server_id: u for u in UnmanagedServer.objects.filter(server_id__in=[s.id for s in alive])}
    new: list[UnmanagedServer] = []
    moved: list[UnmanagedServer] = []
    for server in alive:
        fields = {
            "name": server.name,
            "project_id": server.project_id,
            "team_id": teams.get(server.project_id),
            "status": server.status,
            "host": server.host or "",
            "architecture": architectures.get(server.image_id or "", ""),
            "vcpus": server.vcpus,
            "ram_mb": server.ram_mb,
            "disk_gb": server.disk_gb,
        }
        row = rows.get(server.id)
        if row is None:
            new.append(UnmanagedServer(server_id=server.id, seen_at=now, **fields))
        elif any(getattr(row, name) != value for name, value in fields.items()):
            for name, value in {**fields, "seen_at": now}.items():
                setattr(row, name, value)
            moved.append(row)
    UnmanagedServer.objects.bulk_create(new, batch_size=BULK_BATCH)
    bulk_update_fields(UnmanagedServer, moved, _UNMANAGED_FIELDS)
    return len(new) + len(moved)
