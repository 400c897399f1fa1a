"""Writes for the image catalog and disk imports.

The web and the API call the ``*_set``/``*_request``/``*_create``/``*_retry`` services, which only
change rows and enqueue work; Celery tasks call ``image_properties_apply`` and
``image_import_advance``, which talk to Glance through the gateway and run qemu-img.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import qemu
from catalog.models import ImageImport, ImagePropertyChange
from portal.architectures import Architecture
from portal.cloud import cloud
from portal.cloud.gateway import CloudError, CloudNotFound, CloudRequestError, CloudUnavailable, Image
from portal.failpoints import failpoint
from portal.models import User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record
from provisioning.models import CloudFlavor, CloudHost, CloudImage
from provisioning.services import catalog_refresh

State = ImageImport.State
ChangeStatus = ImagePropertyChange.Status
# Glance property that ties an image to its import, so a retry finds an image whose creation answer
# was lost instead of making a second one.
IMPORT_PROPERTY = "kennel_import_id"
PROGRESS_EVERY = 1.0  # seconds between progress writes to the row
# Machine types each architecture's QEMU knows (Nova passes hw_machine_type to libvirt as is): on
# x86_64 pc (i440FX) or q35, on POWER the paravirtualised pSeries; versioned variants are allowed.
MACHINE_TYPES = {
    "x86_64": re.compile(r"^(pc|q35|pc-i440fx-[\w.]+|pc-q35-[\w.]+)$"),
    "ppc64le": re.compile(r"^(pseries|pseries-[\w.]+)$"),
}
DEFAULT_MACHINE_TYPE = {"ppc64le": "pseries"}
NAME = re.compile(r"^[\w][\w .+:-]{0,254}$")


# --- what the cloud can run ---------------------------------------------------------------------------


def hypervisor_architectures() -> list[str]:
    """Architectures of the compute hosts in the mirror."""
    return sorted(set(CloudHost.objects.exclude(architecture="").values_list("architecture", flat=True)))


def _check_architecture(architecture: str) -> None:
    known = hypervisor_architectures()
    if architecture not in known:
        raise ValidationError(
            {
                "architecture": _(
                    "No hypervisor in the cloud runs %(arch)s (it has: %(known)s). "
                    "Pick one of those, or add a compute host of that architecture first."
                )
                % {"arch": architecture or "?", "known": ", ".join(known) or _("none")}
            }
        )


def _check_machine_type(architecture: str, machine_type: str) -> None:
    pattern = MACHINE_TYPES.get(architecture)
    if machine_type and (pattern is None or not pattern.match(machine_type)):
        raise ValidationError(
            {
                "machine_type": _("%(type)s is not a machine type for %(arch)s (use %(ok)s).")
                % {
                    "type": machine_type,
                    "arch": architecture,
                    "ok": "pc, q35" if architecture == "x86_64" else "pseries",
                }
            }
        )


# --- offering -------------------------------------------------------------------------------------------


def image_offer_set(
    *, actor: User | None, image: CloudImage, offered: bool, display_name: str, source: str = SYSTEM
) -> CloudImage:
    """Offer an image to developers under a friendly name, or withdraw it. Refuses (ValidationError)
    to offer an image developers could not use: not active, without an architecture, of an
    architecture no hypervisor runs, or still being imported (offered only once verified)."""
    display_name = display_name.strip()
    if offered:
        if image.status != "active":
            raise ValidationError(
                _("%(image)s is %(status)s in Glance; only an active image can be offered.")
                % {"image": image.name, "status": image.status}
            )
        if not image.architecture:
            raise ValidationError(
                _("%(image)s has no hw_architecture; set it before offering it.") % {"image": image.name}
            )
        _check_architecture(image.architecture)
        if ImageImport.objects.filter(glance_image_id=image.cloud_id).exclude(state=State.DONE).exists():
            raise ValidationError(
                _("%(image)s is an import that is not verified yet; it is offered once it is.")
                % {"image": image.name}
            )
    before = (image.offered, image.display_name)
    image.offered = offered
    image.display_name = display_name
    image.full_clean()
    if before == (offered, display_name):
        return image
    image.save(update_fields=["offered", "display_name"])
    audit_record(
        actor=actor,
        action="image.offer" if offered else "image.withdraw",
        target=image,
        source=source,
        detail={"display_name": display_name, "architecture": image.architecture},
    )
    return image


def flavor_offer_set(
    *, actor: User | None, flavor: CloudFlavor, offered: bool, source: str = SYSTEM
) -> CloudFlavor:
    """Offer a flavor to developers or withdraw it (VMs already built with it are not touched)."""
    if flavor.offered == offered:
        return flavor
    flavor.offered = offered
    flavor.save(update_fields=["offered"])
    audit_record(
        actor=actor, action="flavor.offer" if offered else "flavor.withdraw", target=flavor, source=source
    )
    return flavor


# --- Glance properties ------------------------------------------------------------------------------------


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
    claimed = ImagePropertyChange.objects.filter(pk=change_id, status=ChangeStatus.PENDING).update(
        status=ChangeStatus.APPLYING, updated_at=timezone.now()
    )
    if not claimed:
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
        _change_status(change, ChangeStatus.PENDING, _("Waiting for the cloud: %(e)s") % {"e": error})
        raise
    except (CloudNotFound, CloudRequestError) as error:
        _change_status(change, ChangeStatus.FAILED, _("Glance refused the change: %(e)s") % {"e": error})
        return
    message = _("Glance has the new properties.")
    try:
        catalog_refresh()
    except CloudError as error:
        message += " " + _("The catalog will show them at the next refresh (%(e)s).") % {"e": error}
    _change_status(change, ChangeStatus.DONE, message)


def image_properties_give_up(*, change_id: int, error: str) -> None:
    """The cloud stayed unreachable through every retry: the change fails, saying why."""
    change = ImagePropertyChange.objects.filter(pk=change_id).first()
    if change is not None and not change.finished:
        _change_status(
            change,
            ChangeStatus.FAILED,
            _("The cloud stayed unreachable (%(e)s); nothing was changed. Submit the change again.")
            % {"e": error},
        )


def _change_status(change: ImagePropertyChange, status: str, message: str) -> None:
    ImagePropertyChange.objects.filter(pk=change.pk).update(
        status=status, message=message, updated_at=timezone.now()
    )
    change.status, change.message = status, message


# --- disk imports: accepting ---------------------------------------------------------------------------


def import_dir() -> Path:
    """Where admins put disks to import by name."""
    return Path(settings.KENNEL_IMPORT_DIR).resolve()


def import_path_resolve(path: str) -> Path:
    """The file ``path`` names inside KENNEL_IMPORT_DIR (relative to it, or absolute), with symbolic
    links followed. Refuses (ValidationError) anything outside it (``..``, a link out) or missing."""
    base = import_dir()
    if not path.strip() or "\x00" in path:
        raise ValidationError({"path": _("Name a file in %(dir)s.") % {"dir": base}})
    candidate = Path(path.strip())
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if resolved == base or not resolved.is_relative_to(base):
        raise ValidationError(
            {"path": _("Only files in the import directory %(dir)s can be imported.") % {"dir": base}}
        )
    if not resolved.is_file():
        raise ValidationError({"path": _("There is no file %(path)s.") % {"path": resolved}})
    return resolved


def _import_fields_check(
    *, name: str, architecture: str, machine_type: str, target_format: str, min_disk_gb: int, min_ram_mb: int
) -> None:
    errors: dict[str, str] = {}
    if not NAME.match(name):
        errors["name"] = _("Use letters, digits, spaces and . _ + : - (up to 255).")
    if target_format not in ImageImport.TargetFormat.values:
        errors["target_format"] = _("Store the image as qcow2 or raw.")
    if architecture not in Architecture.values:
        errors["architecture"] = _("Choose the architecture the disk was installed for.")
    if min_disk_gb < 0 or min_ram_mb < 0:
        errors["min_disk_gb"] = _("Minimums cannot be negative.")
    if errors:
        raise ValidationError(errors)
    _check_architecture(architecture)
    _check_machine_type(architecture, machine_type)


def image_import_create(
    *,
    actor: User,
    name: str,
    architecture: str,
    display_name: str = "",
    os_distro: str = "",
    os_version: str = "",
    min_disk_gb: int = 0,
    min_ram_mb: int = 0,
    machine_type: str = "",
    target_format: str = ImageImport.TargetFormat.QCOW2,
    offer: bool = False,
    upload: UploadedFile | None = None,
    path: str = "",
    source: str,
) -> ImageImport:
    """Start importing a disk: from an uploaded file (already streamed to disk by Django's
    temporary-file handler; moved, not copied, into the work directory) or from a file in
    KENNEL_IMPORT_DIR. Validates what can be checked without reading the disk (ValidationError),
    records the import as ``uploaded`` and enqueues the worker."""
    name = name.strip()
    machine_type = machine_type.strip() or DEFAULT_MACHINE_TYPE.get(architecture, "")
    _import_fields_check(
        name=name,
        architecture=architecture,
        machine_type=machine_type,
        target_format=target_format,
        min_disk_gb=min_disk_gb,
        min_ram_mb=min_ram_mb,
    )
    if (upload is None) == (not path.strip()):
        raise ValidationError({"file": _("Upload a disk file or name one on the portal host, not both.")})
    if upload is not None:
        stored = _store_upload(upload)
        kind, original = ImageImport.Source.UPLOAD, Path(upload.name or "disk").name
    else:
        stored = import_path_resolve(path)
        kind, original = ImageImport.Source.PATH, stored.name
    try:
        with transaction.atomic():
            imp = ImageImport(
                name=name,
                display_name=display_name.strip(),
                architecture=architecture,
                os_distro=os_distro.strip(),
                os_version=os_version.strip(),
                min_disk_gb=min_disk_gb,
                min_ram_mb=min_ram_mb,
                machine_type=machine_type,
                target_format=target_format,
                offer=offer,
                source=kind,
                source_path=str(stored),
                original_filename=original[:255],
                source_bytes=stored.stat().st_size,
                requested_by=actor,
            )
            imp.full_clean()
            imp.save()
            audit_record(
                actor=actor,
                action="image.import",
                target=imp,
                source=source,
                detail={
                    "source": kind,
                    "file": original,
                    "bytes": imp.source_bytes,
                    "architecture": architecture,
                },
            )
            import_id = imp.pk
            _enqueue_import(import_id)
    except Exception:
        if kind == ImageImport.Source.UPLOAD:
            stored.unlink(missing_ok=True)
        raise
    return imp


def _work_dir(part: str) -> Path:
    path = Path(settings.KENNEL_IMPORT_WORK_DIR) / part
    path.mkdir(parents=True, exist_ok=True)
    return path


def _store_upload(upload: UploadedFile) -> Path:
    """Move the upload's temporary file into the work directory (a rename on the same file system:
    several GB are not copied again). A small file Django kept in memory is written out."""
    safe = re.sub(r"[^\w.+-]", "_", Path(upload.name or "disk").name)[-100:]
    target = _work_dir("sources") / f"{uuid.uuid4().hex}-{safe}"
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        shutil.move(temporary(), target)
    else:
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
    return target


def _enqueue_import(import_id: int) -> None:
    from catalog.tasks import image_import_run

    enqueue(image_import_run, import_id)


def image_import_retry(*, actor: User, imp: ImageImport, source: str) -> ImageImport:
    """Resume a failed import after its last completed step (ValidationError unless it failed)."""
    with transaction.atomic():
        imp = ImageImport.objects.select_for_update().get(pk=imp.pk)
        if imp.state != State.FAILED:
            raise ValidationError(_("Only a failed import can be retried."))
        resume = imp.next_state()
        ImageImport.objects.filter(pk=imp.pk).update(
            state=resume, message=_("Retry requested by %(user)s.") % {"user": actor.get_username()}, claim=""
        )
        imp.refresh_from_db()
        audit_record(
            actor=actor, action="image.import_retry", target=imp, source=source, detail={"from": resume}
        )
        import_id = imp.pk
        _enqueue_import(import_id)
    return imp


def image_import_discard(*, actor: User, imp: ImageImport, source: str) -> ImageImport:
    """Give up on a failed import: it becomes ``discarded`` at once and a worker deletes what it left
    (its Glance image, the converted file, an uploaded source). ValidationError unless it failed."""
    with transaction.atomic():
        moved = ImageImport.objects.filter(pk=imp.pk, state=State.FAILED).update(
            state=State.DISCARDED,
            message=_("Discarded by %(user)s; removing what it left behind.")
            % {"user": actor.get_username()},
            updated_at=timezone.now(),
        )
        if not moved:
            raise ValidationError(_("Only a failed import can be discarded."))
        imp.refresh_from_db()
        audit_record(actor=actor, action="image.import_discard", target=imp, source=source)
        import_id = imp.pk
        _enqueue_clean(import_id)
    return imp


def _enqueue_clean(import_id: int) -> None:
    from catalog.tasks import image_import_clean

    enqueue(image_import_clean, import_id)


def image_import_clean(*, import_id: int) -> None:
    """Delete everything a discarded import left: any Glance image of it (by the saved id and by its
    ``kennel_import_id`` property) and its work files. Idempotent; lets CloudUnavailable through."""
    imp = ImageImport.objects.filter(pk=import_id, state=State.DISCARDED).first()
    if imp is None:
        return
    gateway = cloud()
    doomed = {imp.glance_image_id} - {""}
    doomed |= {i.id for i in gateway.list_images() if i.properties.get(IMPORT_PROPERTY) == str(imp.pk)}
    for image_id in doomed:
        with contextlib.suppress(CloudNotFound):
            gateway.delete_image(image_id)
    for name in _work_files(imp):
        with contextlib.suppress(OSError):
            Path(name).unlink(missing_ok=True)
    ImageImport.objects.filter(pk=imp.pk).update(
        glance_image_id="",
        message=_("Discarded; nothing of it is left in Glance or in the work directory."),
        updated_at=timezone.now(),
    )


# --- disk imports: the worker -------------------------------------------------------------------------


def _stale_claim() -> timedelta:
    """A worker refreshes its hold on an import far more often than this while it works (progress every
    PROGRESS_EVERY); a hold older than KENNEL_STALE_WORK_SECONDS belongs to a worker that died, and
    another may take the import over."""
    return timedelta(seconds=settings.KENNEL_STALE_WORK_SECONDS)


class ImportRefused(Exception):
    """A step cannot succeed as things are; ``str()`` says why and what to do."""


def _claim(import_id: int, token: str) -> ImageImport | None:
    """Hold the import for this worker if nobody else works on it (or their hold went stale).
    The first step moves it from ``uploaded`` to ``inspecting``."""
    now = timezone.now()
    held = (
        ImageImport.objects.filter(pk=import_id, state__in=ImageImport.WORKING)
        .filter(Q(claim="") | Q(claim=token) | Q(heartbeat_at__lt=now - _stale_claim()))
        .update(claim=token, heartbeat_at=now)
    )
    if not held:
        return None
    ImageImport.objects.filter(pk=import_id, state=State.UPLOADED).update(
        state=State.INSPECTING, attempts=F("attempts") + 1
    )
    return ImageImport.objects.get(pk=import_id)


def _update(imp: ImageImport, token: str, **fields: Any) -> None:
    """Write ``fields`` if this worker still holds the import (ImportRefused if it lost it)."""
    fields.setdefault("heartbeat_at", timezone.now())
    if not ImageImport.objects.filter(pk=imp.pk, claim=token).update(updated_at=timezone.now(), **fields):
        raise _LostClaim
    for key, value in fields.items():
        setattr(imp, key, value)


class _LostClaim(Exception):
    """Another worker took the import over (this one was presumed dead): stop quietly."""


def _complete(imp: ImageImport, token: str, step: str, **fields: Any) -> None:
    following = {s: i for i, (_state, s) in enumerate(ImageImport.STEPS)}[step] + 1
    state = ImageImport.STEPS[following][0] if following < len(ImageImport.STEPS) else State.DONE
    _update(imp, token, completed=step, state=state, message="", progress_bytes=0, progress_total=0, **fields)


def image_import_advance(*, import_id: int) -> None:
    """Run the import's remaining steps in order: inspect, convert, upload, verify. A refusal ends it
    as ``failed`` with the reason on the row (a retry resumes after the last completed step).
    Lets CloudUnavailable through with the row where it was (the task retries later). Safe to run
    twice at once: the second finds the import held and returns."""
    token = uuid.uuid4().hex
    steps: dict[str, Callable[[ImageImport, str], None]] = {
        State.INSPECTING: _inspect,
        State.CONVERTING: _convert,
        State.UPLOADING: _upload,
        State.VERIFYING: _verify,
    }
    while True:
        imp = _claim(import_id, token)
        if imp is None:
            return
        try:
            steps[imp.state](imp, token)
        except _LostClaim:
            return
        except (qemu.DiskRefused, ImportRefused, CloudNotFound, CloudRequestError) as error:
            _fail(imp, token, str(error))
            return
        except CloudUnavailable as error:
            ImageImport.objects.filter(pk=import_id, claim=token).update(
                claim="", message=_("Waiting for the cloud: %(e)s") % {"e": error}
            )
            raise
        except OSError as error:
            _fail(imp, token, _("The portal host could not read or write a file: %(e)s") % {"e": error})
            return
        if imp.state == State.DONE:
            ImageImport.objects.filter(pk=import_id, claim=token).update(claim="")
            return


def image_import_give_up(*, import_id: int, error: str) -> None:
    """The cloud stayed unreachable through every retry: fail the import where it stands."""
    imp = ImageImport.objects.filter(pk=import_id, state__in=ImageImport.WORKING).first()
    if imp is not None:
        ImageImport.objects.filter(pk=import_id).update(claim="")
        _fail(imp, "", _("The cloud stayed unreachable: %(e)s") % {"e": error}, any_claim=True)


def _fail(imp: ImageImport, token: str, reason: str, *, any_claim: bool = False) -> None:
    step = imp.state
    message = _("%(step)s failed: %(reason)s") % {
        "step": State(step).label,
        "reason": reason.rstrip(".") + ".",
    }
    rows = ImageImport.objects.filter(pk=imp.pk)
    if not any_claim:
        rows = rows.filter(claim=token)
    rows.update(state=State.FAILED, message=message, claim="", updated_at=timezone.now())
    imp.state, imp.message = State.FAILED, message
    audit_record(
        actor=None,
        action="image.import_failed",
        target=imp,
        source=WORKER,
        outcome="failure",
        detail={"step": step, "reason": reason[:500]},
    )


def _inspect(imp: ImageImport, token: str) -> None:
    source = Path(imp.source_path)
    disk = qemu.inspect(source)
    if imp.architecture not in hypervisor_architectures():
        raise ImportRefused(
            _("no hypervisor in the cloud runs %(arch)s (it has: %(known)s)")
            % {"arch": imp.architecture, "known": ", ".join(hypervisor_architectures()) or _("none")}
        )
    # qcow2 holds about what the source holds; raw is written sparse but may need the whole disk.
    needed = disk.virtual_size if imp.target_format == "raw" else max(disk.actual_size, disk.file_size)
    free = shutil.disk_usage(_work_dir("converted")).free
    if free < needed:
        raise ImportRefused(
            _("the import work directory has %(free)s bytes free; converting needs about %(need)s")
            % {"free": free, "need": needed}
        )
    if imp.min_disk_gb and imp.min_disk_gb * 1024**3 < disk.virtual_size:
        raise ImportRefused(
            _("the disk is %(gb)s GB but the minimum disk given is %(min)s GB; raise it or leave it 0")
            % {"gb": -(-disk.virtual_size // 1024**3), "min": imp.min_disk_gb}
        )
    _complete(imp, token, "inspected", source_format=disk.format, virtual_size_bytes=disk.virtual_size)


def _convert(imp: ImageImport, token: str) -> None:
    target = _work_dir("converted") / f"import-{imp.pk}.{imp.target_format}"
    total = imp.virtual_size_bytes or 0
    _update(imp, token, progress_total=total, progress_bytes=0)
    last = [0.0]

    def progress(percent: float) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY:
            last[0] = time.monotonic()
            _update(imp, token, progress_bytes=int(total * percent / 100))

    qemu.convert(
        Path(imp.source_path),
        imp.source_format,
        target,
        imp.target_format,
        progress=progress,
        timeout=settings.KENNEL_IMPORT_CONVERT_TIMEOUT,
    )
    converted = qemu.info(target, imp.target_format)
    _complete(
        imp,
        token,
        "converted",
        converted_path=str(target),
        converted_bytes=target.stat().st_size,
        virtual_size_bytes=int(converted.get("virtual-size") or total),
    )


class _HashingReader:
    """The converted file as Glance's upload reads it: hashed (sha512 and md5, Glance's two) and
    counted on the way, in the blocks the HTTP client asks for; nothing is held beyond one block."""

    def __init__(self, stream: BinaryIO, size: int, on_progress: Callable[[int], None]) -> None:
        self._stream = stream
        self._size = size
        self._on_progress = on_progress
        self.sha512 = hashlib.sha512()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size if size and size > 0 else 1024 * 1024)
        self.sha512.update(chunk)
        self.md5.update(chunk)
        self.sent += len(chunk)
        self._on_progress(self.sent)
        return chunk

    def __len__(self) -> int:
        return self._size


def _upload(imp: ImageImport, token: str) -> None:
    gateway = cloud()
    path = Path(imp.converted_path)
    if not path.is_file():
        # The converted file went missing (work directory cleaned): convert again on retry.
        _update(imp, token, completed="inspected")
        raise ImportRefused(_("the converted file %(path)s is gone; retry converts again") % {"path": path})
    size = path.stat().st_size
    image = _reusable_image(imp, token)
    if image is not None and image.status == "active":
        # The data went in and the answer was lost: hash the file locally and go on to verify.
        sha512, md5 = _file_hashes(path)
        _complete(imp, token, "uploaded", local_sha512=sha512, local_md5=md5)
        return
    if image is None:
        properties = {
            "hw_architecture": imp.architecture,
            IMPORT_PROPERTY: str(imp.pk),
            **{
                k: v
                for k, v in (
                    ("os_distro", imp.os_distro),
                    ("os_version", imp.os_version),
                    ("hw_machine_type", imp.machine_type),
                )
                if v
            },
        }
        image = gateway.create_image(
            name=imp.name,
            disk_format=imp.target_format,
            # Private to the portal's project until verified: nobody can boot an unchecked image, not
            # even with the openstack CLI in their own project.
            visibility="private",
            min_disk_gb=max(imp.min_disk_gb, -(-(imp.virtual_size_bytes or 0) // 1024**3)),
            min_ram_mb=imp.min_ram_mb,
            properties=properties,
        )
        # Saved before any data is sent: a retry finds this image instead of creating another.
        _update(imp, token, glance_image_id=image.id)
    _update(imp, token, progress_total=size, progress_bytes=0)
    last = [0.0]

    def progress(sent: int) -> None:
        if time.monotonic() - last[0] >= PROGRESS_EVERY:
            last[0] = time.monotonic()
            _update(imp, token, progress_bytes=sent)
            failpoint("image-import-mid-upload")

    with path.open("rb") as stream:
        reader = _HashingReader(stream, size, progress)
        try:
            gateway.upload_image_data(image.id, reader, size=size)  # type: ignore[arg-type]
        except CloudRequestError:
            # Glance refused the data itself: the empty image is of no use, so no trace is left.
            with contextlib.suppress(CloudNotFound):
                gateway.delete_image(image.id)
            _update(imp, token, glance_image_id="")
            raise
    if reader.sent != size:
        raise ImportRefused(
            _("only %(sent)s of %(size)s bytes were sent") % {"sent": reader.sent, "size": size}
        )
    _complete(
        imp, token, "uploaded", local_sha512=reader.sha512.hexdigest(), local_md5=reader.md5.hexdigest()
    )


def _reusable_image(imp: ImageImport, token: str) -> Image | None:
    """The Glance image an earlier attempt made, if it can still take the data (queued) or already
    has it (active); anything else of this import's (half-saved, killed, an orphan whose id was
    never saved) is deleted so that no half image stays behind."""
    gateway = cloud()
    keep: Image | None = None
    if imp.glance_image_id:
        try:
            found = gateway.get_image(imp.glance_image_id)
        except CloudNotFound:
            found = None
        if found is not None and found.status in ("queued", "active"):
            keep = found
        elif found is not None:
            gateway.delete_image(found.id)
    for other in gateway.list_images():
        if other.properties.get(IMPORT_PROPERTY) == str(imp.pk) and (keep is None or other.id != keep.id):
            with contextlib.suppress(CloudNotFound):
                gateway.delete_image(other.id)
    if keep is None and imp.glance_image_id:
        _update(imp, token, glance_image_id="")
    return keep


def _file_hashes(path: Path, algorithm: str = "sha512") -> tuple[str, str]:
    digest, md5 = hashlib.new(algorithm), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
            md5.update(chunk)
    return digest.hexdigest(), md5.hexdigest()


def _verify(imp: ImageImport, token: str) -> None:
    gateway = cloud()
    image = gateway.get_image(imp.glance_image_id)
    problem = _checksum_problem(imp, image)
    if problem:
        # The data in Glance is not what was sent: remove it, so the retry uploads again.
        with contextlib.suppress(CloudNotFound):
            gateway.delete_image(image.id)
        _update(imp, token, glance_image_id="", completed="converted")
        raise ImportRefused(problem)
    gateway.update_image(image.id, visibility="public")  # every project may boot it now
    _complete(imp, token, "verified", finished_at=timezone.now())
    audit_record(
        actor=None,
        action="image.imported",
        target=imp,
        source=WORKER,
        detail={"glance_id": image.id, "sha512": imp.local_sha512, "bytes": image.size_bytes},
    )
    _finish(imp)


def _checksum_problem(imp: ImageImport, image: Image) -> str | None:
    if image.status != "active":
        return _("Glance has the image as %(status)s, not active") % {"status": image.status}
    if image.size_bytes != imp.converted_bytes:
        return _("Glance stored %(got)s bytes, the converted file has %(want)s") % {
            "got": image.size_bytes,
            "want": imp.converted_bytes,
        }
    if image.hash_algo and image.hash_value:
        local = imp.local_sha512
        if image.hash_algo != "sha512":
            local, _md5 = _file_hashes(Path(imp.converted_path), image.hash_algo)
        if local != image.hash_value:
            return _("Glance's %(algo)s checksum differs from the one computed while sending") % {
                "algo": image.hash_algo
            }
        return None
    if image.checksum:
        if image.checksum != imp.local_md5:
            return _("Glance's MD5 checksum differs from the one computed while sending")
        return None
    return _("Glance reported no checksum to verify")


def _finish(imp: ImageImport) -> None:
    """After verification: mirror the image, offer it if asked, and remove the work files."""
    message = _("Imported and verified (%(algo)s).") % {"algo": "sha512"}
    try:
        catalog_refresh()
    except CloudError as error:
        message += " " + _("The catalog shows it at the next refresh (%(e)s).") % {"e": error}
    mirrored = CloudImage.objects.filter(cloud_id=imp.glance_image_id).first()
    if imp.offer and mirrored is not None:
        try:
            image_offer_set(
                actor=imp.requested_by,
                image=mirrored,
                offered=True,
                display_name=imp.display_name,
                source=WORKER,
            )
            message += " " + _("Offered to developers.")
        except ValidationError as error:
            message += " " + _("Not offered: %(e)s") % {"e": " ".join(error.messages)}
    elif imp.offer:
        message += " " + _("Offer it in the catalog once it appears there.")
    elif mirrored is not None and imp.display_name:
        CloudImage.objects.filter(pk=mirrored.pk).update(display_name=imp.display_name)
    with contextlib.suppress(OSError):
        Path(imp.converted_path).unlink(missing_ok=True)
        if imp.source == ImageImport.Source.UPLOAD:
            os.unlink(imp.source_path)
    ImageImport.objects.filter(pk=imp.pk).update(message=message)
    imp.message = message


def image_imports_resume() -> int:
    """Enqueue imports a dead worker left behind (held, but no heartbeat for KENNEL_STALE_WORK_SECONDS;
    or never claimed for a while), and the cleaning of discards that still leave something. Returns
    how many."""
    now = timezone.now()
    stale = ImageImport.objects.filter(state__in=ImageImport.WORKING).filter(
        Q(heartbeat_at__lt=now - _stale_claim())
        | Q(heartbeat_at__isnull=True, created_at__lt=now - timedelta(minutes=2))
    )
    ids = list(stale.values_list("pk", flat=True))
    from catalog.tasks import image_import_clean, image_import_run

    for import_id in ids:
        enqueue_now(image_import_run, import_id)
    # A discard whose cleaning gave up (the cloud was away longer than its retries) is cleaned again,
    # until nothing of it is left: an outage delays the cleaning, never drops it.
    unclean = [
        imp.pk
        for imp in ImageImport.objects.filter(state=State.DISCARDED, updated_at__lt=now - _stale_claim())
        if _leftovers(imp)
    ]
    for import_id in unclean:
        enqueue_now(image_import_clean, import_id)
    return len(ids) + len(unclean)


def _leftovers(imp: ImageImport) -> bool:
    """Whether a discarded import may still have something to delete (cleaning clears the image id and
    removes the files; an image whose id was never saved is found by its property when cleaning)."""
    return bool(imp.glance_image_id) or any(Path(name).exists() for name in _work_files(imp))


def _work_files(imp: ImageImport) -> list[str]:
    """The files an import made: its converted disk, and the source when it was uploaded (a source
    named on the portal host is the admin's and stays)."""
    files = [imp.converted_path] + ([imp.source_path] if imp.source == ImageImport.Source.UPLOAD else [])
    return [name for name in files if name]
