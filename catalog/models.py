"""The admins' side of the image catalog: property changes on their way to Glance, and disk imports.

What developers may pick lives on the mirror itself (``CloudImage.offered``, ``CloudFlavor.offered``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.architectures import Architecture
from portal.stored_messages import message_text
from portal.validators import validate_single_line


class ImagePropertyChange(models.Model):
    """An admin's change to an image's Glance properties; a worker applies it and refreshes the mirror.

    pending → applying → done | failed. ``image_id`` is Glance's id (the mirror row may be replaced).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPLYING = "applying", _("Applying")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    image_id = models.CharField(max_length=64, db_index=True)
    image_name = models.CharField(_("image"), max_length=255)
    properties = models.JSONField(_("properties set"), default=dict, blank=True)
    remove = models.JSONField(_("properties removed"), default=list, blank=True)
    min_disk_gb = models.PositiveIntegerField(_("minimum disk (GB)"), null=True, blank=True)
    min_ram_mb = models.PositiveIntegerField(_("minimum RAM (MB)"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    message = models.TextField(_("message"), blank=True)  # English; ``text`` says it in the reader's language
    message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("image property change")
        verbose_name_plural = _("image property changes")

    def __str__(self) -> str:
        return f"{self.image_name}: {self.status}"

    @property
    def text(self) -> str:
        """The message in the reader's language."""
        return message_text(self.message_ref, self.message)

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class ImageImport(models.Model):
    """An old VM's disk on its way into Glance. ``state`` is an explicit state machine:

    uploaded → inspecting → converting → uploading → verifying → done, or failed from any step;
    failed → discarded when an admin gives up on it (a worker removes what it left behind).
    ``completed`` is the last step that finished; a retry resumes after it. The Glance image id is
    saved before any data is sent, so a retry reuses (or deletes) that image instead of making a
    second one. An import is offered to developers only once its checksum is verified.
    """

    class State(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        INSPECTING = "inspecting", _("Inspecting")
        CONVERTING = "converting", _("Converting")
        UPLOADING = "uploading", _("Uploading to Glance")
        VERIFYING = "verifying", _("Verifying")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        DISCARDED = "discarded", _("Discarded")

    class Source(models.TextChoices):
        UPLOAD = "upload", _("Uploaded through the portal")
        PATH = "path", _("A file on the portal host")

    class TargetFormat(models.TextChoices):
        QCOW2 = "qcow2", "qcow2"
        RAW = "raw", "raw"

    # The work, in order: the state that does it and the step it completes.
    STEPS = (
        (State.INSPECTING, "inspected"),
        (State.CONVERTING, "converted"),
        (State.UPLOADING, "uploaded"),
        (State.VERIFYING, "verified"),
    )
    WORKING = (State.UPLOADED, State.INSPECTING, State.CONVERTING, State.UPLOADING, State.VERIFYING)

    name = models.CharField(_("image name in Glance"), max_length=255, validators=[validate_single_line])
    display_name = models.CharField(
        _("friendly name"), max_length=100, blank=True, validators=[validate_single_line]
    )
    architecture = models.CharField(_("architecture"), max_length=16, choices=Architecture.choices)
    os_distro = models.CharField(_("OS"), max_length=64, blank=True, validators=[validate_single_line])
    os_version = models.CharField(
        _("OS version"), max_length=64, blank=True, validators=[validate_single_line]
    )
    min_disk_gb = models.PositiveIntegerField(_("minimum disk (GB)"), default=0)
    min_ram_mb = models.PositiveIntegerField(_("minimum RAM (MB)"), default=0)
    machine_type = models.CharField(
        _("machine type"), max_length=32, blank=True, validators=[validate_single_line]
    )
    target_format = models.CharField(
        _("store as"), max_length=8, choices=TargetFormat.choices, default=TargetFormat.QCOW2
    )
    offer = models.BooleanField(_("offer to developers when verified"), default=False)

    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    source_path = models.CharField(_("source file"), max_length=1024)
    original_filename = models.CharField(_("file name"), max_length=255, blank=True)
    source_bytes = models.BigIntegerField(_("source size"), default=0)

    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.UPLOADED, db_index=True
    )
    completed = models.CharField(_("last completed step"), max_length=16, blank=True)
    message = models.TextField(_("message"), blank=True)  # English; ``text`` says it in the reader's language
    message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    attempts = models.PositiveIntegerField(default=0)
    # A worker holds the row while it works on a step; a stale hold (no heartbeat) may be taken over.
    claim = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    source_format = models.CharField(_("source format"), max_length=16, blank=True)
    virtual_size_bytes = models.BigIntegerField(_("virtual size"), null=True, blank=True)
    converted_path = models.CharField(max_length=1024, blank=True)
    converted_bytes = models.BigIntegerField(_("converted size"), null=True, blank=True)
    progress_bytes = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    local_sha512 = models.CharField(max_length=128, blank=True)
    local_md5 = models.CharField(max_length=32, blank=True)
    glance_image_id = models.CharField(_("Glance image"), max_length=64, blank=True, db_index=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("started"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("disk import")
        verbose_name_plural = _("disk imports")

    def __str__(self) -> str:
        return self.name

    @property
    def text(self) -> str:
        """The message in the reader's language."""
        return message_text(self.message_ref, self.message)

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED, self.State.DISCARDED)

    @property
    def progress_percent(self) -> int | None:
        """How far the current step is, when it reports progress (converting, uploading)."""
        if self.state not in (self.State.CONVERTING, self.State.UPLOADING) or not self.progress_total:
            return None
        return min(100, int(100 * self.progress_bytes / self.progress_total))

    def next_state(self) -> str:
        """The state that does the step after ``completed`` (where a retry resumes)."""
        done = [step for _state, step in self.STEPS]
        if not self.completed:
            return self.State.INSPECTING
        index = done.index(self.completed) + 1
        return self.STEPS[index][0] if index < len(self.STEPS) else self.State.DONE

    @property
    def resumes_at(self) -> str:
        """The step a retry starts with, in words."""
        return str(self.State(self.next_state()).label)
