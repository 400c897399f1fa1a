"""Guarded power actions on servers: asked for and confirmed on the web, run by a worker against the BMC,
recovered when a worker died mid-action."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

# Stored untranslated, translated when shown ({% trans hw.error %}): the worker has no reader's language.
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as _

from inventory import bmc
from inventory import stored_messages as texts
from inventory.bmc import BmcError, gateway_for
from inventory.models import PowerActionChoice, PowerRequest, Server, ServerDrain, ServerRole
from inventory.selectors import power_cooldown_left
from inventory.services.assets import _refusal_audited
from inventory.services.bmcs import _bmc_target, bmc_failure_message
from portal.access import Action, restrict
from portal.crypto import SecretUnreadable
from portal.models import AuditEvent, User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue
from portal.services import audit_record
from portal.worker import claim

_OFF_ACTIONS = {
    PowerActionChoice.SOFT_OFF,
    PowerActionChoice.HARD_OFF,
    PowerActionChoice.CYCLE,
    PowerActionChoice.RESET,
}


class PowerActionRefused(Exception):
    """The power action may not be done now; the message says why, for the person who asked."""


def power_request_create(
    *, actor: User, server: Server, action: str, reason: str, confirm_name: str, source: str = SYSTEM
) -> PowerRequest:
    """Ask for a power action on ``server``. Needs an admin (Action.OPERATE), a reason, the server's
    name typed as confirmation, a BMC, and no other action on it within KENNEL_POWER_COOLDOWN seconds.
    A compute node is refused anything but power on unless it is drained and a recent check found no
    VM on it (see ``_compute_power_off_refusal``). A controller waits for a second admin's
    confirmation; anything else is queued for a worker at once.
    Raises PowerActionRefused; the refusal is audited too."""
    detail = {"action": action, "reason": reason.strip()[:500]}
    with transaction.atomic():
        # The row lock makes the cooldown hold against two admins clicking at once.
        server = Server.objects.select_for_update().get(pk=server.pk)
        refusal = _power_request_refusal(
            actor=actor, server=server, action=action, reason=reason, name=confirm_name
        )
        if refusal is None:
            controller = ServerRole.CONTROLLER in server.roles
            request = PowerRequest(
                server=server,
                action=action,
                reason=reason.strip(),
                requested_by=actor,
                status=PowerRequest.Status.AWAITING_CONFIRMATION
                if controller
                else PowerRequest.Status.QUEUED,
            )
            request.full_clean()
            request.save()
            audit_record(
                actor=actor, action="server.power_request", target=server, source=source, detail=detail
            )
            if not controller:
                _power_request_enqueue(request.pk)
            return request
    raise _refusal_audited(
        PowerActionRefused(refusal),
        actor=actor,
        action="server.power_request",
        target=server,
        source=source,
        detail=detail,
    )


def _power_request_refusal(*, actor: User, server: Server, action: str, reason: str, name: str) -> str | None:
    """Why this power action may not be asked for now, or None when it may."""
    if not restrict(actor, Server.objects.filter(pk=server.pk), Action.OPERATE).exists():
        return gettext("Only an admin may power servers.")
    if action not in PowerActionChoice.values:
        return gettext("Unknown power action.")
    if not reason.strip():
        return gettext("Give a reason.")
    if name.strip() != server.name:
        return gettext("Type the server's name exactly to confirm.")
    if not server.has_bmc:
        return gettext("This server has no BMC.")
    if ServerRole.COMPUTE in server.roles and action in _OFF_ACTIONS:
        refusal = _compute_power_off_refusal(server)
        if refusal is not None:
            return refusal
    wait_for = power_cooldown_left(server=server)
    if wait_for:
        return gettext("Another power action ran moments ago; wait %(seconds)d s.") % {"seconds": wait_for}
    return None


@transaction.atomic
def power_request_cancel(*, actor: User, request: PowerRequest, source: str = SYSTEM) -> PowerRequest:
    """Withdraw a power action still waiting for a second admin (any admin may: the one who asked
    changed their mind, or the second admin says no). Nothing was sent to the BMC, so the cooldown does
    not count it. Raises PowerActionRefused once it is confirmed (or gone further); audited."""
    if not restrict(actor, Server.objects.filter(pk=request.server_id), Action.OPERATE).exists():
        raise PowerActionRefused(gettext("Only an admin may power servers."))
    awaiting = PowerRequest.objects.filter(pk=request.pk, status=PowerRequest.Status.AWAITING_CONFIRMATION)
    if not claim(awaiting, status=PowerRequest.Status.CANCELLED, finished_at=timezone.now()):
        raise PowerActionRefused(
            gettext("This power action is no longer awaiting confirmation, so it cannot be cancelled.")
        )
    request.refresh_from_db()
    audit_record(
        actor=actor,
        action="server.power_cancel",
        target=request.server,
        source=source,
        detail={"action": request.action, "requested_by": request.requested_by.get_username()},
    )
    return request


@transaction.atomic
def power_request_confirm(*, actor: User, request: PowerRequest, source: str = SYSTEM) -> PowerRequest:
    """A second admin (not the one who asked) confirms a controller's power action; it is queued."""
    if not restrict(actor, Server.objects.filter(pk=request.server_id), Action.OPERATE).exists():
        raise PowerActionRefused(gettext("Only an admin may power servers."))
    if request.requested_by_id == actor.pk:
        raise PowerActionRefused(gettext("A second admin must confirm, not the one who asked."))
    awaiting = PowerRequest.objects.filter(pk=request.pk, status=PowerRequest.Status.AWAITING_CONFIRMATION)
    if not claim(awaiting, status=PowerRequest.Status.QUEUED, confirmed_by=actor):
        raise PowerActionRefused(gettext("This power action is no longer awaiting confirmation."))
    request.refresh_from_db()
    audit_record(
        actor=actor,
        action="server.power_confirm",
        target=request.server,
        source=source,
        detail={"action": request.action, "requested_by": request.requested_by.get_username()},
    )
    _power_request_enqueue(request.pk)
    return request


def _power_request_enqueue(request_id: int) -> None:
    from inventory.tasks import power_request_run

    enqueue(power_request_run, request_id)


def power_request_execute(*, request_id: int, timeout: float | None = None) -> PowerRequest | None:
    """Worker side: claim a queued request, ask the BMC, record the outcome. A request that is gone or
    already claimed is left alone (returns None), so a duplicated task never acts twice. A power
    action is not retried: the BMC may have acted before it failed to answer."""
    queued = PowerRequest.objects.filter(pk=request_id, status=PowerRequest.Status.QUEUED)
    if not claim(queued, status=PowerRequest.Status.RUNNING, started_at=timezone.now()):
        return None
    request = PowerRequest.objects.select_related("server", "requested_by").get(pk=request_id)
    failure = None
    try:
        target = _bmc_target(request.server)
        gateway_for(target.protocol).power(
            target, bmc.PowerAction(request.action), timeout=float(timeout or settings.KENNEL_BMC_TIMEOUT)
        )
    except BmcError as exc:
        failure = bmc_failure_message(exc, timeout=float(timeout or settings.KENNEL_BMC_TIMEOUT))
    except SecretUnreadable:
        failure = texts.BMC_SECRET_UNREADABLE()
    error = failure.english()[:200] if failure else ""
    request.status = PowerRequest.Status.FAILED if failure else PowerRequest.Status.DONE
    request.error, request.error_ref = error, failure.ref() if failure else None
    request.finished_at = timezone.now()
    request.save(update_fields=["status", "error", "error_ref", "finished_at"])
    audit_record(
        actor=None,
        action="server.power_execute",
        target=request.server,
        source=WORKER,
        outcome=AuditEvent.Outcome.FAILURE if error else AuditEvent.Outcome.SUCCESS,
        detail={
            "action": request.action,
            "requested_by": request.requested_by.get_username(),
            "error": error,
        },
    )
    return request


# What the BMC shows once an action is done. A cycle or reset ends with the machine on (whether it
# went through the off in between cannot be seen afterwards).
_POWER_OUTCOME = {
    PowerActionChoice.ON: bmc.PowerState.ON,
    PowerActionChoice.SOFT_OFF: bmc.PowerState.OFF,
    PowerActionChoice.HARD_OFF: bmc.PowerState.OFF,
    PowerActionChoice.CYCLE: bmc.PowerState.ON,
    PowerActionChoice.RESET: bmc.PowerState.ON,
}
POWER_RECOVERED_OTHER_STATE = _(
    "The worker stopped during this action and the BMC shows another power state than asked for. "
    "Check the server and ask again if the action is still needed."
)
POWER_RECOVERED_UNCONFIRMED = _(
    "The worker stopped during this action and the BMC could not confirm its outcome. Check the "
    "server's power on its BMC and ask again if the action is still needed."
)


def power_requests_recover(*, timeout: float | None = None) -> list[PowerRequest]:
    """Worker side (periodic): finish the power requests still ``running`` KENNEL_POWER_STUCK_AFTER
    seconds after a worker claimed them (the worker was killed mid-action; the action is never
    repeated blindly). Each one's BMC is read again: if it shows the state the action leads to, the
    request is done; otherwise, or when the BMC cannot be read, it is failed with a message saying
    what to do. A request that finishes meanwhile is left as its worker wrote it. Audited. Returns the
    requests it finished."""
    stuck_since = timezone.now() - timedelta(seconds=settings.KENNEL_POWER_STUCK_AFTER)
    stuck = PowerRequest.objects.filter(status=PowerRequest.Status.RUNNING).filter(
        Q(started_at__lt=stuck_since) | Q(started_at=None, created_at__lt=stuck_since)
    )
    finished = []
    for request in stuck.select_related("server", "requested_by"):
        wanted = _POWER_OUTCOME[PowerActionChoice(request.action)]
        observed = bmc.PowerState.UNKNOWN
        try:
            target = _bmc_target(request.server)
            observed = (
                gateway_for(target.protocol)
                .read_state(target, timeout=float(timeout or settings.KENNEL_BMC_TIMEOUT))
                .power
            )
        except (BmcError, SecretUnreadable, ValueError):
            pass  # ValueError: the server has no BMC any more; the outcome stays unconfirmed.
        if observed == wanted:
            status, error = PowerRequest.Status.DONE, ""
        elif observed == bmc.PowerState.UNKNOWN:
            status, error = PowerRequest.Status.FAILED, POWER_RECOVERED_UNCONFIRMED
        else:
            status, error = PowerRequest.Status.FAILED, POWER_RECOVERED_OTHER_STATE
        now = timezone.now()
        running = PowerRequest.objects.filter(pk=request.pk, status=PowerRequest.Status.RUNNING)
        if not claim(running, status=status, error=error, finished_at=now):
            continue
        request.status, request.error, request.finished_at = status, error, now
        audit_record(
            actor=None,
            action="server.power_recover",
            target=request.server,
            source=WORKER,
            outcome=AuditEvent.Outcome.SUCCESS
            if status == PowerRequest.Status.DONE
            else AuditEvent.Outcome.FAILURE,
            detail={
                "action": request.action,
                "requested_by": request.requested_by.get_username(),
                "observed": observed.value,
                "error": error,
            },
        )
        finished.append(request)
    return finished


def _compute_power_off_refusal(server: Server) -> str | None:
    """Why ``server``, a compute node, may not be powered off now, or None when it may: it must be
    drained (its compute service disabled, as last seen) and a check younger than KENNEL_DRAIN_MAX_AGE
    seconds must have found no VM on it, so no VM dies with the host."""
    drain = ServerDrain.objects.filter(server=server).first()
    fresh_since = timezone.now() - timedelta(seconds=settings.KENNEL_DRAIN_MAX_AGE)
    if (
        drain is not None
        and drain.status == ServerDrain.Status.DRAINED
        and drain.service_enabled is False
        and drain.checked_at is not None
        and drain.checked_at >= fresh_since
        and not drain.vm_names
    ):
        return None
    if drain is not None and drain.status == ServerDrain.Status.MIGRATING:
        return gettext(
            "%(server)s is being emptied: its VMs are moved off one at a time. "
            "Try again when the drain is done."
        ) % {"server": server.name}
    if drain is not None and drain.status == ServerDrain.Status.DRAINED and drain.vm_names:
        return gettext(
            "%(server)s still runs VMs: %(vms)s. Move or delete them (the drain keeps new ones away), "
            "then try again."
        ) % {"server": server.name, "vms": ", ".join(drain.vm_names)}
    if drain is not None and drain.status == ServerDrain.Status.DRAINED:
        return gettext(
            "%(server)s is drained but its last check is too old; wait for the next check and try again."
        ) % {"server": server.name}
    return gettext(
        "%(server)s is a compute node that may run VMs: drain first, and power it off once no VM is left."
    ) % {"server": server.name}
