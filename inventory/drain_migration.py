"""Drains that finish the job: the VMs of a drained compute node moved off by live migration.

After ``server_drain_advance`` has disabled the host's Nova compute service, a drain asked for with
``migrate`` stays ``migrating`` while a worker moves its VMs, one at a time (``DrainMove`` rows:
waiting -> migrating -> moved / gone / failed), then becomes ``drained`` and the usual check runs, so
the guarded power actions are allowed once the host is empty.

Each step runs with the drain's row locked (skipping a row another worker holds, so a duplicated task
stops by itself) and touches ``status_changed_at``; ``server_drains_resume`` restarts a drain whose
steps stopped (an outage longer than the task's retries, a killed worker). The target is chosen here,
never across architectures: an enabled, up host of the source's architecture with room for the VM
(Placement's numbers), the emptiest first, and Nova's scheduler still checks it. Where it lands is
verified. A VM that cannot move (stopped, the only host of its architecture, no room, Nova's refusal)
is listed with the reason.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop as _

from inventory.models import DrainMove, ServerDrain
from portal.cloud import cloud
from portal.cloud.gateway import (
    CloudError,
    CloudGateway,
    CloudNotFound,
    CloudRequestError,
    CloudUnavailable,
    ResourceProvider,
)
from portal.cloud.gateway import Server as CloudServer
from portal.models import AuditEvent
from portal.origin import WORKER
from portal.services import audit_record
from portal.worker import claim

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # a live migration on the local cloud takes about 3 s
MAX_ATTEMPTS = 2  # a move whose start was lost (no migration in Nova) is asked for once more

# Stored untranslated like every worker's message; translated when shown.
WAITING_FOR_CLOUD = _("Waiting for the cloud, which cannot be reached right now; Kennel retries by itself.")


def server_drain_migrate_step(*, server_id: int) -> float | None:
    """Worker side: one step of moving the VMs off drained ``server_id``: plan the moves (once), then
    follow the move under way or start the next one, or finish the drain when none is left.

    Returns the seconds to wait before the next step, or None when there is nothing more to do (the
    drain is finished, not moving VMs, gone, or another worker holds it). Raises ``CloudUnavailable``
    (the drain says it waits for the cloud) for the task to retry with backoff; repeating a step is
    harmless."""
    try:
        with transaction.atomic():
            drain = (
                ServerDrain.objects.select_for_update(skip_locked=True)
                .select_related("server")
                .filter(server_id=server_id, status=ServerDrain.Status.MIGRATING)
                .first()
            )
            if drain is None:
                return None
            delay = _step(drain, cloud())
            ServerDrain.objects.filter(pk=drain.pk).update(error="", status_changed_at=timezone.now())
    except CloudUnavailable:
        ServerDrain.objects.filter(server_id=server_id, status=ServerDrain.Status.MIGRATING).update(
            error=WAITING_FOR_CLOUD, status_changed_at=timezone.now()
        )
        raise
    if delay is None:
        _finish(server_id)
    return delay


def _step(drain: ServerDrain, gateway: CloudGateway) -> float | None:
    if not drain.moves.exists():
        _plan(drain, gateway)
    current = drain.moves.filter(status=DrainMove.Status.MIGRATING).first()
    if current is None:
        current = drain.moves.filter(status=DrainMove.Status.WAITING).first()
        if current is None:
            return None
        DrainMove.objects.filter(pk=current.pk, status=DrainMove.Status.WAITING).update(
            status=DrainMove.Status.MIGRATING
        )
        current.status = DrainMove.Status.MIGRATING
    if current.started_at is None:
        _start(drain, current, gateway)
    else:
        _follow(drain, current, gateway)
    return POLL_SECONDS


def _plan(drain: ServerDrain, gateway: CloudGateway) -> None:
    """One row per VM on the host now (the host is disabled: no new one arrives), by name."""
    host = drain.server.hypervisor_hostname
    servers = sorted(gateway.list_servers_on_host(host), key=lambda s: (s.name, s.id))
    DrainMove.objects.bulk_create(
        [
            DrainMove(drain=drain, position=i, server_id=s.id, name=s.name[:255], source_host=host)
            for i, s in enumerate(servers)
        ],
        ignore_conflicts=True,
    )


def _end(
    move: DrainMove, status: str, *, error: str = "", params: dict | None = None, target: str | None = None
) -> None:
    """``error``: the untranslated message, with ``params`` to fill in when it is shown."""
    fields: dict = {
        "status": status,
        "error": error[:300],
        "error_params": {k: str(v)[:200] for k, v in (params or {}).items()},
        "finished_at": timezone.now(),
    }
    if target is not None:
        fields["target_host"] = target
    DrainMove.objects.filter(pk=move.pk, status=DrainMove.Status.MIGRATING).update(**fields)


def _architecture(providers: list[ResourceProvider], host: str) -> str | None:
    return next((p.architecture for p in providers if p.name == host), None)


def _start(drain: ServerDrain, move: DrainMove, gateway: CloudGateway) -> None:
    try:
        server = gateway.get_server(move.server_id)
    except CloudNotFound:
        _end(move, DrainMove.Status.GONE)
        return
    if server.task_state == "migrating":  # asked for by an earlier step whose answer was lost
        DrainMove.objects.filter(pk=move.pk).update(started_at=timezone.now(), attempts=F("attempts") + 1)
        return
    if server.host != move.source_host:
        _end(move, DrainMove.Status.MOVED, target=server.host or "")  # moved by someone else meanwhile
        return
    if server.status != "ACTIVE":
        _end(
            move,
            DrainMove.Status.FAILED,
            error=_(
                "It is %(status)s: only a running VM can be live-migrated. "
                "Start or delete it, then drain again."
            ),
            params={"status": server.status},
        )
        return
    target, refusal = _target(drain, server, gateway)
    if target is None:
        _end(move, DrainMove.Status.FAILED, error=refusal[0], params=refusal[1])
        return
    DrainMove.objects.filter(pk=move.pk).update(
        started_at=timezone.now(), attempts=F("attempts") + 1, target_host=target
    )
    try:
        gateway.live_migrate_server(server.id, host=target)
    except CloudNotFound:
        _end(move, DrainMove.Status.GONE)
    except CloudRequestError as error:
        _end(
            move,
            DrainMove.Status.FAILED,
            error=_("Nova refused to move it: %(error)s"),
            params={"error": error},
        )


def _target(
    drain: ServerDrain, server: CloudServer, gateway: CloudGateway
) -> tuple[str | None, tuple[str, dict]]:
    """The host to move ``server`` to: enabled and up, of the source's architecture, other than the
    source, with room for it in Placement; the one with the most free memory. Or None and why not
    (a message and its parameters)."""
    source = drain.server.hypervisor_hostname
    providers = gateway.list_resource_providers()
    arch = _architecture(providers, source) or drain.server.architecture
    usable = {h.hostname for h in gateway.list_hypervisors() if h.status == "enabled" and h.state == "up"}
    same = [p for p in providers if p.architecture == arch and p.name != source and p.name in usable]
    if not same:
        return None, (
            _("No other enabled %(arch)s host: %(host)s is the only one that can run it."),
            {"arch": arch, "host": source},
        )
    need = {"VCPU": server.vcpus, "MEMORY_MB": server.ram_mb, "DISK_GB": server.disk_gb}

    def free(p: ResourceProvider, rc: str) -> int:
        inv = p.inventories.get(rc)
        return inv.capacity - inv.used if inv is not None else 0

    fitting = [p for p in same if all(free(p, rc) >= amount for rc, amount in need.items())]
    if not fitting:
        return None, (
            _("No other %(arch)s host has room for it (%(vcpus)s vCPUs, %(ram)s MB RAM, %(disk)s GB disk)."),
            {"arch": arch, "vcpus": server.vcpus, "ram": server.ram_mb, "disk": server.disk_gb},
        )
    return max(fitting, key=lambda p: (free(p, "MEMORY_MB"), p.name)).name, ("", {})


def _follow(drain: ServerDrain, move: DrainMove, gateway: CloudGateway) -> None:
    try:
        server = gateway.get_server(move.server_id)
    except CloudNotFound:
        _end(move, DrainMove.Status.GONE)
        return
    if not server.settled:
        assert move.started_at is not None
        limit = settings.KENNEL_DRAIN_MIGRATION_TIMEOUT
        if timezone.now() - move.started_at > timedelta(seconds=limit):
            _end(
                move,
                DrainMove.Status.FAILED,
                error=_("Nova has not finished moving it after %(seconds)s s; look at the server in Nova."),
                params={"seconds": limit},
            )
        return
    if server.host and server.host != move.source_host:
        if server.host == move.target_host:  # chosen of the source's architecture a moment ago
            _end(move, DrainMove.Status.MOVED, target=server.host)
            return
        providers = gateway.list_resource_providers()
        source_arch = _architecture(providers, move.source_host) or drain.server.architecture
        landed = _architecture(providers, server.host)
        if landed != source_arch:  # never expected: the target was chosen of the same architecture
            _end(
                move,
                DrainMove.Status.FAILED,
                target=server.host,
                error=_("It landed on %(host)s, a %(arch)s host."),
                params={"host": server.host, "arch": landed},
            )
            return
        _end(move, DrainMove.Status.MOVED, target=server.host)
        return
    # Settled, still on the source: Nova's migration failed, or the request never reached it.
    latest = next(iter(gateway.list_server_migrations(server.id)), None)
    started = move.started_at or timezone.now()
    recent = (
        latest is not None
        and latest.created_at is not None
        and latest.created_at >= started - timedelta(minutes=1)
    )
    if latest is not None and recent and latest.failed:
        _end(
            move,
            DrainMove.Status.FAILED,
            error=_("Nova could not move it (its migration ended %(status)s)."),
            params={"status": latest.status},
        )
    elif move.attempts < MAX_ATTEMPTS:
        DrainMove.objects.filter(pk=move.pk).update(started_at=None)  # ask again
    else:
        _end(move, DrainMove.Status.FAILED, error=_("Nova did not move it."))


def _finish(server_id: int) -> None:
    """All moves are over: the drain is drained; the check stores whether the host is now empty."""
    from inventory.services import server_drain_check

    migrating = ServerDrain.objects.filter(server_id=server_id, status=ServerDrain.Status.MIGRATING)
    if not claim(migrating, status=ServerDrain.Status.DRAINED, status_changed_at=timezone.now()):
        return
    drain = ServerDrain.objects.select_related("server", "requested_by").get(server_id=server_id)
    moves = list(drain.moves.all())
    moved = [m for m in moves if m.status == DrainMove.Status.MOVED]
    failed = [m for m in moves if m.status == DrainMove.Status.FAILED]
    audit_record(
        actor=None,
        action="server.drain_migrate",
        target=drain.server,
        source=WORKER,
        outcome=AuditEvent.Outcome.FAILURE if failed else AuditEvent.Outcome.SUCCESS,
        detail={
            "requested_by": drain.requested_by.get_username(),
            "moved": {m.name: m.target_host for m in moved},
            "not_moved": {m.name: m.error % m.error_params if m.error_params else m.error for m in failed},
        },
    )
    try:
        server_drain_check(server_id=server_id)
    except CloudError as exc:  # the periodic check catches up
        logger.warning("drain check after moving VMs off failed: %s", exc)
