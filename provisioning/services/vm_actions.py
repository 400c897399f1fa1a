"""Operating a VM: start, stop, reboot and refresh, and deleting it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, CloudRequestError, ServerAction
from portal.hooks import hooks_run
from portal.models import User
from portal.origin import WORKER
from portal.queue import enqueue
from portal.services import audit_record
from portal.stored_messages import StoredMessage
from provisioning import stored_messages as texts
from provisioning.floating_ips import floating_ip_release_after_vanish, floating_ip_release_with_vm
from provisioning.hooks import ProvisioningEvent, VmKeeper
from provisioning.models import VmRequest
from provisioning.server_states import BUSY, ServerState
from provisioning.services.vm_requests import METADATA_KEY
from provisioning.services.vm_state import _GONE, Status, _event, _mirror_server, _operable, _transition

ACTION_LABELS = {
    ServerAction.START: gettext_lazy("start"),
    ServerAction.STOP: gettext_lazy("stop"),
    ServerAction.REBOOT_SOFT: gettext_lazy("reboot"),
    ServerAction.REBOOT_HARD: gettext_lazy("hard-reboot"),
    ServerAction.CONFIRM_RESIZE: gettext_lazy("confirm the resize of"),
    ServerAction.REVERT_RESIZE: gettext_lazy("revert the resize of"),
    ServerAction.LOCK: gettext_lazy("lock"),
    ServerAction.UNLOCK: gettext_lazy("unlock"),
}
# Kennel's changes that are not server actions of their own, for the refusals' wording.
CHANGE_LABELS = {
    "resize": gettext_lazy("resize"),
    "rebuild": gettext_lazy("rebuild"),
    "snapshot": gettext_lazy("take a snapshot of"),
    "delete": gettext_lazy("delete"),
}
# What a VM's keeper (a team service) does itself: refused on the VM alone.
KEPT_CHANGES = ("delete", "resize", "rebuild")


class VmStateConflict(ValidationError):
    """The action makes no sense in the server's current state (start a running VM, stop a stopped
    one, anything while it reboots). The API answers 409; pages show the message."""


def state_refusal(vm: VmRequest, action: str) -> VmStateConflict | None:
    """Why ``action`` makes no sense for ``vm``'s server right now (None: it does): a lock first."""
    if vm.may(action):
        return None
    if vm.locked and action not in vm.WHILE_LOCKED:
        return VmStateConflict(_("%(name)s is locked against changes; unlock it first.") % {"name": vm.name})
    if action == ServerAction.LOCK and vm.locked:
        return VmStateConflict(_("%(name)s is already locked.") % {"name": vm.name})
    if action == ServerAction.UNLOCK and not vm.locked:
        return VmStateConflict(_("%(name)s is not locked.") % {"name": vm.name})
    state = vm.state_label.lower()
    if vm.server_state in BUSY:
        return VmStateConflict(
            _("%(name)s is %(state)s right now; wait until that is finished, then try again.")
            % {"name": vm.name, "state": state}
        )
    if action == ServerAction.START and vm.server_state == ServerState.RUNNING:
        return VmStateConflict(_("%(name)s is already running.") % {"name": vm.name})
    if action == ServerAction.STOP and vm.server_state == ServerState.STOPPED:
        return VmStateConflict(_("%(name)s is already stopped.") % {"name": vm.name})
    labels = {str(key): str(label) for key, label in (ACTION_LABELS | CHANGE_LABELS).items()}
    labels.update(console=_("open the console of"), console_log=_("read the console log of"))
    what = labels.get(str(action), str(action))
    return VmStateConflict(
        _("You cannot %(action)s %(name)s while it is %(state)s.")
        % {"action": what, "name": vm.name, "state": state}
    )


def vm_keeper(vm: VmRequest) -> VmKeeper | None:
    """What keeps ``vm`` besides its owner (a team service), or None."""
    return next((keeper for keeper in hooks_run(ProvisioningEvent.VM_KEEPER, vm=vm) if keeper), None)


def keeper_refusal(vm: VmRequest, action: str) -> VmStateConflict | None:
    """Why ``action`` (one of KEPT_CHANGES) is refused on ``vm`` alone: its keeper would undo it or
    count it wrong. None when nothing keeps the VM or the action is not one the keeper makes."""
    keeper = vm_keeper(vm) if action in KEPT_CHANGES else None
    if keeper is None:
        return None
    return VmStateConflict(
        _(
            "You cannot %(action)s %(name)s on its own: it is part of %(keeper)s. "
            "Scale, upgrade or delete the service instead."
        )
        % {"action": CHANGE_LABELS[action], "name": vm.name, "keeper": keeper.label}
    )


def vm_action_request(*, actor: User, vm: VmRequest, action: ServerAction, source: str) -> VmRequest:
    """Ask for start, stop or reboot; the worker does it. Only an active VM with a server takes actions
    (ValidationError), and only those that make sense in the server's state as last mirrored
    (VmStateConflict: no start on a running server, no stop on a stopped one, nothing while it is busy)."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE or not vm.server_id:
            raise ValidationError(_("Only an active VM takes actions."))
        refusal = state_refusal(vm, ServerAction(action))
        if refusal is not None:
            raise refusal
        _event(
            vm,
            vm.status,
            texts.ACTION_ASKED(user=actor.get_username(), action=texts.ACTION_VERBS[str(action)]()),
        )
        audit_record(actor=actor, action=f"vm.{action}", target=vm, team=vm.team, source=source)
        from provisioning.tasks import vm_action

        request_id = vm.pk
        enqueue(vm_action, request_id, str(action))
    return vm


def vm_action_advance(*, request_id: int, action: ServerAction) -> None:
    vm = VmRequest.objects.filter(pk=request_id, status=Status.ACTIVE).first()
    if vm is None or not vm.server_id:
        return
    gateway = cloud()
    try:
        gateway.server_action(vm.server_id, ServerAction(action))
    except CloudRequestError as error:
        _event(vm, vm.status, texts.CLOUD_REFUSED(detail=str(error)))
        return
    vm_refresh(request_id=request_id)


def vm_refresh(*, request_id: int) -> VmRequest | None:
    """Bring one VM's mirrored server state up to date (after the portal's own action)."""
    vm = VmRequest.objects.filter(pk=request_id).first()
    if vm is None or not vm.server_id:
        return vm
    try:
        _mirror_server(vm, cloud().get_server(vm.server_id))
    except CloudNotFound:
        if vm.status == Status.ACTIVE:
            _transition(vm, Status.DELETED, texts.VANISHED(), **_GONE)
            floating_ip_release_after_vanish(vm=vm)
    return vm


def vm_delete_request(*, actor: User, vm: VmRequest, source: str) -> VmRequest:
    """Mark the VM for deletion and enqueue it. Deleting a deleted VM is a no-op; a locked one is
    refused (VmStateConflict)."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status in (Status.DELETING, Status.DELETED):
            return vm
        if vm.locked:
            raise VmStateConflict(
                _("%(name)s is locked against changes; unlock it first.") % {"name": vm.name}
            )
        refusal = keeper_refusal(vm, "delete")
        if refusal is not None:
            raise refusal
        if vm.status == Status.QUEUED and not vm.server_id:
            # Not built yet: the build task's claim (queued -> building) will now find nothing to do.
            _transition(
                vm,
                Status.DELETED,
                texts.CANCELLED(user=actor.get_username()),
            )
        else:
            _transition(vm, Status.DELETING, texts.DELETE_ASKED(user=actor.get_username()))
        audit_record(actor=actor, action="vm.delete", target=vm, team=vm.team, source=source)
        if vm.status == Status.DELETING:
            from provisioning.tasks import vm_request_delete

            request_id = vm.pk
            enqueue(vm_request_delete, request_id)
    return vm


def vm_retire(*, vm: VmRequest, reason: StoredMessage, source: str, actor: User | None = None) -> VmRequest:
    """Delete a VM on behalf of what owns it (a team service scaling down or replacing it, its team's
    offboarding): the same transitions as ``vm_delete_request`` without its permission, lock and keeper
    checks, which the owner made when the change was asked for. ``actor`` is who asked for that change
    (the audit log names them)."""
    with transaction.atomic():
        vm = VmRequest.objects.select_for_update(of=("self",)).get(pk=vm.pk)
        if vm.status in (Status.DELETING, Status.DELETED):
            return vm
        if vm.status == Status.QUEUED and not vm.server_id:
            _transition(vm, Status.DELETED, reason)
        else:
            _transition(vm, Status.DELETING, reason)
        audit_record(
            actor=actor,
            action="vm.delete",
            target=vm,
            team=vm.team,
            source=source,
            detail={"reason": reason.english()},
        )
        if vm.status == Status.DELETING:
            from provisioning.tasks import vm_request_delete

            request_id = vm.pk
            enqueue(vm_request_delete, request_id)
    return vm


def vm_delete_advance(*, request_id: int) -> bool:
    """Delete the server and wait until Nova no longer has it. True when done."""
    vm = VmRequest.objects.filter(pk=request_id, status=Status.DELETING).first()
    if vm is None:
        return True
    gateway = cloud()
    server_id = vm.server_id or next(
        (
            s.id
            for s in gateway.find_servers_by_metadata(
                project_id=vm.team.openstack_project_id, key=METADATA_KEY, value=str(vm.pk)
            )
        ),
        "",
    )
    # The address Kennel allocated for the VM goes with it (Neutron would keep it, unattached, counting
    # against the team's quota). First, so a retry after an outage finds it done.
    floating_ip_release_with_vm(vm=vm, gateway=gateway)
    if not server_id:
        _transition(vm, Status.DELETED, texts.DELETED(), **_GONE)
        return True
    try:
        server = gateway.get_server(server_id)
        if server.status != "DELETED" and server.task_state != "deleting":
            gateway.delete_server(server_id)
        return False
    except CloudNotFound:
        _transition(vm, Status.DELETED, texts.DELETED(), **{**_GONE, "server_status": "DELETED"})
        audit_record(actor=None, action="vm.deleted", target=vm, team=vm.team, source=WORKER)
        return True
