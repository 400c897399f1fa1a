"""Writes for the physical estate."""

from __future__ import annotations

import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

# Stored untranslated, translated when shown ({% trans hw.error %}): the worker has no reader's language.
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_noop as _

from inventory import bmc
from inventory.bmc import (
    BmcAuthError,
    BmcError,
    BmcProtocol,
    BmcProtocolError,
    BmcRefused,
    BmcTarget,
    BmcTimeout,
    BmcUnreachable,
    gateway_for,
)
from inventory.bmc.allowlist import bmc_endpoint
from inventory.models import (
    BmcTlsVerifyChoice,
    DataCenter,
    HardwareState,
    HealthChoice,
    PowerActionChoice,
    PowerRequest,
    PowerStateChoice,
    Server,
    ServerDrain,
    ServerRole,
)
from portal.access import Action, Capability, can, restrict
from portal.cloud import cloud
from portal.cloud.gateway import CloudError, CloudNotFound, CloudUnavailable
from portal.crypto import (
    SecretUnreadable,
    secret_decrypt,
    secret_encrypt,
    secret_is_current,
    secret_rotate,
)
from portal.models import AuditEvent, User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record

logger = logging.getLogger(__name__)


def _refusal_audited(
    refusal: Exception,
    *,
    actor: User,
    action: str,
    target: Server | DataCenter,
    source: str,
    detail: dict[str, Any] | None = None,
) -> Exception:
    """Record that ``actor`` was refused ``action`` on ``target`` (outcome denied, with the reason
    ``str(refusal)``) and hand ``refusal`` back for the caller to raise. Call it outside the refused
    transaction, so the entry survives the rollback."""
    audit_record(
        actor=actor,
        action=action,
        target=target,
        source=source,
        outcome=AuditEvent.Outcome.DENIED,
        detail={**(detail or {}), "refused": str(refusal)},
    )
    return refusal


class AssetRefused(Exception):
    """The server or data center may not be deleted now; the message says why and what to do."""


def _require(actor: User, queryset: QuerySet, action: Action) -> None:
    """PermissionDenied unless ``actor`` may do ``action`` on the (one-row) ``queryset``."""
    if not restrict(actor, queryset, action).exists():
        raise PermissionDenied


def _require_change_rights(actor: User) -> None:
    if not can(actor, Capability.INVENTORY_CHANGE):
        raise PermissionDenied


# Data centers -------------------------------------------------------------------------------------


AssetT = TypeVar("AssetT", Server, DataCenter)


def _asset_save(
    *, actor: User | None, asset: AssetT, fields: dict[str, Any], created: bool, source: str
) -> AssetT:
    """Write ``fields`` onto ``asset`` (a server's record or a data center), validated, and audit the
    names of the fields that changed (``server.create``, ``datacenter.update`` ...). Unchanged values
    are not written; nothing changed, nothing saved."""
    changed = sorted(key for key, value in fields.items() if created or getattr(asset, key) != value)
    if not changed:
        return asset
    for key in changed:
        setattr(asset, key, fields[key])
    asset.full_clean()
    asset.save()
    audit_record(
        actor=actor,
        action=f"{asset._meta.model_name}.{'create' if created else 'update'}",
        target=asset,
        source=source,
        detail={"fields": changed},
    )
    return asset


@transaction.atomic
def datacenter_upsert(*, actor: User | None, code: str, name: str, source: str = SYSTEM) -> DataCenter:
    """Create the data center ``code`` or bring its name up to date. Unchanged rows are not written."""
    datacenter = DataCenter.objects.filter(code=code).first()
    return _asset_save(
        actor=actor,
        asset=datacenter or DataCenter(code=code),
        fields={"name": name},
        created=datacenter is None,
        source=source,
    )


@transaction.atomic
def datacenter_create(*, actor: User, code: str, name: str, source: str = SYSTEM) -> DataCenter:
    """An admin adds a data center. Raises PermissionDenied, or ValidationError (code taken, bad slug)."""
    _require_change_rights(actor)
    return _asset_save(
        actor=actor, asset=DataCenter(), fields={"code": code, "name": name}, created=True, source=source
    )


@transaction.atomic
def datacenter_update(
    *, actor: User, datacenter: DataCenter, code: str, name: str, source: str = SYSTEM
) -> DataCenter:
    """An admin renames a data center or changes its code (its servers follow: they point at the row)."""
    _require(actor, DataCenter.objects.filter(pk=datacenter.pk), Action.CHANGE)
    datacenter = DataCenter.objects.select_for_update().get(pk=datacenter.pk)
    return _asset_save(
        actor=actor, asset=datacenter, fields={"code": code, "name": name}, created=False, source=source
    )


def datacenter_delete_refusal(datacenter: DataCenter) -> str | None:
    """Why ``datacenter`` may not be deleted now, or None when it may."""
    count = Server.objects.filter(datacenter=datacenter).count()
    if count:
        return ngettext(
            "%(count)d server stands in %(dc)s; move it to another data center or delete it first.",
            "%(count)d servers stand in %(dc)s; move them to another data center or delete them first.",
            count,
        ) % {"count": count, "dc": datacenter.name}
    return None


def datacenter_delete(*, actor: User, datacenter: DataCenter, source: str = SYSTEM) -> None:
    """An admin deletes an empty data center. Raises PermissionDenied, or AssetRefused (audited) while
    servers stand in it."""
    _require(actor, DataCenter.objects.filter(pk=datacenter.pk), Action.DELETE)
    with transaction.atomic():
        datacenter = DataCenter.objects.select_for_update().get(pk=datacenter.pk)
        # Locks the data center's servers too, so none moves in between the check and the delete.
        list(Server.objects.select_for_update().filter(datacenter=datacenter).values_list("pk"))
        refusal = datacenter_delete_refusal(datacenter)
        if refusal is None:
            audit_record(
                actor=actor,
                action="datacenter.delete",
                target=datacenter,
                source=source,
                detail={"code": datacenter.code, "name": datacenter.name},
            )
            datacenter.delete()
            return
    raise _refusal_audited(
        AssetRefused(refusal), actor=actor, action="datacenter.delete", target=datacenter, source=source
    )


# Servers (the asset record; the BMC has its own service below) -------------------------------------

# What an admin edits on a server's record; the BMC and its password go through server_bmc_set.
SERVER_ASSET_FIELDS = (
    "name",
    "architecture",
    "datacenter",
    "vendor",
    "model",
    "serial",
    "rack",
    "rack_unit",
    "roles",
    "hypervisor_hostname",
    "notes",
)


def roles_normalized(roles: Any) -> Any:
    """Roles in one order (ServerRole's) without repeats, so the same set never reads as a change.
    Anything that is not a list of strings is returned as it is, for ``Server.clean`` to refuse."""
    if not isinstance(roles, list | tuple) or not all(isinstance(r, str) for r in roles):
        return roles
    known = [r for r in ServerRole.values if r in roles]
    return known + sorted({r for r in roles if r not in ServerRole.values})


def _server_save(
    *, actor: User | None, server: Server, fields: dict[str, Any], created: bool, source: str
) -> Server:
    if "roles" in fields:
        fields = {**fields, "roles": roles_normalized(fields["roles"])}
    return _asset_save(actor=actor, asset=server, fields=fields, created=created, source=source)


@transaction.atomic
def server_upsert(*, actor: User | None, name: str, fields: dict[str, Any], source: str = SYSTEM) -> Server:
    """Create server ``name`` or update the given fields. Writes (and audits) only what changed."""
    server = Server.objects.select_for_update().filter(name=name).first()
    return _server_save(
        actor=actor, server=server or Server(name=name), fields=fields, created=server is None, source=source
    )


def _asset_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(SERVER_ASSET_FIELDS)
    if unknown:
        raise ValueError(f"not asset fields: {sorted(unknown)}")
    return fields


@transaction.atomic
def server_create(*, actor: User, fields: dict[str, Any], source: str = SYSTEM) -> Server:
    """An admin records a physical server (``fields``: any of SERVER_ASSET_FIELDS, ``name``,
    ``architecture`` and ``datacenter`` required). Raises PermissionDenied or ValidationError."""
    _require_change_rights(actor)
    return _server_save(
        actor=actor, server=Server(), fields=_asset_fields(fields), created=True, source=source
    )


@transaction.atomic
def server_update(*, actor: User, server: Server, fields: dict[str, Any], source: str = SYSTEM) -> Server:
    """An admin changes a server's record (any of SERVER_ASSET_FIELDS; the name too). Writes and audits
    only what changed. Raises PermissionDenied or ValidationError."""
    _require(actor, Server.objects.filter(pk=server.pk), Action.CHANGE)
    server = Server.objects.select_for_update().get(pk=server.pk)
    return _server_save(
        actor=actor, server=server, fields=_asset_fields(fields), created=False, source=source
    )


_OPEN_POWER_STATUSES = (
    PowerRequest.Status.AWAITING_CONFIRMATION,
    PowerRequest.Status.QUEUED,
    PowerRequest.Status.RUNNING,
)
_BUSY_DRAIN_STATUSES = (
    ServerDrain.Status.REQUESTED,
    ServerDrain.Status.DRAINING,
    ServerDrain.Status.MIGRATING,
    ServerDrain.Status.UNDRAIN_REQUESTED,
    ServerDrain.Status.UNDRAINING,
)


def server_delete_refusal(server: Server) -> str | None:
    """Why ``server`` may not be deleted now, or None when it may: not while a power action on it is
    open, nor while a drain is in progress or holds its compute service disabled (deleting the record
    would leave the host disabled in Nova with no way back through Kennel)."""
    power = PowerRequest.objects.filter(server=server, status__in=_OPEN_POWER_STATUSES).first()
    if power is not None:
        return gettext(
            "%(server)s has an open power action (%(action)s, %(status)s); wait until it is done or "
            "failed, then delete."
        ) % {
            "server": server.name,
            "action": power.get_action_display(),
            "status": power.get_status_display(),
        }
    drain = ServerDrain.objects.filter(server=server).first()
    if drain is not None and drain.status in _BUSY_DRAIN_STATUSES:
        return gettext(
            "%(server)s has a drain in progress (%(status)s); wait until it is finished, then delete."
        ) % {"server": server.name, "status": drain.get_status_display()}
    if drain is not None and drain.status == ServerDrain.Status.DRAINED:
        return gettext(
            "%(server)s is drained: its compute service is disabled in the cloud. Undrain it first, "
            "then delete."
        ) % {"server": server.name}
    return None


def server_delete(*, actor: User, server: Server, source: str = SYSTEM) -> None:
    """An admin deletes a server's record (its hardware state, drain and power history go with it; the
    audit log keeps what happened). Raises PermissionDenied, or AssetRefused (audited) while a power
    action or drain is open (see ``server_delete_refusal``)."""
    _require(actor, Server.objects.filter(pk=server.pk), Action.DELETE)
    with transaction.atomic():
        # The row lock makes a power or drain request wait, so none opens between check and delete.
        server = Server.objects.select_for_update().get(pk=server.pk)
        refusal = server_delete_refusal(server)
        if refusal is None:
            audit_record(
                actor=actor,
                action="server.delete",
                target=server,
                source=source,
                detail={"name": server.name, "serial": server.serial, "datacenter": server.datacenter.code},
            )
            server.delete()
            return
    raise _refusal_audited(
        AssetRefused(refusal), actor=actor, action="server.delete", target=server, source=source
    )


# BMCs ----------------------------------------------------------------------------------------------

_BMC_FIELDS = ("bmc_protocol", "bmc_address", "bmc_port", "bmc_username")


def bmc_address_refusal(*, protocol: str, address: str, port: int | None) -> ValidationError | None:
    """Why Kennel would not connect to this BMC (inventory.bmc.allowlist: KENNEL_BMC_ALLOWED_NETWORKS
    and KENNEL_BMC_ALLOWED_PORTS, a name must resolve inside them), as a ValidationError naming the
    field (``bmc_address`` or ``bmc_port``); None when it is allowed or there is no BMC."""
    if not protocol:
        return None
    try:
        bmc_endpoint(protocol=protocol, address=address, port=port)
    except BmcRefused as refusal:
        return ValidationError({f"bmc_{refusal.field}": str(refusal)})
    return None


@transaction.atomic
def server_bmc_set(
    *,
    actor: User | None,
    server: Server,
    protocol: str,
    address: str,
    port: int | None,
    username: str,
    password: str | None,
    tls_verify: str | None = None,
    source: str = SYSTEM,
) -> Server:
    """Set ``server``'s BMC. ``password`` None or empty keeps the stored one; ``tls_verify`` (a
    BmcTlsVerifyChoice) None keeps the stored choice; an empty ``protocol`` removes the BMC, its
    password and its choice. Writes and audits only what changed; the audit entry names the changed
    fields, never a password."""
    server = Server.objects.select_for_update().get(pk=server.pk)
    wanted: dict[str, Any] = dict(zip(_BMC_FIELDS, (protocol, address, port, username), strict=True))
    if tls_verify is not None:
        wanted["bmc_tls_verify"] = tls_verify
    if not protocol:
        wanted = {
            "bmc_protocol": "",
            "bmc_address": "",
            "bmc_port": None,
            "bmc_username": "",
            "bmc_tls_verify": "",
        }
    changed = [field for field, value in wanted.items() if getattr(server, field) != value]
    # A new or moved BMC must be one Kennel may connect to; an unchanged one is left alone (the
    # gateways refuse it anyway, and an admin may still change its username or remove it).
    if {"bmc_protocol", "bmc_address", "bmc_port"} & set(changed):
        refusal = bmc_address_refusal(protocol=protocol, address=address, port=port)
        if refusal is not None:
            raise refusal
    for field in changed:
        setattr(server, field, wanted[field])
    if not protocol and server.bmc_password_encrypted:
        server.bmc_password_encrypted = ""
        changed.append("bmc_password")
    elif protocol and password and not bmc_password_matches(server, password):
        server.bmc_password_encrypted = secret_encrypt(password)
        changed.append("bmc_password")
    if not changed:
        return server
    server.full_clean()
    server.save()
    audit_record(
        actor=actor, action="server.bmc_set", target=server, source=source, detail={"fields": sorted(changed)}
    )
    return server


def bmc_password_matches(server: Server, password: str) -> bool:
    """Is ``password`` the one stored for ``server``'s BMC? (Compared in constant time.)"""
    if not server.bmc_password_encrypted:
        return False
    try:
        # As bytes: compare_digest refuses str holding anything but ASCII (a TypeError), which made a
        # non-ASCII password impossible to replace once stored.
        stored = secret_decrypt(server.bmc_password_encrypted)
        return secrets.compare_digest(stored.encode(), password.encode())
    except SecretUnreadable:
        return False


@dataclass(frozen=True)
class SecretRotation:
    """What ``bmc_secrets_rotate`` did: re-encrypted, already on the current key, and the servers whose
    password no configured key decrypts (left as they are)."""

    rotated: int
    current: int
    unreadable: tuple[str, ...]


def bmc_secrets_rotate(*, dry_run: bool = False, source: str = SYSTEM) -> SecretRotation:
    """Re-encrypt every stored BMC password with the first key of KENNEL_ENCRYPTION_KEY, so the older
    keys can be dropped. Passwords already on that key are left alone, so a second run changes nothing.
    A password no key decrypts is reported, never changed. ``dry_run`` counts without writing. Audited
    (counts only) unless nothing changed."""
    rotated, current, unreadable = 0, 0, []
    with transaction.atomic():
        servers = Server.objects.select_for_update().exclude(bmc_password_encrypted="").order_by("name")
        for server in servers:
            if secret_is_current(server.bmc_password_encrypted):
                current += 1
                continue
            try:
                ciphertext = secret_rotate(server.bmc_password_encrypted)
            except SecretUnreadable:
                unreadable.append(server.name)
                continue
            rotated += 1
            if not dry_run:
                Server.objects.filter(pk=server.pk).update(bmc_password_encrypted=ciphertext)
        if rotated and not dry_run:
            audit_record(
                actor=None,
                action="bmc_secrets.rotate",
                source=source,
                detail={"rotated": rotated, "current": current, "unreadable": len(unreadable)},
            )
    return SecretRotation(rotated=rotated, current=current, unreadable=tuple(unreadable))


def _bmc_target(server: Server) -> BmcTarget:
    """The gateway's view of ``server``'s BMC, with the password decrypted. Stays in memory."""
    password = secret_decrypt(server.bmc_password_encrypted) if server.bmc_password_encrypted else ""
    return BmcTarget(
        protocol=BmcProtocol(server.bmc_protocol),
        address=server.bmc_address,
        port=int(server.bmc_port or 0),
        username=server.bmc_username,
        password=password,
        verify=bmc_tls_verify(server),
    )


def bmc_tls_verify(server: Server) -> bool | str:
    """How ``server``'s Redfish BMC certificate is checked: False (not at all), True (against the
    system's CAs) or the path of KENNEL_BMC_CA_BUNDLE. The server's own choice wins over the setting
    KENNEL_BMC_TLS_VERIFY (off by default)."""
    if server.bmc_tls_verify == BmcTlsVerifyChoice.SKIP:
        return False
    if server.bmc_tls_verify != BmcTlsVerifyChoice.VERIFY and not settings.KENNEL_BMC_TLS_VERIFY:
        return False
    return settings.KENNEL_BMC_CA_BUNDLE or True


@dataclass(frozen=True)
class BmcPollResult:
    server_id: int
    state: bmc.HardwareState | None = None
    error: str = ""


@dataclass(frozen=True)
class BmcPollSummary:
    polled: int
    reachable: int
    unreachable: int
    seconds: float


def bmc_failure_text(error: BmcError, *, timeout: float) -> str:
    """What a BMC's failure is, in words that tell the kinds apart: a BMC that never answers, one that
    answers garbage, one that refuses the credentials, one nobody listens for, one Kennel may not reach."""
    if isinstance(error, BmcRefused):
        return _(
            "Not polled: the BMC's address is outside KENNEL_BMC_ALLOWED_NETWORKS or "
            "KENNEL_BMC_ALLOWED_PORTS (or does not resolve)."
        )
    if isinstance(error, BmcAuthError):
        return _("The BMC refused the credentials.")
    if isinstance(error, BmcTimeout):
        return _("The BMC did not answer within %(seconds)s s.") % {"seconds": f"{timeout:g}"}
    if isinstance(error, BmcUnreachable):
        return _("The BMC did not answer.")
    if isinstance(error, BmcProtocolError):
        return _("The BMC answered with something that is not its protocol: %(detail)s") % {
            "detail": str(error)[:150]
        }
    return str(error)[:200]


def _bmc_read(server_id: int, target: BmcTarget, timeout: float) -> BmcPollResult:
    try:
        return BmcPollResult(
            server_id, state=gateway_for(target.protocol).read_state(target, timeout=timeout)
        )
    except BmcError as exc:
        return BmcPollResult(server_id, error=bmc_failure_text(exc, timeout=timeout))
    except Exception:
        # One BMC's surprise must not end the poll of the others. The target's repr hides the password.
        logger.exception("polling %s failed", target)
        return BmcPollResult(server_id, error=(_("Polling failed; see the worker's log.")))


def bmc_poll_all(*, timeout: float | None = None, workers: int | None = None) -> BmcPollSummary:
    """Poll every server that has a BMC, all at once, and store what each answered as its latest
    ``HardwareState``.

    Each BMC gets ``timeout`` seconds (KENNEL_BMC_TIMEOUT); a dead one costs only that, in its own
    thread, and is stored as unreachable with its last-seen time kept. ``workers`` (KENNEL_BMC_POLL_WORKERS)
    BMCs are polled at a time. Raises nothing for a BMC's failure; database errors propagate.
    """
    timeout = float(timeout or settings.KENNEL_BMC_TIMEOUT)
    workers = workers or settings.KENNEL_BMC_POLL_WORKERS
    started = time.monotonic()
    servers = list(Server.objects.exclude(bmc_protocol="").exclude(bmc_address="").exclude(bmc_port=None))
    results: list[BmcPollResult] = []
    targets: dict[int, BmcTarget] = {}
    for server in servers:
        try:
            targets[server.pk] = _bmc_target(server)
        except SecretUnreadable:
            results.append(
                BmcPollResult(server.pk, error=(_("The stored BMC password cannot be decrypted.")))
            )
    if targets:
        pool = ThreadPoolExecutor(max_workers=min(workers, len(targets)), thread_name_prefix="bmc-poll")
        futures = {pool.submit(_bmc_read, pk, target, timeout): pk for pk, target in targets.items()}
        # Every read bounds itself; this guard covers one that does not (a hung library call).
        rounds = -(-len(futures) // min(workers, len(futures)))
        done, late = wait(futures, timeout=rounds * timeout + 5)
        results += [future.result() for future in done]
        results += [BmcPollResult(futures[f], error=(_("The BMC did not answer."))) for f in late]
        pool.shutdown(wait=False, cancel_futures=True)
    _hardware_states_store(results)
    reachable = sum(1 for r in results if r.state is not None)
    return BmcPollSummary(
        polled=len(results),
        reachable=reachable,
        unreachable=len(results) - reachable,
        seconds=time.monotonic() - started,
    )


@transaction.atomic
def _hardware_states_store(results: list[BmcPollResult]) -> None:
    """Write each result onto its server's HardwareState. Polls are observations, not anyone's
    change, so they are not audited; what an admin does to a BMC is."""
    now = timezone.now()
    existing = {
        h.server_id: h for h in HardwareState.objects.filter(server_id__in=[r.server_id for r in results])
    }
    for result in results:
        row = existing.get(result.server_id) or HardwareState(server_id=result.server_id, polled_at=now)
        row.polled_at = now
        if result.state is not None:
            state = result.state
            row.reachable, row.error, row.last_seen_at = True, "", now
            row.power_state, row.health = state.power.value, state.health.value
            row.sensors = [
                {"name": s.name, "kind": s.kind.value, "value": s.value, "health": s.health.value}
                for s in state.sensors
            ]
            row.max_temperature_c, row.power_watts = state.max_temperature_c, state.power_watts
        else:
            # What we knew is no longer known; the last-seen time says when it was.
            row.reachable, row.error = False, result.error
            row.power_state, row.health = PowerStateChoice.UNKNOWN, HealthChoice.UNKNOWN
            row.max_temperature_c = row.power_watts = None
        row.save()


# Guarded power actions -------------------------------------------------------------------------------

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
    cooldown = settings.KENNEL_POWER_COOLDOWN
    since = timezone.now() - timedelta(seconds=cooldown)
    recent = (
        PowerRequest.objects.filter(server=server, created_at__gte=since)
        .exclude(status=PowerRequest.Status.FAILED)
        .order_by("-created_at")
        .first()
    )
    if cooldown and recent is not None:
        wait_for = cooldown - int((timezone.now() - recent.created_at).total_seconds())
        return gettext("Another power action ran moments ago; wait %(seconds)d s.") % {"seconds": wait_for}
    return None


@transaction.atomic
def power_request_confirm(*, actor: User, request: PowerRequest, source: str = SYSTEM) -> PowerRequest:
    """A second admin (not the one who asked) confirms a controller's power action; it is queued."""
    if not restrict(actor, Server.objects.filter(pk=request.server_id), Action.OPERATE).exists():
        raise PowerActionRefused(gettext("Only an admin may power servers."))
    if request.requested_by_id == actor.pk:
        raise PowerActionRefused(gettext("A second admin must confirm, not the one who asked."))
    claimed = PowerRequest.objects.filter(
        pk=request.pk, status=PowerRequest.Status.AWAITING_CONFIRMATION
    ).update(status=PowerRequest.Status.QUEUED, confirmed_by=actor)
    if claimed != 1:
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
    claimed = PowerRequest.objects.filter(pk=request_id, status=PowerRequest.Status.QUEUED).update(
        status=PowerRequest.Status.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return None
    request = PowerRequest.objects.select_related("server", "requested_by").get(pk=request_id)
    error = ""
    try:
        target = _bmc_target(request.server)
        gateway_for(target.protocol).power(
            target, bmc.PowerAction(request.action), timeout=float(timeout or settings.KENNEL_BMC_TIMEOUT)
        )
    except BmcError as exc:
        error = bmc_failure_text(exc, timeout=float(timeout or settings.KENNEL_BMC_TIMEOUT))
    except SecretUnreadable:
        error = _("The stored BMC password cannot be decrypted.")
    request.status = PowerRequest.Status.FAILED if error else PowerRequest.Status.DONE
    request.error = error
    request.finished_at = timezone.now()
    request.save(update_fields=["status", "error", "finished_at"])
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
        if (
            PowerRequest.objects.filter(pk=request.pk, status=PowerRequest.Status.RUNNING).update(
                status=status, error=error, finished_at=now
            )
            != 1
        ):
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


# Draining compute nodes ---------------------------------------------------------------------------
# The web only records what an admin asked for; a worker talks to Nova (the web never waits on the cloud).


class DrainRefused(Exception):
    """The drain or undrain may not be asked for; the message says why, for the person who asked."""


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
            drain.error, drain.migrate = "", migrate
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
            drain.status, drain.error = ServerDrain.Status.UNDRAIN_REQUESTED, ""
            drain.status_changed_at = timezone.now()
            drain.save(update_fields=["status", "error", "status_changed_at"])
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


# Shown on a drain waiting out an outage; stored untranslated like every worker's message.
DRAIN_WAITING_FOR_CLOUD = _(
    "Waiting for the cloud, which cannot be reached right now; Kennel retries by itself."
)


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
    claimed = ServerDrain.objects.filter(pk=drain.pk, status=requested).update(
        status=working, status_changed_at=timezone.now()
    )
    if claimed != 1:
        return None
    host = drain.server.hypervisor_hostname
    who = drain.requested_by.get_username()
    error = ""
    try:
        cloud().set_compute_service_enabled(
            host, enabled=enabled, reason=None if enabled else f"kennel: {drain.reason} (by {who})"
        )
    except CloudUnavailable:
        ServerDrain.objects.filter(pk=drain.pk, status=working).update(
            status=requested, error=DRAIN_WAITING_FOR_CLOUD, status_changed_at=timezone.now()
        )
        raise
    except CloudNotFound:
        error = _("The cloud has no compute service on this host.")
    except CloudError as exc:
        error = str(exc)[:200]
    if not error and drain.migrate and not enabled:
        done = ServerDrain.Status.MIGRATING  # inventory.drain_migration moves the VMs, then drained
    ServerDrain.objects.filter(pk=drain.pk, status=working).update(
        status=ServerDrain.Status.FAILED if error else done, error=error, status_changed_at=timezone.now()
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
