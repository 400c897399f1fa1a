"""Disk imports, the web's side: accepting an upload or a server-side file, retrying, discarding and
cleaning up after one. The worker's side is ``disk_import_worker``."""

from __future__ import annotations

import contextlib
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import stored_messages as texts
from catalog.models import ImageImport
from catalog.services.offer import DEFAULT_MACHINE_TYPE, _check_architecture, _check_machine_type
from portal.architectures import Architecture
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound
from portal.models import User
from portal.queue import enqueue
from portal.services import audit_record
from portal.stored_messages import StoredMessage

State = ImageImport.State


# Glance property that ties an image to its import, so a retry finds an image whose creation answer
# was lost instead of making a second one.
IMPORT_PROPERTY = "kennel_import_id"


NAME = re.compile(r"^[\w][\w .+:-]{0,254}$")


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
            state=resume, **_message(texts.RETRY_ASKED(user=actor.get_username())), claim=""
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
            **_message(texts.DISCARD_ASKED(user=actor.get_username())),
            updated_at=timezone.now(),
        )
        if not moved:
            raise ValidationError(_("Only a failed import can be discarded."))
        imp.refresh_from_db()
        audit_record(actor=actor, action="image.import_discard", target=imp, source=source)
        import_id = imp.pk
        _enqueue_clean(import_id)
    return imp


def _message(message: StoredMessage) -> dict[str, Any]:
    """The row's fields that hold its message (``portal.stored_messages``)."""
    return {"message": message.english(), "message_ref": message.ref()}


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
        **_message(texts.DISCARDED()),
        updated_at=timezone.now(),
    )


def _work_files(imp: ImageImport) -> list[str]:
    """The files an import made: its converted disk, and the source when it was uploaded (a source
    named on the portal host is the admin's and stays)."""
    files = [imp.converted_path] + ([imp.source_path] if imp.source == ImageImport.Source.UPLOAD else [])
    return [name for name in files if name]
