"""Changing a VM in place: resize to another flavor (confirmed or reverted afterwards, as Nova asks),
rebuild from another image of its architecture. Locking, unlocking, confirming and reverting are
server actions (``vm_actions``); a locked VM refuses all of this with the reason."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, CloudRequestError, QuotaExceeded
from portal.hooks import hooks_run
from portal.models import Team, User
from portal.queue import enqueue
from portal.services import audit_record
from provisioning import stored_messages as texts
from provisioning.hooks import ProvisioningEvent
from provisioning.models import CloudFlavor, CloudImage, VmRequest
from provisioning.selectors import host_fit_count
from provisioning.services.vm_actions import VmStateConflict, keeper_refusal, state_refusal
from provisioning.services.vm_state import Status, _event, _explain, _operable


def _active_refusal(vm: VmRequest, action: str) -> None:
    if vm.status != Status.ACTIVE or not vm.server_id:
        raise ValidationError(_("Only an active VM can be changed."))
    refusal = state_refusal(vm, action) or keeper_refusal(vm, action)
    if refusal is not None:
        raise refusal


def vm_resize_request(*, actor: User, vm: VmRequest, flavor: CloudFlavor, source: str) -> VmRequest:
    """Ask for ``vm`` on ``flavor``; a worker asks Nova, and the VM then waits, resized, for its
    owner to confirm or revert. Refuses (ValidationError; VmStateConflict for the server's state or a
    lock) a flavor not offered, the same flavor, one too small for the VM's image or not for its
    architecture, one no host of the architecture has room for, and one the team's quota does not
    allow (its growth is checked under the team's row lock, before anything is sent)."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        _active_refusal(vm, "resize")
        errors = []
        if not flavor.offered or not flavor.is_public:
            errors.append(_("Flavor %(flavor)s is not offered to developers.") % {"flavor": flavor.name})
        elif flavor.name == vm.flavor_name:
            errors.append(
                _("%(name)s already has flavor %(flavor)s.") % {"name": vm.name, "flavor": flavor.name}
            )
        elif not flavor.suits_architecture(vm.architecture):
            errors.append(
                _("Flavor %(flavor)s is not for %(arch)s VMs.")
                % {"flavor": flavor.name, "arch": vm.architecture}
            )
        elif vm.image is not None and not flavor.fits_image(vm.image):
            errors.append(
                _("Flavor %(flavor)s is too small for %(image)s.")
                % {"flavor": flavor.name, "image": vm.image_name}
            )
        elif host_fit_count(architecture=vm.architecture, flavor=flavor, other_than=vm.host) < 1:
            # Nova moves a resized server to another host of its architecture.
            errors.append(
                _("No %(arch)s host other than %(host)s has room for a %(flavor)s VM right now.")
                % {"arch": vm.architecture, "host": vm.host or "?", "flavor": flavor.name}
            )
        if errors:
            raise ValidationError({"flavor": errors})
        Team.objects.select_for_update().filter(pk=vm.team_id).first()
        # Only what grows counts; the VM itself is already counted (instances: 0).
        refusals = hooks_run(
            ProvisioningEvent.VM_ADMIT,
            team=vm.team,
            vcpus=max(0, flavor.vcpus - vm.vcpus),
            ram_mb=max(0, flavor.ram_mb - vm.ram_mb),
            disk_gb=max(0, flavor.disk_gb - vm.disk_gb),
            architecture=vm.architecture,
            instances=0,
        )
        if refusal := next((r for r in refusals if r), None):
            raise ValidationError({"flavor": refusal})
        _event(
            vm, vm.status, texts.RESIZE_ASKED(user=actor.get_username(), old=vm.flavor_name, new=flavor.name)
        )
        audit_record(
            actor=actor,
            action="vm.resize",
            target=vm,
            team=vm.team,
            source=source,
            detail={"from": vm.flavor_name, "to": flavor.name},
        )
        from provisioning.tasks import vm_resize

        enqueue(vm_resize, vm.pk, flavor.pk)
    return vm


def vm_resize_advance(*, request_id: int, flavor_id: int) -> bool:
    """Ask Nova to resize. True when asked (the caller follows the server), False when there was
    nothing to do or the cloud refused (the history says why). Lets outages through."""
    vm = VmRequest.objects.filter(pk=request_id, status=Status.ACTIVE).first()
    flavor = CloudFlavor.objects.filter(pk=flavor_id).first()
    if vm is None or not vm.server_id or flavor is None:
        return False
    try:
        cloud().resize_server(vm.server_id, flavor_id=flavor.cloud_id)
    except (CloudRequestError, CloudNotFound, QuotaExceeded) as error:
        _event(vm, vm.status, _explain(error, vm))
        return False
    return True


def vm_rebuild_request(*, actor: User, vm: VmRequest, image: CloudImage, source: str) -> VmRequest:
    """Ask for ``vm``'s disk to be rebuilt from ``image`` (everything on it is lost; its name,
    addresses and flavor stay). Only an image the team may build from (offered, or the team's own),
    of the VM's architecture, and fitting its flavor."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        _active_refusal(vm, "rebuild")
        error = None
        if image.status != "active":
            error = _("Image %(image)s is not active.") % {"image": image.label}
        elif image.team_id is not None and image.team_id != vm.team_id:
            error = _("Image %(image)s belongs to another team.") % {"image": image.label}
        elif image.team_id is None and not image.offered:
            error = _("Image %(image)s is not offered to developers.") % {"image": image.label}
        elif image.architecture != vm.architecture:
            error = _("Image %(image)s is %(image_arch)s; %(name)s is %(arch)s.") % {
                "image": image.label,
                "image_arch": image.architecture or "?",
                "name": vm.name,
                "arch": vm.architecture,
            }
        elif image.min_disk_gb > vm.disk_gb or image.min_ram_mb > vm.ram_mb:
            error = _("Image %(image)s needs a larger flavor than %(flavor)s.") % {
                "image": image.label,
                "flavor": vm.flavor_name,
            }
        if error:
            raise ValidationError({"image": error})
        _event(vm, vm.status, texts.REBUILD_ASKED(user=actor.get_username(), image=image.label))
        audit_record(
            actor=actor,
            action="vm.rebuild",
            target=vm,
            team=vm.team,
            source=source,
            detail={"image": image.name},
        )
        from provisioning.tasks import vm_rebuild

        enqueue(vm_rebuild, vm.pk, image.pk)
    return vm


def vm_rebuild_advance(*, request_id: int, image_id: int) -> bool:
    """Ask Nova to rebuild; the VM row then names the new image. True when asked."""
    vm = VmRequest.objects.filter(pk=request_id, status=Status.ACTIVE).first()
    image = CloudImage.objects.filter(pk=image_id).first()
    if vm is None or not vm.server_id or image is None:
        return False
    try:
        cloud().rebuild_server(vm.server_id, image_id=image.cloud_id)
    except (CloudRequestError, CloudNotFound, QuotaExceeded) as error:
        _event(vm, vm.status, _explain(error, vm))
        return False
    VmRequest.objects.filter(pk=vm.pk).update(image=image, image_name=image.name)
    return True


__all__ = [
    "VmStateConflict",
    "vm_rebuild_advance",
    "vm_rebuild_request",
    "vm_resize_advance",
    "vm_resize_request",
]
