"""A team's volumes (Cinder): asked for on the web, the API or the CLI, and made, attached, detached and
deleted by a worker (``volume_advance``) that follows Cinder until the volume settles.

A request is refused at once with a ValidationError (a form error, an API 400) when it cannot work:
a name the team already uses, a size past the limit or the team's volume quota (the quotas app answers
``VOLUME_ADMIT``), a VM of another team or not running, a volume that is busy or attached. What the
cloud refuses later is the volume's message, in the reader's language, and the volume goes back to
where it was. An outage leaves the volume where it is; the worker retries and beat's
``volumes_resume`` picks up what a lost worker left.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.access import Action, restrict
from portal.cloud import cloud
from portal.cloud.gateway import CloudError, CloudGateway, CloudNotFound, CloudRequestError, QuotaExceeded
from portal.cloud.gateway import Volume as CloudVolume
from portal.hooks import hooks_run
from portal.models import Team, User
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record
from portal.stored_messages import StoredMessage
from portal.worker import claim
from provisioning import stored_messages as texts
from provisioning.hooks import ProvisioningEvent
from provisioning.models import VmRequest, Volume

logger = logging.getLogger(__name__)

Status = Volume.Status
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# A step the cloud has not finished in this long is reported instead of followed for ever.
STUCK_AFTER = timedelta(minutes=10)
# A busy volume whose worker has not touched it in this long is handed to a worker again.
RESUME_AFTER = timedelta(minutes=2)


# --- reads ----------------------------------------------------------------------------------------------


def volume_list(*, user: User | object, team: Team | None = None) -> QuerySet[Volume]:
    """The volumes ``user`` may see (their teams'; every team's for managers and admins), deleted ones
    left out."""
    queryset = Volume.objects.exclude(status=Status.DELETED).select_related("team", "owner", "vm")
    if team is not None:
        queryset = queryset.filter(team=team)
    return restrict(user, queryset)


def volume_may_operate(*, user: User | object, volume: Volume) -> bool:
    """May ``user`` attach, detach or delete ``volume`` (its owner, the team's leads, admins)?"""
    return restrict(user, Volume.objects.filter(pk=volume.pk), Action.OPERATE).exists()


def volume_attachable_vms(*, volume: Volume) -> QuerySet[VmRequest]:
    """The team's VMs the volume may be attached to: active, with a server, not locked."""
    return VmRequest.objects.filter(
        team_id=volume.team_id, status=VmRequest.Status.ACTIVE, locked=False
    ).exclude(server_id="")


def team_volume_gb(team: Team) -> int:
    """The gigabytes of the team's volumes Kennel knows that still count (asked for and not deleted)."""
    found = Volume.objects.filter(team=team, status__in=Volume.LIVE).aggregate(total=Sum("size_gb"))
    return int(found["total"] or 0)


# --- asked for by a person ------------------------------------------------------------------------------


def volume_request(*, actor: User, team: Team, name: str, size_gb: int, source: str) -> Volume:
    """A new empty volume for ``team``; a worker makes it. PermissionDenied when ``actor`` may not act
    for the team; ValidationError (by field) for a bad name or size or a full quota."""
    errors: dict[str, str] = {}
    if not NAME.match(name or ""):
        errors["name"] = _(
            "Use 1 to 63 letters, digits, dots, dashes or underscores, starting with a letter or digit."
        )
    if (
        isinstance(size_gb, bool)
        or not isinstance(size_gb, int)
        or not 1 <= size_gb <= settings.KENNEL_VOLUME_MAX_GB
    ):
        errors["size_gb"] = _("Give a size from 1 to %(max)s GB.") % {"max": settings.KENNEL_VOLUME_MAX_GB}
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # One request at a time per team: the quota and name checks see each other.
        locked = restrict(actor, Team.objects.select_for_update(of=("self",)), Action.OPERATE).filter(
            pk=team.pk
        )
        if locked.first() is None:
            raise PermissionDenied
        if not team.openstack_project_id:
            raise ValidationError(_("Team %(team)s has no project in the cloud yet.") % {"team": team.name})
        if Volume.objects.filter(team=team, name=name, status__in=Volume.LIVE).exists():
            raise ValidationError(
                {"name": _("Your team already has a volume named %(name)s.") % {"name": name}}
            )
        refusals = hooks_run(ProvisioningEvent.VOLUME_ADMIT, team=team, size_gb=size_gb)
        if refusal := next((r for r in refusals if r), None):
            raise ValidationError({"size_gb": refusal})
        volume = Volume.objects.create(team=team, owner=actor, name=name, size_gb=size_gb)
        audit_record(
            actor=actor, action="volume.create", target=volume, team=team, source=source,
            detail={"name": name, "size_gb": size_gb},
        )  # fmt: skip
        _hand_to_worker(volume)
    return volume


def _operable(actor: User, volume: Volume) -> Volume:
    """The volume locked for update if ``actor`` may act on it; PermissionDenied otherwise."""
    found = (
        restrict(actor, Volume.objects.select_for_update(of=("self",)), Action.OPERATE)
        .select_related("team", "vm")
        .filter(pk=volume.pk)
        .first()
    )
    if found is None:
        raise PermissionDenied
    return found


def _busy_refusal(volume: Volume) -> ValidationError:
    return ValidationError(
        _("%(name)s is %(state)s; wait until the cloud is done with it.")
        % {"name": volume.name, "state": volume.get_status_display().lower()}
    )


def volume_attach_request(*, actor: User, volume: Volume, vm: VmRequest, source: str) -> Volume:
    """Attach an available volume to a running VM of its team; a worker does it."""
    with transaction.atomic():
        volume = _operable(actor, volume)
        if volume.busy:
            raise _busy_refusal(volume)
        if volume.status != Status.AVAILABLE:
            raise ValidationError(
                _("%(name)s is attached to %(vm)s; detach it first.")
                % {"name": volume.name, "vm": volume.vm.name if volume.vm else "?"}
                if volume.status == Status.IN_USE
                else _("%(name)s cannot be attached: it failed. Delete it and ask for a new one.")
                % {"name": volume.name}
            )
        target = volume_attachable_vms(volume=volume).filter(pk=vm.pk).first()
        if target is None or not restrict(actor, VmRequest.objects.filter(pk=vm.pk)).exists():
            raise ValidationError(
                {"vm": _("Pick a running, unlocked VM of team %(team)s.") % {"team": volume.team.name}}
            )
        _ask(volume, Status.ATTACHING, vm=target)
        audit_record(
            actor=actor, action="volume.attach", target=volume, team=volume.team, source=source,
            detail={"vm": target.name, "server_id": target.server_id},
        )  # fmt: skip
    return volume


def volume_detach_request(*, actor: User, volume: Volume, source: str) -> Volume:
    """Detach an attached volume from its VM; a worker does it."""
    with transaction.atomic():
        volume = _operable(actor, volume)
        if volume.busy:
            raise _busy_refusal(volume)
        if volume.status != Status.IN_USE or volume.vm is None:
            raise ValidationError(_("%(name)s is not attached to a VM.") % {"name": volume.name})
        _ask(volume, Status.DETACHING)
        audit_record(
            actor=actor, action="volume.detach", target=volume, team=volume.team, source=source,
            detail={"vm": volume.vm.name},
        )  # fmt: skip
    return volume


def volume_delete_request(*, actor: User, volume: Volume, source: str) -> Volume:
    """Delete a volume that is not attached (its data is gone for good); a worker does it."""
    with transaction.atomic():
        volume = _operable(actor, volume)
        if volume.busy and volume.status != Status.QUEUED:
            raise _busy_refusal(volume)
        if volume.status == Status.IN_USE:
            raise ValidationError(
                _("%(name)s is attached to %(vm)s; detach it first.")
                % {"name": volume.name, "vm": volume.vm.name if volume.vm else "?"}
            )
        _ask(volume, Status.DELETING)
        audit_record(
            actor=actor, action="volume.delete", target=volume, team=volume.team, source=source,
            detail={"name": volume.name, "size_gb": volume.size_gb},
        )  # fmt: skip
    return volume


def _ask(volume: Volume, status: str, **fields) -> None:
    fields = {"status": status, "asked_at": None, "message": "", "message_ref": None, **fields}
    for key, value in fields.items():
        setattr(volume, key, value)
    volume.save(update_fields=[*fields, "updated_at"])
    _hand_to_worker(volume)


def _hand_to_worker(volume: Volume) -> None:
    from provisioning.tasks import volume_advance as task

    enqueue(task, volume.pk)


# --- the worker -----------------------------------------------------------------------------------------


def volume_advance(*, volume_id: int) -> bool:
    """One look at a busy volume: ask the cloud for the step it waits for, or see whether the cloud is
    done. True when there is nothing more to follow. Raises CloudUnavailable (an outage: the task
    retries, the volume keeps its state)."""
    volume = Volume.objects.select_related("team", "vm").filter(pk=volume_id).first()
    if volume is None or not volume.busy:
        return True
    gateway = cloud()
    try:
        if volume.status == Status.QUEUED:
            return _create(volume, gateway)
        if volume.status == Status.DELETING:
            return _delete(volume, gateway)
        try:
            found = gateway.get_volume(volume.volume_id)
        except CloudNotFound:
            _settle(volume, Status.DELETED, texts.VOLUME_GONE(), vm=None, device="")
            return True
        if volume.status == Status.CREATING:
            return _created(volume, found)
        if volume.status == Status.ATTACHING:
            return _attach(volume, found, gateway)
        return _detach(volume, found, gateway)
    except (QuotaExceeded, CloudRequestError, CloudNotFound) as error:
        _refused(volume, error)
        return True


def _create(volume: Volume, gateway: CloudGateway) -> bool:
    project = volume.team.openstack_project_id
    made = None
    if volume.asked_at is not None:  # an earlier try asked: did the cloud make it?
        known = set(Volume.objects.exclude(volume_id="").values_list("volume_id", flat=True))
        made = next(
            (
                v
                for v in gateway.list_volumes(project_id=project)
                if v.name == volume.name and v.id not in known
            ),
            None,
        )
    if made is None:
        if not claim(Volume.objects.filter(pk=volume.pk, status=Status.QUEUED), asked_at=timezone.now()):
            return True
        made = gateway.create_volume(project_id=project, name=volume.name, size_gb=volume.size_gb)
    Volume.objects.filter(pk=volume.pk, status=Status.QUEUED).update(
        status=Status.CREATING, volume_id=made.id, asked_at=timezone.now(), updated_at=timezone.now()
    )
    _usage_changed(volume.team_id)
    return False


def _created(volume: Volume, found: CloudVolume) -> bool:
    if found.status == "available":
        _settle(volume, Status.AVAILABLE, None)
        return True
    if found.failed:
        _settle(volume, Status.FAILED, texts.VOLUME_FAILED(status=found.status))
        return True
    return _still(volume, found)


def _attach(volume: Volume, found: CloudVolume, gateway: CloudGateway) -> bool:
    vm = volume.vm
    if vm is None or vm.status != VmRequest.Status.ACTIVE or not vm.server_id:
        name = vm.name if vm else "?"
        _settle(volume, Status.AVAILABLE, texts.VOLUME_VM_GONE(vm=name), vm=None, device="")
        return True
    if found.status == "in-use" and found.server_id == vm.server_id:
        _settle(volume, Status.IN_USE, None, device=found.device or "")
        return True
    if found.status == "available" and found.server_id is None:
        if volume.asked_at is not None:  # asked, and the cloud let it go again
            message = texts.VOLUME_ATTACH_FAILED(vm=vm.name, detail=_("the cloud rolled the attachment back"))
            _settle(volume, Status.AVAILABLE, message, vm=None, device="")
            return True
        if not _claim_ask(volume):
            return True
        gateway.attach_volume(server_id=vm.server_id, volume_id=volume.volume_id)
        return False
    return _still(volume, found)


def _detach(volume: Volume, found: CloudVolume, gateway: CloudGateway) -> bool:
    if found.status == "available":
        _settle(volume, Status.AVAILABLE, None, vm=None, device="")
        return True
    if found.status == "in-use" and volume.asked_at is None and found.server_id:
        if not _claim_ask(volume):
            return True
        gateway.detach_volume(server_id=found.server_id, volume_id=volume.volume_id)
        return False
    return _still(volume, found)


def _delete(volume: Volume, gateway: CloudGateway) -> bool:
    if not volume.volume_id:  # never made: nothing to ask of the cloud
        _settle(volume, Status.DELETED, None, vm=None)
        return True
    try:
        found = gateway.get_volume(volume.volume_id)
        if volume.asked_at is None and found.status in ("available", "error"):
            if not _claim_ask(volume):
                return True
            gateway.delete_volume(volume.volume_id)
            return False
    except CloudNotFound:
        _settle(volume, Status.DELETED, None, vm=None, device="")
        _usage_changed(volume.team_id)
        return True
    if volume.asked_at is None:  # attached meanwhile (outside Kennel): not ours to force
        raise CloudRequestError(f"the volume is {found.status}")
    return _still(volume, found)


def _claim_ask(volume: Volume) -> bool:
    """Mark the volume's current step as asked of the cloud; False when another worker did first."""
    return claim(
        Volume.objects.filter(pk=volume.pk, status=volume.status, asked_at=None), asked_at=timezone.now()
    )


def _still(volume: Volume, found: CloudVolume) -> bool:
    """The cloud is not done: follow it, unless it has been at it for too long."""
    if volume.asked_at is not None and timezone.now() - volume.asked_at > STUCK_AFTER:
        _settle(volume, Status.FAILED, texts.VOLUME_STUCK(status=found.status))
        return True
    Volume.objects.filter(pk=volume.pk).update(updated_at=timezone.now())
    return False


def _settle(volume: Volume, to: str, message: StoredMessage | None, **fields) -> None:
    Volume.objects.filter(pk=volume.pk, status=volume.status).update(
        status=to,
        asked_at=None,
        message=message.english() if message else "",
        message_ref=message.ref() if message else None,
        updated_at=timezone.now(),
        **fields,
    )


def _refused(volume: Volume, error: CloudError) -> None:
    """The cloud refused the step: the volume goes back to where it was, and says why."""
    detail = str(error)
    if volume.status == Status.QUEUED:
        message = texts.VOLUME_QUOTA_REFUSED(detail=detail) if isinstance(error, QuotaExceeded) else None
        _settle(volume, Status.FAILED, message or texts.VOLUME_CLOUD_REFUSED(detail=detail))
    elif volume.status == Status.ATTACHING:
        vm = volume.vm.name if volume.vm else "?"
        _settle(
            volume, Status.AVAILABLE, texts.VOLUME_ATTACH_FAILED(vm=vm, detail=detail), vm=None, device=""
        )
    elif volume.status == Status.DETACHING:
        vm = volume.vm.name if volume.vm else "?"
        _settle(volume, Status.IN_USE, texts.VOLUME_DETACH_FAILED(vm=vm, detail=detail))
    else:
        back = Status.AVAILABLE if volume.volume_id else Status.FAILED
        _settle(volume, back, texts.VOLUME_CLOUD_REFUSED(detail=detail))


def _usage_changed(team_id: int) -> None:
    try:
        hooks_run(ProvisioningEvent.TEAM_USAGE_CHANGED, team_ids=[team_id])
    except CloudError as error:  # the periodic quota sync catches up
        logger.info("team %s's usage not read again after a volume change: %s", team_id, error)


def volumes_resume() -> int:
    """Beat: hand busy volumes no worker has touched for a while to a worker again (a worker lost, or
    an outage longer than its retries). How many."""
    from provisioning.tasks import volume_advance as task

    stale = Volume.objects.filter(
        status__in=Volume.IN_PROGRESS, updated_at__lt=timezone.now() - RESUME_AFTER
    ).values_list("pk", flat=True)
    ids = list(stale)
    for pk in ids:
        enqueue_now(task, pk)
    return len(ids)


def volumes_refresh() -> int:
    """Beat, every minute: what the cloud did to the volumes outside Kennel, from one listing of every
    project's volumes. A settled volume follows Cinder: attached to a VM or not (a deleted VM's volume
    is detached by Nova and kept), or gone. Busy ones are their worker's. Raises CloudError. How many
    volumes changed."""
    if not Volume.objects.filter(status__in=(Status.AVAILABLE, Status.IN_USE)).exists():
        return 0
    found = {v.id: v for v in cloud().list_volumes()}
    vms = dict(
        VmRequest.objects.filter(server_id__in={v.server_id for v in found.values() if v.server_id})
        .exclude(status=VmRequest.Status.DELETED)
        .values_list("server_id", "pk")
    )
    changed = 0
    for volume in Volume.objects.filter(status__in=(Status.AVAILABLE, Status.IN_USE)).exclude(volume_id=""):
        now = found.get(volume.volume_id)
        if now is None:
            _settle(volume, Status.DELETED, texts.VOLUME_GONE(), vm=None, device="")
        elif now.status == "in-use" and now.server_id:
            vm_id = vms.get(now.server_id)
            if (
                volume.status == Status.IN_USE
                and volume.vm_id == vm_id
                and volume.device == (now.device or "")
            ):
                continue
            Volume.objects.filter(pk=volume.pk, status=volume.status).update(
                status=Status.IN_USE, vm_id=vm_id, device=now.device or "", updated_at=timezone.now()
            )
        elif now.status == "available":
            if volume.status == Status.AVAILABLE and volume.vm_id is None:
                continue
            Volume.objects.filter(pk=volume.pk, status=volume.status).update(
                status=Status.AVAILABLE, vm=None, device="", updated_at=timezone.now()
            )
        else:
            continue
        changed += 1
    return changed
