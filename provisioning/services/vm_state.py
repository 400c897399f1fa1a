"""A VM row's state machine and its mirror of the server: conditional transitions with their events,
the server fields a VM row shows, the cloud's refusals in words, and handing asked work to a worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Task
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from portal.access import Action, restrict
from portal.cloud.gateway import CloudError, QuotaExceeded, Server
from portal.models import User
from portal.queue import enqueue
from portal.services import audit_record
from portal.stored_messages import StoredMessage
from portal.worker import claim
from provisioning import stored_messages as texts
from provisioning.models import VmEvent, VmRequest
from provisioning.server_states import ServerState, server_state_for

# What a VM whose server is gone shows of it.
_GONE = {"server_status": "", "server_task_state": "", "server_state": ServerState.DELETED}


Status = VmRequest.Status


def _event(vm: VmRequest, status: str, message: StoredMessage) -> None:
    """Add a step to the VM's history: the message's id and parameters, shown in the reader's
    language, and its English text (what older releases and the audit read)."""
    VmEvent.objects.create(request=vm, status=status, message=message.english(), message_ref=message.ref())


def _status_message(message: StoredMessage) -> dict[str, Any]:
    """The row's fields that hold its status line."""
    return {"status_message": message.english(), "status_message_ref": message.ref()}


def _transition(vm: VmRequest, to: str, message: StoredMessage, **fields) -> bool:
    """Move ``vm`` from its current status to ``to`` if nobody moved it meanwhile."""
    fields = {**_status_message(message), **fields}
    moved = claim(
        VmRequest.objects.filter(pk=vm.pk, status=vm.status),
        status=to,
        updated_at=timezone.now(),
        **fields,
    )
    if moved:
        vm.status = to
        for key, value in fields.items():
            setattr(vm, key, value)
        _event(vm, to, message)
    return bool(moved)


def _server_fields(server: Server, flavor_ids: Mapping[str, int] | None = None) -> dict[str, Any]:
    """What a VM row mirrors of its server: every field the pages show (Nova's status and task state,
    and the state they mean, ``ServerState``). The flavor follows a resize
    (Nova reports the flavor's name and size; the mirrored flavor of that name, when ``flavor_ids``
    is given) and the name a rename."""
    fields: dict[str, Any] = {
        "server_status": server.status,
        "server_task_state": server.task_state or "",
        "server_state": server_state_for(server.status, server.task_state),
        "host": server.host or "",
        "addresses": {network: list(ips) for network, ips in server.addresses.items()},  # as JSON holds it
        "locked": server.locked,
    }
    if server.name:
        fields["name"] = server.name[:63]
    if server.flavor_name and server.vcpus:
        fields |= {
            "flavor_name": server.flavor_name,
            "vcpus": server.vcpus,
            "ram_mb": server.ram_mb,
            "disk_gb": server.disk_gb,
        }
        if flavor_ids is not None and server.flavor_name in flavor_ids:
            fields["flavor_id"] = flavor_ids[server.flavor_name]
    return fields


def _server_changes(
    vm: VmRequest, server: Server, flavor_ids: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """What of the server differs from what the VM row shows (empty when nothing does)."""
    return {
        key: value for key, value in _server_fields(server, flavor_ids).items() if getattr(vm, key) != value
    }


def _mirror_server(vm: VmRequest, server: Server, flavor_ids: Mapping[str, int] | None = None) -> bool:
    """Write what changed of the server onto the VM row (nothing when nothing did). True if it did."""
    fields = _server_changes(vm, server, flavor_ids)
    if not fields:
        return False
    VmRequest.objects.filter(pk=vm.pk).update(**fields)
    for key, value in fields.items():
        setattr(vm, key, value)
    return True


def _explain(error: CloudError, vm: VmRequest) -> StoredMessage:
    """The cloud's refusal in words a developer can act on (the cloud's own words as a parameter)."""
    if isinstance(error, QuotaExceeded):
        return texts.QUOTA_REFUSED(detail=str(error))
    return texts.CLOUD_REFUSED_REQUEST(detail=str(error))


def _explain_fault(vm: VmRequest, fault: str | None) -> StoredMessage:
    if fault and "quota exceeded" in fault.lower():  # Nova's conductor rechecks quota after the API
        return _explain(QuotaExceeded(fault), vm)
    if fault and "No valid host" in fault:
        return texts.NO_VALID_HOST(arch=vm.architecture, flavor=vm.flavor_name)
    return texts.BUILD_FAULT(fault=fault or texts.NO_REASON())


def _operable(actor: User, vm: VmRequest) -> VmRequest:
    """The VM locked for update if ``actor`` may act on it; PermissionDenied otherwise."""
    locked = restrict(actor, VmRequest.objects.select_for_update(of=("self",)), Action.OPERATE).filter(
        pk=vm.pk
    )
    found = locked.first()
    if found is None:
        raise PermissionDenied
    return found


def _vm_ask_worker(
    *, actor: User, vm: VmRequest, fields: dict[str, Any], action: str, task: Task, source: str
) -> None:
    """Mark what is asked on the VM (the page follows these fields), audit it and hand it to a worker
    once the transaction commits."""
    VmRequest.objects.filter(pk=vm.pk).update(**fields)
    for key, value in fields.items():
        setattr(vm, key, value)
    audit_record(actor=actor, action=action, target=vm, team=vm.team, source=source)
    enqueue(task, vm.pk)
