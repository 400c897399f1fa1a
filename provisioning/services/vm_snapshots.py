"""Snapshots: a VM's disk kept as its team's own image (with the VM's architecture), from which the
team requests new VMs. requested → creating (Nova asked, the image's id saved) → active | failed."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, CloudRequestError, Image, QuotaExceeded
from portal.models import User
from portal.origin import WORKER
from portal.queue import enqueue
from portal.services import audit_record
from portal.stored_messages import StoredMessage
from portal.worker import claim
from provisioning import stored_messages as texts
from provisioning.models import CloudImage, VmRequest, VmSnapshot
from provisioning.services.vm_actions import state_refusal, vm_refresh
from provisioning.services.vm_state import Status, _event, _operable

# The Glance properties Kennel sets on a snapshot: which request made it (a retry finds the image by
# it) and whose it is.
SNAPSHOT_PROPERTY = "kennel_snapshot"
TEAM_PROPERTY = "kennel_team"
SNAPSHOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SNAPSHOT_TIMEOUT_SECONDS = 30 * 60


def vm_snapshot_request(*, actor: User, vm: VmRequest, name: str, source: str) -> VmSnapshot:
    """Ask for a snapshot of ``vm`` named ``name``; a worker asks Nova and follows the image until
    Glance has it. Refuses (ValidationError; VmStateConflict for the state or a lock) a bad name, one
    the team's images already use, and a VM that is not running or stopped."""
    name = name.strip()
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE or not vm.server_id:
            raise ValidationError(_("Only an active VM can be changed."))
        refusal = state_refusal(vm, "snapshot")
        if refusal is not None:
            raise refusal
        if not SNAPSHOT_NAME.match(name):
            raise ValidationError(
                {
                    "name": _(
                        "Use 1 to 100 letters, digits, dots, hyphens and underscores, "
                        "starting with a letter or digit."
                    )
                }
            )
        taken = (
            CloudImage.objects.filter(team=vm.team, name=name).exists()
            or VmSnapshot.objects.filter(team=vm.team, name=name)
            .exclude(status=VmSnapshot.Status.FAILED)
            .exists()
        )
        if taken:
            raise ValidationError(
                {"name": _("Your team already has an image named %(name)s.") % {"name": name}}
            )
        snapshot = VmSnapshot(
            vm=vm, team=vm.team, requested_by=actor, name=name, architecture=vm.architecture
        )
        snapshot.full_clean()
        snapshot.save()
        _event(vm, vm.status, texts.SNAPSHOT_ASKED(user=actor.get_username(), name=name))
        audit_record(
            actor=actor, action="vm.snapshot", target=vm, team=vm.team, source=source, detail={"name": name}
        )
        from provisioning.tasks import vm_snapshot

        enqueue(vm_snapshot, snapshot.pk)
    return snapshot


def _mirror_team_image(snapshot: VmSnapshot, image: Image) -> CloudImage:
    """The image as the team's own row in the mirror (the catalog's refresh keeps it up to date)."""
    row, _created = CloudImage.objects.update_or_create(
        cloud_id=image.id,
        defaults={
            "name": image.name,
            "architecture": image.architecture or snapshot.architecture,
            "status": image.status,
            "min_disk_gb": image.min_disk_gb,
            "min_ram_mb": image.min_ram_mb,
            "os_distro": image.properties.get("os_distro", ""),
            "os_version": image.properties.get("os_version", ""),
            "visibility": image.visibility,
            "properties": dict(image.properties),
            "seen_at": timezone.now(),
            "team": snapshot.team,
        },
    )
    return row


def _snapshot_failed(snapshot: VmSnapshot, message: StoredMessage) -> None:
    """The snapshot failed: said on it (``message_ref``, shown in the reader's language) and in the VM's
    history."""
    VmSnapshot.objects.filter(pk=snapshot.pk).update(
        status=VmSnapshot.Status.FAILED, message=message.english(), message_ref=message.ref()
    )
    _event(snapshot.vm, snapshot.vm.status, message)


def vm_snapshot_advance(*, snapshot_id: int) -> bool:
    """One step: claim the request, ask Nova once (the image's id saved at once), then look at the
    image. True when finished (active, failed or gone), False while Glance is still receiving it.
    Lets outages through (the task retries; a retry finds the image by its property)."""
    claim(
        VmSnapshot.objects.filter(pk=snapshot_id, status=VmSnapshot.Status.REQUESTED),
        status=VmSnapshot.Status.CREATING,
    )
    snapshot = VmSnapshot.objects.select_related("vm", "team").filter(pk=snapshot_id).first()
    if snapshot is None or snapshot.finished:
        return True
    gateway = cloud()
    vm = snapshot.vm
    if not snapshot.image_cloud_id:
        found = [i for i in gateway.list_images() if i.properties.get(SNAPSHOT_PROPERTY) == str(snapshot.pk)]
        try:
            image_id = (
                found[0].id
                if found
                else gateway.create_server_image(
                    vm.server_id,
                    name=snapshot.name,
                    properties={
                        SNAPSHOT_PROPERTY: str(snapshot.pk),
                        TEAM_PROPERTY: snapshot.team.slug,
                        # The architecture-first offer shows it only for the VM's architecture.
                        "hw_architecture": snapshot.architecture,
                    },
                )
            )
        except (CloudRequestError, CloudNotFound, QuotaExceeded) as error:
            _snapshot_failed(snapshot, texts.SNAPSHOT_REFUSED(detail=str(error)))
            return True
        VmSnapshot.objects.filter(pk=snapshot.pk).update(image_cloud_id=image_id)
        snapshot.image_cloud_id = image_id
    try:
        image = gateway.get_image(snapshot.image_cloud_id)
    except CloudNotFound:
        _snapshot_failed(snapshot, texts.SNAPSHOT_IMAGE_GONE())
        return True
    vm_refresh(request_id=vm.pk)  # the page shows the server taking the snapshot, then done
    row = _mirror_team_image(snapshot, image)
    VmSnapshot.objects.filter(pk=snapshot.pk).update(image=row, updated_at=timezone.now())
    if image.status == "active":
        VmSnapshot.objects.filter(pk=snapshot.pk).update(status=VmSnapshot.Status.ACTIVE, message="")
        _event(vm, vm.status, texts.SNAPSHOT_READY(name=snapshot.name))
        audit_record(actor=None, action="vm.snapshot.ready", target=vm, team=vm.team, source=WORKER)
        return True
    if image.status in ("killed", "deleted", "deactivated") or (
        (timezone.now() - snapshot.created_at).total_seconds() > SNAPSHOT_TIMEOUT_SECONDS
    ):
        _snapshot_failed(snapshot, texts.SNAPSHOT_FAILED(name=snapshot.name, status=image.status))
        return True
    return False
