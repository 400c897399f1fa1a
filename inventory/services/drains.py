"""Draining compute nodes: the web only records what an admin asked for; a worker talks to Nova (the
web never waits on the cloud)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from inventory import stored_messages as texts
from inventory.models import Server, ServerDrain, ServerRole
from inventory.services.assets import _refusal_audited
from portal.access import Action, restrict
from portal.cloud import cloud
from portal.cloud.gateway import CloudError, CloudNotFound, CloudUnavailable
from portal.models import AuditEvent, User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record
from portal.worker import claim

logger = logging.getLogger(__name__)


class DrainRefused(Exception):
    """The drain or undrain may not be asked for; the message says why, for the person who asked."""


def _drain_refusal(*, actor: User, server: Server, reason: str | None) -> str | None:
    if not restrict(actor, Server.objects.filter(pk=server.pk), Action.OPERATE).exists():
        return gettext("Only an admin may drain servers.")
    if ServerRole.COMPUTE not in server.roles or not server.hypervisor_hostname:
        return gettext("Only a compute node can be drained.")
    if reason is not None and not reason.strip():
        return gettext("Give a reason.")
    return None


def server_drain_request(
    *, actor: User, server: Server, reason: str, migrate: bool = False, source: str = SYSTEM
) -> ServerDrain:
    """An admin asks to drain compute node ``server``: a worker disables its Nova compute service (no
    new VM lands there) and lists the VMs still on it; with ``migrate`` it then moves them off by live
    migration, one at a time (``inventory.drain_migration``). Asking again while drained re-runs it.
    Raises DrainRefused (audited too), also while VMs are being moved off."""
    detail = {"reason": reason.strip()[:500], "migrate": migrate}
    with transaction.atomic():
        server = Server.objects.select_for_update().get(pk=server.pk)
        refusal = _drain_refusal(actor=actor, server=server, reason=reason)
        drain = ServerDrain.objects.filter(server=server).first()
        if refusal is None and drain is not None and drain.status == ServerDrain.Status.MIGRATING:
            refusal = gettext("VMs are being moved off this host; wait until that is finished.")
        if refusal is None:
            drain = drain or ServerDrain(server=server)
            drain.status, drain.status_changed_at = ServerDrain.Status.REQUESTED, timezone.now()
            drain.reason, drain.requested_by, drain.requested_at = reason.strip(), actor, timezone.now()
            drain.error, drain.error_ref, drain.migrate = "", None, migrate
            drain.full_clean()
            drain.save()
            drain.moves.all().delete()  # the last drain's moves; this one plans its own
            audit_record(actor=actor, action="server.drain", target=server, source=source, detail=detail)
            _drain_enqueue(server.pk)
            return drain
    raise _refusal_audited(
        DrainRefused(refusal), actor=actor, action="server.drain", target=server, source=source, detail=detail
    )


def server_undrain_request(*, actor: User, server: Server, source: str = SYSTEM) -> ServerDrain:
    """An admin asks to put compute node ``server`` back in service: a worker enables its Nova compute
    service again. Raises DrainRefused when the server was never drained or is not a compute node."""
    with transaction.atomic():
        server = Server.objects.select_for_update().get(pk=server.pk)
        refusal = _drain_refusal(actor=actor, server=server, reason=None)
        drain = ServerDrain.objects.filter(server=server).first()
        if refusal is None and drain is None:
            refusal = gettext("This server was never drained.")
        if refusal is None and drain is not None and drain.status == ServerDrain.Status.MIGRATING:
            refusal = gettext("VMs are being moved off this host; wait until that is finished, then undrain.")
        if refusal is None and drain is not None:
            drain.status, drain.error, drain.error_ref = ServerDrain.Status.UNDRAIN_REQUESTED, "", None
            drain.status_changed_at = timezone.now()
            drain.save(update_fields=["status", "error", "error_ref", "status_changed_at"])
            audit_record(actor=actor, action="server.undrain", target=server, source=source)
            _drain_enqueue(server.pk)
            return drain
    raise _refusal_audited(
        DrainRefused(refusal), actor=actor, action="server.undrain", target=server, source=source
    )


def _drain_enqueue(server_id: int) -> None:
    from inventory.tasks import server_drain_run

    enqueue(server_drain_run, server_id)


_DRAIN_STEPS = {
    # status the worker claims: (status while it works, status when done, service enabled afterwards)
    ServerDrain.Status.REQUESTED: (ServerDrain.Status.DRAINING, ServerDrain.Status.DRAINED, False),
    ServerDrain.Status.UNDRAIN_REQUESTED: (ServerDrain.Status.UNDRAINING, ServerDrain.Status.UNDRAINED, True),
}


def server_drain_advance(*, server_id: int) -> ServerDrain | None:
    """Worker side: carry out the requested drain or undrain of ``server_id``: set the Nova compute
    service's enabled flag (disabled with reason "kennel: <reason> (by <user>)"), then check the host.
    Returns None when nothing was waiting (a duplicated task, or the row is gone).

    When the cloud cannot be reached the row goes back to its requested state, saying it waits for the
    cloud, and ``CloudUnavailable`` is raised for the task to retry later (setting the flag again is
    harmless, so a call whose answer was lost is simply repeated). Any other cloud error lands on the
    row as ``failed`` with its message; asking again retries."""
    drain = ServerDrain.objects.filter(server_id=server_id).select_related("server", "requested_by").first()
    if drain is None or drain.status not in _DRAIN_STEPS:
        return None
    requested = ServerDrain.Status(drain.status)
    working, done, enabled = _DRAIN_STEPS[requested]
    if not claim(
        ServerDrain.objects.filter(pk=drain.pk, status=requested),
        status=working,
        status_changed_at=timezone.now(),
    ):
        return None
    host = drain.server.hypervisor_hostname
    who = drain.requested_by.get_username()
    failure = None
    try:
        cloud().set_compute_service_enabled(
            host, enabled=enabled, reason=None if enabled else f"kennel: {drain.reason} (by {who})"
        )
    except CloudUnavailable:
        waiting = texts.DRAIN_WAITING_FOR_CLOUD()
        ServerDrain.objects.filter(pk=drain.pk, status=working).update(
            status=requested,
            error=waiting.english(),
            error_ref=waiting.ref(),
            status_changed_at=timezone.now(),
        )
        raise
    except CloudNotFound:
        failure = texts.DRAIN_NO_COMPUTE_SERVICE()
    except CloudError as exc:
        failure = texts.DRAIN_CLOUD_REFUSED(detail=str(exc)[:150])
    error = failure.english()[:200] if failure else ""
    if not failure and drain.migrate and not enabled:
        done = ServerDrain.Status.MIGRATING  # inventory.drain_migration moves the VMs, then drained
    ServerDrain.objects.filter(pk=drain.pk, status=working).update(
        status=ServerDrain.Status.FAILED if failure else done,
        error=error,
        error_ref=failure.ref() if failure else None,
        status_changed_at=timezone.now(),
    )
    audit_record(
        actor=None,
        action="server.undrain_execute" if enabled else "server.drain_execute",
        target=drain.server,
        source=WORKER,
        outcome=AuditEvent.Outcome.FAILURE if error else AuditEvent.Outcome.SUCCESS,
        detail={"requested_by": who, "error": error},
    )
    if not error:
        server_drain_check(server_id=server_id)
    if done == ServerDrain.Status.MIGRATING and not error:
        from inventory.tasks import server_drain_migrate_run

        enqueue(server_drain_migrate_run, server_id)
    drain.refresh_from_db()
    return drain


def server_drains_resume(*, older_than: timedelta = timedelta(minutes=5)) -> list[int]:
    """Worker side (periodic): re-enqueue drains and undrains left waiting longer than ``older_than``:
    those whose task gave up during a long outage, and those whose worker died mid-step (put back to
    their requested state first: the step is safe to repeat). Returns their server ids. A duplicated
    task finds nothing to claim, so nothing is done twice and nothing waiting is dropped."""
    stale = timezone.now() - older_than
    waiting = list(
        ServerDrain.objects.filter(status__in=list(_DRAIN_STEPS), status_changed_at__lt=stale).values_list(
            "server_id", flat=True
        )
    )
    for requested, (working, _done, _enabled) in _DRAIN_STEPS.items():
        lost = list(
            ServerDrain.objects.filter(status=working, status_changed_at__lt=stale).values_list(
                "server_id", flat=True
            )
        )
        # Conditional: a slow worker that finishes meanwhile keeps its outcome.
        ServerDrain.objects.filter(server_id__in=lost, status=working, status_changed_at__lt=stale).update(
            status=requested, status_changed_at=timezone.now()
        )
        waiting += lost
    from inventory.tasks import server_drain_migrate_run, server_drain_run

    for server_id in waiting:
        enqueue_now(server_drain_run, server_id)
    # Moving VMs off: every step touches status_changed_at, so a drain without a step for this long
    # lost its task (an outage longer than its retries, a killed worker). A duplicate finds the row
    # locked by the live one and stops.
    moving = list(
        ServerDrain.objects.filter(
            status=ServerDrain.Status.MIGRATING, status_changed_at__lt=stale
        ).values_list("server_id", flat=True)
    )
    for server_id in moving:
        enqueue_now(server_drain_migrate_run, server_id)
    return waiting + moving


def server_drain_check(*, server_id: int) -> ServerDrain | None:
    """Worker side: store what the cloud says now about a drained (or undrained) host: whether its
    compute service is enabled and which VMs are still on it. A check that cannot reach the cloud
    leaves the last one in place (its age then makes power-off wait). Not audited: an observation."""
    drain = ServerDrain.objects.filter(server_id=server_id).select_related("server").first()
    if drain is None:
        return None
    host = drain.server.hypervisor_hostname
    try:
        service = cloud().compute_service(host)
        vms = cloud().list_servers_on_host(host)
    except CloudError as exc:
        logger.warning("drain check of %s failed: %s", host, exc)
        return drain
    drain.service_enabled = service.enabled
    drain.vm_names = sorted(vm.name for vm in vms)
    drain.checked_at = timezone.now()
    drain.save(update_fields=["service_enabled", "vm_names", "checked_at"])
    return drain


def server_drains_check_all() -> int:
    """Worker side (periodic): re-check every drained host, so the page shows VMs leaving and a
    power-off finds a fresh check. Returns how many were checked."""
    ids = list(
        ServerDrain.objects.filter(status=ServerDrain.Status.DRAINED).values_list("server_id", flat=True)
    )
    for server_id in ids:
        server_drain_check(server_id=server_id)
    return len(ids)
