"""The disk import's state machine, run by a worker: claim the import, inspect, convert, upload to
Glance, verify, finish; a stale claim is taken over, a lost one stops quietly."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from catalog import qemu
from catalog import stored_messages as texts
from catalog.models import ImageImport
from catalog.services.disk_imports import IMPORT_PROPERTY, State, _work_dir, _work_files
from catalog.services.offer import hypervisor_architectures, image_offer_set
from portal.cloud import cloud
from portal.cloud.gateway import CloudError, CloudNotFound, CloudRequestError, CloudUnavailable, Image
from portal.failpoints import failpoint
from portal.origin import WORKER
from portal.queue import enqueue_now
from portal.services import audit_record
from portal.stored_messages import StoredMessage, message_join
from portal.worker import LostClaim, claim_keep, claim_release, claim_take, claims_abandoned, stale_before
from provisioning.models import CloudImage
from provisioning.services import catalog_refresh

PROGRESS_EVERY = 1.0  # seconds between progress writes to the row


class ImportRefused(Exception):
    """A step cannot succeed as things are; ``str()`` says why and what to do."""


def _claim(import_id: int, token: str) -> ImageImport | None:
    """Hold the import for this worker if nobody else works on it (or their hold went stale: the
    worker refreshes it far more often, with every progress write). The first step moves it from
    ``uploaded`` to ``inspecting``."""
    if not claim_take(ImageImport.objects.filter(pk=import_id, state__in=ImageImport.WORKING), token):
        return None
    ImageImport.objects.filter(pk=import_id, state=State.UPLOADED).update(
        state=State.INSPECTING, attempts=F("attempts") + 1
    )
    return ImageImport.objects.get(pk=import_id)


def _update(imp: ImageImport, token: str, **fields: Any) -> None:
    """Write ``fields`` if this worker still holds the import (LostClaim if it lost it)."""
    claim_keep(ImageImport.objects.filter(pk=imp.pk), token, updated_at=timezone.now(), **fields)
    for key, value in fields.items():
        setattr(imp, key, value)


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
        except LostClaim:
            return
        except (qemu.DiskRefused, ImportRefused, CloudNotFound, CloudRequestError) as error:
            _fail(imp, token, _reason(error))
            return
        except CloudUnavailable as error:
            claim_release(
                ImageImport.objects.filter(pk=import_id),
                token,
                **_message(texts.WAITING_FOR_CLOUD(e=str(error))),
            )
            raise
        except OSError as error:
            _fail(imp, token, texts.FILE_ERROR(e=str(error)))
            return
        if imp.state == State.DONE:
            claim_release(ImageImport.objects.filter(pk=import_id), token)
            return


def image_import_give_up(*, import_id: int, error: str) -> None:
    """The cloud stayed unreachable through every retry: fail the import where it stands."""
    imp = ImageImport.objects.filter(pk=import_id, state__in=ImageImport.WORKING).first()
    if imp is not None:
        ImageImport.objects.filter(pk=import_id).update(claim="")
        _fail(imp, "", texts.CLOUD_GAVE_UP(e=error), any_claim=True)


def _message(message: StoredMessage) -> dict[str, Any]:
    """The row's fields that hold its message (``portal.stored_messages``)."""
    return {"message": message.english(), "message_ref": message.ref()}


def _reason(error: Exception) -> StoredMessage | str:
    """A refusal's message (ours: translated when shown), or the cloud's own words."""
    reason = error.args[0] if error.args else None
    return reason if isinstance(reason, StoredMessage) else str(error)


def _fail(imp: ImageImport, token: str, reason: StoredMessage | str, *, any_claim: bool = False) -> None:
    step = imp.state
    if isinstance(reason, str):
        reason = reason.rstrip(".") + "."
    message = texts.STEP_FAILED(step=texts.STEPS[step](), reason=reason)
    rows, fields = ImageImport.objects.filter(pk=imp.pk), {**_message(message), "updated_at": timezone.now()}
    if any_claim:
        rows.update(state=State.FAILED, claim="", **fields)
    else:
        claim_release(rows, token, state=State.FAILED, **fields)
    imp.state, imp.message, imp.message_ref = State.FAILED, message.english(), message.ref()
    audit_record(
        actor=None,
        action="image.import_failed",
        target=imp,
        source=WORKER,
        outcome="failure",
        detail={
            "step": step,
            "reason": str(reason.english() if isinstance(reason, StoredMessage) else reason)[:500],
        },
    )


def _inspect(imp: ImageImport, token: str) -> None:
    source = Path(imp.source_path)
    disk = qemu.inspect(source)
    if imp.architecture not in hypervisor_architectures():
        raise ImportRefused(
            texts.NO_HYPERVISOR(
                arch=imp.architecture, known=", ".join(hypervisor_architectures()) or texts.NONE()
            )
        )
    # qcow2 holds about what the source holds; raw is written sparse but may need the whole disk.
    needed = disk.virtual_size if imp.target_format == "raw" else max(disk.actual_size, disk.file_size)
    free = shutil.disk_usage(_work_dir("converted")).free
    if free < needed:
        raise ImportRefused(texts.NO_ROOM(free=free, need=needed))
    if imp.min_disk_gb and imp.min_disk_gb * 1024**3 < disk.virtual_size:
        raise ImportRefused(
            texts.MIN_DISK_TOO_SMALL(gb=-(-disk.virtual_size // 1024**3), min=imp.min_disk_gb)
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
        raise ImportRefused(texts.CONVERTED_GONE(path=str(path)))
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
        raise ImportRefused(texts.PARTLY_SENT(sent=reader.sent, size=size))
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


def _checksum_problem(imp: ImageImport, image: Image) -> StoredMessage | None:
    if image.status != "active":
        return texts.GLANCE_NOT_ACTIVE(status=image.status)
    if image.size_bytes != imp.converted_bytes:
        return texts.GLANCE_SIZE(got=image.size_bytes, want=imp.converted_bytes)
    if image.hash_algo and image.hash_value:
        local = imp.local_sha512
        if image.hash_algo != "sha512":
            local, _md5 = _file_hashes(Path(imp.converted_path), image.hash_algo)
        if local != image.hash_value:
            return texts.GLANCE_HASH(algo=image.hash_algo)
        return None
    if image.checksum:
        if image.checksum != imp.local_md5:
            return texts.GLANCE_MD5()
        return None
    return texts.GLANCE_NO_CHECKSUM()


def _finish(imp: ImageImport) -> None:
    """After verification: mirror the image, offer it if asked, and remove the work files."""
    message = texts.IMPORTED(algo="sha512")
    try:
        catalog_refresh()
    except CloudError as error:
        message = message_join(message, texts.SHOWN_AT_NEXT_REFRESH(e=str(error)))
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
            message = message_join(message, texts.OFFERED())
        except ValidationError as error:
            message = message_join(message, texts.NOT_OFFERED(e=" ".join(error.messages)))
    elif imp.offer:
        message = message_join(message, texts.OFFER_LATER())
    elif mirrored is not None and imp.display_name:
        CloudImage.objects.filter(pk=mirrored.pk).update(display_name=imp.display_name)
    with contextlib.suppress(OSError):
        Path(imp.converted_path).unlink(missing_ok=True)
        if imp.source == ImageImport.Source.UPLOAD:
            os.unlink(imp.source_path)
    ImageImport.objects.filter(pk=imp.pk).update(**_message(message))
    imp.message, imp.message_ref = message.english(), message.ref()


def image_imports_resume() -> int:
    """Enqueue imports a dead worker left behind (held, but no heartbeat for KENNEL_STALE_WORK_SECONDS;
    or never claimed for a while), and the cleaning of discards that still leave something. Returns
    how many."""
    stale = claims_abandoned(
        ImageImport.objects.filter(state__in=ImageImport.WORKING), waiting_since="created_at"
    )
    ids = list(stale.values_list("pk", flat=True))
    from catalog.tasks import image_import_clean, image_import_run

    for import_id in ids:
        enqueue_now(image_import_run, import_id)
    # A discard whose cleaning gave up (the cloud was away longer than its retries) is cleaned again,
    # until nothing of it is left: an outage delays the cleaning, never drops it.
    unclean = [
        imp.pk
        for imp in ImageImport.objects.filter(state=State.DISCARDED, updated_at__lt=stale_before())
        if _leftovers(imp)
    ]
    for import_id in unclean:
        enqueue_now(image_import_clean, import_id)
    return len(ids) + len(unclean)


def _leftovers(imp: ImageImport) -> bool:
    """Whether a discarded import may still have something to delete (cleaning clears the image id and
    removes the files; an image whose id was never saved is found by its property when cleaning)."""
    return bool(imp.glance_image_id) or any(Path(name).exists() for name in _work_files(imp))
