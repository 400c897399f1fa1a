"""Glance properties of an image (architecture, machine type, ...): asked for on the web, written to
Glance by a worker, given up on after an outage outlasts the retries."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import stored_messages as texts
from catalog.models import ImagePropertyChange
from catalog.services.offer import _check_architecture, _check_machine_type
from portal.cloud import cloud
from portal.cloud.gateway import CloudError, CloudNotFound, CloudRequestError, CloudUnavailable
from portal.models import User
from portal.queue import enqueue
from portal.services import audit_record
from portal.stored_messages import StoredMessage, message_join
from portal.worker import claim
from provisioning.models import CloudImage
from provisioning.services import catalog_refresh

ChangeStatus = ImagePropertyChange.Status


def image_properties_request(
    *,
    actor: User,
    image: CloudImage,
    architecture: str,
    os_distro: str,
    os_version: str,
    machine_type: str,
    min_disk_gb: int,
    min_ram_mb: int,
    source: str,
) -> ImagePropertyChange:
    """Ask a worker to change the image's properties in Glance. A blank value removes the property.
    Refuses (ValidationError) an architecture no hypervisor runs, a machine type of another
    architecture, a change while another is on its way, and a change that changes nothing."""
    architecture, os_distro, os_version, machine_type = (
        v.strip() for v in (architecture, os_distro, os_version, machine_type)
    )
    if architecture:
        _check_architecture(architecture)
        _check_machine_type(architecture, machine_type)
    elif machine_type:
        raise ValidationError({"machine_type": _("Set the architecture for a machine type.")})
    wanted = {
        "hw_architecture": architecture,
        "os_distro": os_distro,
        "os_version": os_version,
        "hw_machine_type": machine_type,
    }
    current = image.properties or {}
    properties = {k: v for k, v in wanted.items() if v and current.get(k) != v}
    remove = [k for k, v in wanted.items() if not v and k in current]
    disk = min_disk_gb if min_disk_gb != image.min_disk_gb else None
    ram = min_ram_mb if min_ram_mb != image.min_ram_mb else None
    if not properties and not remove and disk is None and ram is None:
        raise ValidationError(_("That is what Glance already has; nothing to change."))
    with transaction.atomic():
        CloudImage.objects.select_for_update().filter(pk=image.pk).first()
        if ImagePropertyChange.objects.filter(
            image_id=image.cloud_id, status__in=[ChangeStatus.PENDING, ChangeStatus.APPLYING]
        ).exists():
            raise ValidationError(
                _("A change to %(image)s is already on its way to Glance; wait for it.")
                % {"image": image.name}
            )
        change = ImagePropertyChange.objects.create(
            image_id=image.cloud_id,
            image_name=image.name,
            properties=properties,
            remove=remove,
            min_disk_gb=disk,
            min_ram_mb=ram,
            requested_by=actor,
        )
        audit_record(
            actor=actor,
            action="image.properties",
            target=change,
            source=source,
            detail={"properties": properties, "remove": remove, "min_disk": disk, "min_ram": ram},
        )
        change_id = change.pk
        _enqueue_properties(change_id)
    return change


def _enqueue_properties(change_id: int) -> None:
    from catalog.tasks import image_properties_apply as task

    enqueue(task, change_id)


def image_properties_apply(*, change_id: int) -> None:
    """Apply one change in Glance, then refresh the mirror. Lets CloudUnavailable through with the
    change back in ``pending`` (the task retries); a refusal lands on the change as ``failed``."""
    pending = ImagePropertyChange.objects.filter(pk=change_id, status=ChangeStatus.PENDING)
    if not claim(pending, status=ChangeStatus.APPLYING, updated_at=timezone.now()):
        return  # done, failed, gone, or another worker has it
    change = ImagePropertyChange.objects.get(pk=change_id)
    try:
        cloud().update_image(
            change.image_id,
            properties=change.properties,
            remove=change.remove,
            min_disk_gb=change.min_disk_gb,
            min_ram_mb=change.min_ram_mb,
        )
    except CloudUnavailable as error:
        _change_status(change, ChangeStatus.PENDING, texts.WAITING_FOR_CLOUD(e=str(error)))
        raise
    except (CloudNotFound, CloudRequestError) as error:
        _change_status(change, ChangeStatus.FAILED, texts.GLANCE_REFUSED(e=str(error)))
        return
    message = texts.PROPERTIES_SET()
    try:
        catalog_refresh()
    except CloudError as error:
        message = message_join(message, texts.SHOWN_AT_REFRESH(e=str(error)))
    _change_status(change, ChangeStatus.DONE, message)


def image_properties_give_up(*, change_id: int, error: str) -> None:
    """The cloud stayed unreachable through every retry: the change fails, saying why."""
    change = ImagePropertyChange.objects.filter(pk=change_id).first()
    if change is not None and not change.finished:
        _change_status(
            change,
            ChangeStatus.FAILED,
            texts.CHANGE_GAVE_UP(e=error),
        )


def _change_status(change: ImagePropertyChange, status: str, message: StoredMessage) -> None:
    fields = {"message": message.english(), "message_ref": message.ref()}
    ImagePropertyChange.objects.filter(pk=change.pk).update(
        status=status, updated_at=timezone.now(), **fields
    )
    change.status = status
    for key, value in fields.items():
        setattr(change, key, value)
