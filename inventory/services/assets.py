"""Writes for servers' and data centers' records (create, update, delete), and the refusal helpers
the other inventory services share."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext, ngettext

from inventory.models import DataCenter, PowerRequest, Server, ServerDrain, ServerRole
from portal.access import Action, Capability, can, restrict
from portal.models import AuditEvent, User
from portal.origin import SYSTEM
from portal.services import audit_record


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
