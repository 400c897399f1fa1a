"""VM requests and the portal's mirror of the cloud's catalog and capacity.

Pages read the mirror (``CloudImage``, ``CloudFlavor``, ``CloudHost``), which workers refresh on a
schedule and right after the portal's own changes, so no page waits on the cloud. ``CloudSync`` says
how fresh each part of the mirror is.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.architectures import Architecture
from portal.models import Team
from portal.stored_messages import message_text
from portal.units import gib_text
from portal.validators import validate_single_line, validate_text
from provisioning.placement_rule import capacity_expression, used_expression
from provisioning.server_states import ACTIONS, ServerState, action_allowed, server_state_for

# How long a page follows a console request before saying the workers did not answer, and how long a
# console URL is offered (Nova's console tokens live 10 minutes by default).
CONSOLE_WAIT = timedelta(minutes=1)
CONSOLE_FRESH = timedelta(minutes=5)


class CloudImage(models.Model):
    """A Glance image as last seen. ``architecture`` is its ``hw_architecture``."""

    cloud_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    architecture = models.CharField(_("architecture"), max_length=16, blank=True, db_index=True)
    status = models.CharField(_("status"), max_length=32)
    min_disk_gb = models.PositiveIntegerField(_("minimum disk (GB)"), default=0)
    min_ram_mb = models.PositiveIntegerField(_("minimum RAM (MB)"), default=0)
    os_distro = models.CharField(_("OS"), max_length=64, blank=True)
    os_version = models.CharField(_("OS version"), max_length=64, blank=True)
    visibility = models.CharField(max_length=16, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    seen_at = models.DateTimeField()
    # The catalog, kept by admins (the mirror never touches these): developers see an image only when
    # it is offered, under its friendly name. A new image in Glance is not offered until an admin says so.
    offered = models.BooleanField(_("offered to developers"), default=False, db_index=True)
    display_name = models.CharField(
        _("friendly name"), max_length=100, blank=True, validators=[validate_single_line]
    )
    # A team's own image (a snapshot of one of its VMs): only that team sees it and builds from it,
    # without an admin offering it. None: the catalog's.
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("team")
    )

    class Meta:
        ordering = ["architecture", "name"]
        verbose_name = _("image")
        verbose_name_plural = _("images")

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """What developers see: the friendly name, else Glance's name."""
        return self.display_name or self.name


class CloudFlavor(models.Model):
    """A Nova flavor as last seen."""

    cloud_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    vcpus = models.PositiveIntegerField(_("vCPUs"))
    ram_mb = models.PositiveIntegerField(_("RAM (MB)"))
    disk_gb = models.PositiveIntegerField(_("disk (GB)"))
    is_public = models.BooleanField(default=True)
    extra_specs = models.JSONField(default=dict, blank=True)
    seen_at = models.DateTimeField()
    # Kept by admins. A flavor is a size that any fitting image can use, so a new public flavor is
    # offered until an admin withdraws it (unlike an image, which may be half-built or private).
    offered = models.BooleanField(_("offered to developers"), default=True, db_index=True)

    class Meta:
        ordering = ["vcpus", "ram_mb", "disk_gb", "name"]
        verbose_name = _("flavor")
        verbose_name_plural = _("flavors")

    def __str__(self) -> str:
        return f"{self.name} ({self.vcpus} vCPU, {gib_text(self.ram_mb)} RAM, {self.disk_gb} GB)"

    def fits_image(self, image: CloudImage) -> bool:
        return self.disk_gb >= image.min_disk_gb and self.ram_mb >= image.min_ram_mb

    def suits_architecture(self, architecture: str) -> bool:
        """False when the flavor's extra specs keep it off ``architecture``'s hosts: a required or
        forbidden ``trait:HW_ARCH_*`` (Placement) or ``capabilities:cpu_info:arch`` (Nova's
        ComputeCapabilitiesFilter, e.g. ``s== ppc64le``)."""
        wanted = architecture.lower()
        for key, value in (self.extra_specs or {}).items():
            value = str(value).strip()
            if key.startswith("trait:HW_ARCH_"):
                arch = key[len("trait:HW_ARCH_") :].lower()
                if value == "required" and arch != wanted:
                    return False
                if value == "forbidden" and arch == wanted:
                    return False
            elif key == "capabilities:cpu_info:arch" and value and value.split()[-1].lower() != wanted:
                return False
        return True


class CloudHost(models.Model):
    """A compute node: Nova's hypervisor state with Placement's inventories and usage."""

    name = models.CharField(_("host"), max_length=255, unique=True)
    architecture = models.CharField(_("architecture"), max_length=16, blank=True, db_index=True)
    state = models.CharField(_("state"), max_length=16, blank=True)  # up / down
    status = models.CharField(_("status"), max_length=16, blank=True)  # enabled / disabled
    disabled_reason = models.CharField(_("why disabled"), max_length=255, blank=True)
    # Placement inventories: resource class -> {"total", "reserved", "allocation_ratio", "used"}
    inventories = models.JSONField(default=dict)
    # Placement's provider and the generation these inventories were read at: the mirror reads a
    # provider's details again only when its generation moved.
    provider_id = models.CharField(max_length=64, blank=True)
    generation = models.BigIntegerField(null=True, blank=True)
    seen_at = models.DateTimeField()
    # Placement's rule on ``inventories``, computed by the database whenever the row is written, so pages
    # sum, filter and fit flavors over a thousand hosts in SQL (provisioning.placement).
    vcpu_capacity = models.GeneratedField(
        expression=capacity_expression("VCPU"), output_field=models.BigIntegerField(), db_persist=True
    )
    vcpu_used = models.GeneratedField(
        expression=used_expression("VCPU"), output_field=models.BigIntegerField(), db_persist=True
    )
    memory_mb_capacity = models.GeneratedField(
        expression=capacity_expression("MEMORY_MB"), output_field=models.BigIntegerField(), db_persist=True
    )
    memory_mb_used = models.GeneratedField(
        expression=used_expression("MEMORY_MB"), output_field=models.BigIntegerField(), db_persist=True
    )
    disk_gb_capacity = models.GeneratedField(
        expression=capacity_expression("DISK_GB"), output_field=models.BigIntegerField(), db_persist=True
    )
    disk_gb_used = models.GeneratedField(
        expression=used_expression("DISK_GB"), output_field=models.BigIntegerField(), db_persist=True
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("compute host")
        verbose_name_plural = _("compute hosts")

    def __str__(self) -> str:
        return self.name

    def capacity(self, resource_class: str) -> int:
        """What Placement allocates at most: (total - reserved) * allocation_ratio."""
        inv = self.inventories.get(resource_class)
        if not inv:
            return 0
        return int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])

    def free(self, resource_class: str) -> int:
        """What Placement would still allocate: capacity - used."""
        inv = self.inventories.get(resource_class)
        return self.capacity(resource_class) - inv["used"] if inv else 0

    @property
    def schedulable(self) -> bool:
        return self.state == "up" and self.status == "enabled"


class CloudNetwork(models.Model):
    """A Neutron network as last seen: where a team's VMs are plugged in (``<team slug>-net``)."""

    cloud_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    project_id = models.CharField(max_length=64, db_index=True)
    external = models.BooleanField(default=False)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CloudSync(models.Model):
    """When a part of the mirror was last refreshed, and why the last try failed.

    Parts: ``catalog`` (images, flavors, networks), ``hosts`` (hypervisors and Placement), ``servers``
    (every project's servers) and ``quotas`` (teams' limits). ``succeeded_at`` is when the data of the
    last successful run was read (its start): what pages show as the data's age, and for ``servers``
    the watermark the next ``changes-since`` listing starts from. ``running_since`` is the claim of a
    run in progress, so two runs of a part never overlap.
    """

    part = models.CharField(max_length=32, primary_key=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    running_since = models.DateTimeField(null=True, blank=True)
    # The last complete listing (``servers``: without ``changes-since``), which also finds what an
    # incremental listing cannot (a server whose deletion Nova has already purged).
    full_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.part


class Profile(models.Model):
    """An admin-managed cloud-init profile: parts (proxy, DNS, yum, users ...) stored as data."""

    name = models.CharField(_("name"), max_length=100, unique=True, validators=[validate_single_line])
    description = models.TextField(_("description"), blank=True, validators=[validate_text])
    parts = models.JSONField(_("parts"), default=list, blank=True)
    is_active = models.BooleanField(_("offered"), default=True)
    # Deleted while VMs still name it: kept for them (their history and rebuilds), never offered again,
    # hidden from the list unless asked for.
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("cloud-init profile")
        verbose_name_plural = _("cloud-init profiles")

    def __str__(self) -> str:
        return self.name


class VmRequest(models.Model):
    """A developer's VM, from request to deletion. ``status`` is an explicit state machine:

    queued → building → active ⇄ (actions) → deleting → deleted; building or queued → failed.
    A worker claims a step with a conditional UPDATE on ``status``; ``server_id`` is saved before the
    worker waits on the cloud, so a retry finds the server instead of creating a second one.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        BUILDING = "building", _("Building")
        ACTIVE = "active", _("Built")
        FAILED = "failed", _("Failed")
        DELETING = "deleting", _("Deleting")
        DELETED = "deleted", _("Deleted")

    FINISHED = (Status.ACTIVE, Status.FAILED, Status.DELETED)

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="vm_requests")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vm_requests")
    name = models.CharField(_("name"), max_length=63, validators=[validate_single_line])
    architecture = models.CharField(_("architecture"), max_length=16, choices=Architecture.choices)
    image = models.ForeignKey(CloudImage, null=True, on_delete=models.SET_NULL, related_name="+")
    image_name = models.CharField(_("image"), max_length=255)
    flavor = models.ForeignKey(CloudFlavor, null=True, on_delete=models.SET_NULL, related_name="+")
    flavor_name = models.CharField(_("flavor"), max_length=255)
    vcpus = models.PositiveIntegerField()
    ram_mb = models.PositiveIntegerField()
    disk_gb = models.PositiveIntegerField()
    profile = models.ForeignKey(Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user_data = models.TextField(blank=True)

    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    status_message = models.TextField(_("message"), blank=True)  # English; status_message_text says it
    status_message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    server_id = models.CharField(_("server id"), max_length=64, blank=True, db_index=True)
    # The server as the cloud last showed it: Nova's status and task state, and what they mean to a
    # person (``ServerState``: running, stopped, rebooting ...). "" until a server exists.
    server_status = models.CharField(_("server status"), max_length=32, blank=True)
    server_task_state = models.CharField(_("server task state"), max_length=32, blank=True)
    server_state = models.CharField(
        _("server state"), max_length=16, choices=ServerState.choices, blank=True, db_index=True
    )
    host = models.CharField(_("host"), max_length=255, blank=True)
    addresses = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    building_since = models.DateTimeField(null=True, blank=True)
    # Set once, just before the first create call: until then no server of this request can exist, so
    # the first build skips looking for one (a later try, after a crash or a lost answer, looks).
    create_requested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    lease_reminded_at = models.DateTimeField(null=True, blank=True)
    # When an expired lease was last enforced (stopped or deleted): claimed once per run of the hourly
    # task, so duplicated runs stop (and audit) a VM once.
    lease_enforced_at = models.DateTimeField(null=True, blank=True)
    floating_ip = models.GenericIPAddressField(_("floating IP"), null=True, blank=True)
    floating_ip_id = models.CharField(max_length=64, blank=True)
    console_url = models.TextField(blank=True)
    console_url_at = models.DateTimeField(null=True, blank=True)
    # Asked for and not yet answered: the page follows it until the URL or the reason arrives.
    console_requested_at = models.DateTimeField(null=True, blank=True)
    console_error = models.TextField(blank=True)
    console_error_ref = models.JSONField(null=True, blank=True)
    # Nova's console output (the last lines), fetched by a worker when asked.
    console_log = models.TextField(blank=True)
    console_log_at = models.DateTimeField(null=True, blank=True)
    console_log_requested_at = models.DateTimeField(null=True, blank=True)
    console_log_error = models.TextField(blank=True)
    console_log_error_ref = models.JSONField(null=True, blank=True)
    # Nova's lock, as last mirrored: while locked Kennel refuses every change but unlocking.
    locked = models.BooleanField(_("locked"), default=False, db_default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("VM")
        verbose_name_plural = _("VMs")
        indexes = [models.Index(fields=["team", "status"]), models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def status_message_text(self) -> str:
        """The status line in the reader's language (``portal.stored_messages``)."""
        return message_text(self.status_message_ref, self.status_message)

    @property
    def console_error_text(self) -> str:
        return message_text(self.console_error_ref, self.console_error)

    @property
    def console_log_error_text(self) -> str:
        return message_text(self.console_log_error_ref, self.console_log_error)

    # The request's life cycle still matters beside the server's state in these steps.
    LIFECYCLE_SHOWN = (Status.QUEUED, Status.BUILDING, Status.FAILED, Status.DELETING)

    @property
    def state(self) -> str:
        """The main state to show: the server's, else (no server yet, or gone) the request's."""
        if self.status == self.Status.DELETED:
            return ServerState.DELETED
        return self.server_state or self.status

    @property
    def state_label(self) -> str:
        if self.status == self.Status.DELETED:
            return str(ServerState.DELETED.label)
        return self.get_server_state_display() if self.server_state else self.get_status_display()

    @property
    def lifecycle_shown(self) -> bool:
        """Whether the request's status is worth a second label next to the server's state."""
        return bool(self.server_state) and self.status in self.LIFECYCLE_SHOWN and self.status != self.state

    # What a locked VM still takes: reading its console and its log, and unlocking.
    WHILE_LOCKED = frozenset({"console", "console_log", "unlock"})

    def may(self, action: str) -> bool:
        """Whether ``action`` (a ``ServerAction`` value, "console", "console_log", "resize",
        "rebuild" or "snapshot") makes sense now: the request is active, the server's state allows it
        and a lock does not forbid it."""
        if self.locked and action not in self.WHILE_LOCKED:
            return False
        if action in ("lock", "unlock") and self.locked != (action == "unlock"):
            return False
        return (
            self.status == self.Status.ACTIVE
            and bool(self.server_id)
            and action_allowed(self.server_state, action)
        )

    @property
    def allowed_actions(self) -> frozenset[str]:
        """The actions that make sense now (what the page offers; the services refuse the rest)."""
        return frozenset(action for action in ACTIONS if self.may(action))

    @property
    def power_actions(self) -> frozenset[str]:
        """The start, stop and reboot actions that make sense now."""
        return self.allowed_actions & {"start", "stop", "reboot_soft", "reboot_hard"}

    @property
    def console_waiting(self) -> bool:
        """A console was asked for within the last minute and neither its URL nor a reason arrived."""
        return (
            self.console_requested_at is not None
            and not (self.console_url or self.console_error)
            and timezone.now() - self.console_requested_at < CONSOLE_WAIT
        )

    @property
    def console_late(self) -> bool:
        return (
            self.console_requested_at is not None
            and not (self.console_url or self.console_error)
            and not self.console_waiting
        )

    @property
    def console_fresh(self) -> bool:
        """A console URL is short-lived (Nova's token expires after 10 minutes by default)."""
        return bool(self.console_url) and (
            self.console_url_at is not None and timezone.now() - self.console_url_at < CONSOLE_FRESH
        )

    @property
    def console_log_waiting(self) -> bool:
        requested = self.console_log_requested_at
        return (
            requested is not None
            and not self.console_log_error
            and (self.console_log_at is None or self.console_log_at < requested)
            and timezone.now() - requested < CONSOLE_WAIT
        )


class VmEvent(models.Model):
    """One step in a VM's history, readable by its owner: what happened and what to do."""

    request = models.ForeignKey(VmRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=VmRequest.Status.choices)
    message = models.TextField()  # in English, as it was stored: what rows without message_ref show
    message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.status}: {self.message}"

    @property
    def text(self) -> str:
        """The message in the reader's language."""
        return message_text(self.message_ref, self.message)


class VmSnapshot(models.Model):
    """A snapshot of a VM asked for in Kennel, becoming the team's own image. ``status``: requested →
    creating (a worker asked Nova; ``image_cloud_id`` is saved before it waits) → active | failed. A
    retried task finds the image by its ``kennel_snapshot`` property instead of making a second one."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        CREATING = "creating", _("Being made")
        ACTIVE = "active", _("Ready")
        FAILED = "failed", _("Failed")

    vm = models.ForeignKey(
        VmRequest, on_delete=models.CASCADE, related_name="snapshots", verbose_name=_("VM")
    )
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", verbose_name=_("team"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(_("name"), max_length=100, validators=[validate_single_line])
    architecture = models.CharField(_("architecture"), max_length=16)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED, db_index=True
    )
    image_cloud_id = models.CharField(max_length=64, blank=True)
    image = models.ForeignKey(CloudImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField(_("message"), blank=True)  # English; ``text`` says it in the reader's
    message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")

    def __str__(self) -> str:
        return self.name

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.FAILED)

    @property
    def text(self) -> str:
        """Why it failed, in the reader's language."""
        return message_text(self.message_ref, self.message)


class UnmanagedServer(models.Model):
    """A server the cloud has but Kennel did not create (or whose VM row is gone), seen by reconciliation."""

    server_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=255)
    project_id = models.CharField(max_length=64, db_index=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("status"), max_length=32)
    host = models.CharField(_("host"), max_length=255, blank=True)
    # What it holds of the team's quota: the portal counts these with its own VMs.
    architecture = models.CharField(_("architecture"), max_length=16, blank=True)
    vcpus = models.PositiveIntegerField(_("vCPUs"), default=0)
    ram_mb = models.PositiveIntegerField(_("RAM (MB)"), default=0)
    disk_gb = models.PositiveIntegerField(_("disk (GB)"), default=0)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        verbose_name = _("unmanaged server")
        verbose_name_plural = _("unmanaged servers")

    def __str__(self) -> str:
        return self.name

    @property
    def state(self) -> str:
        """What its Nova status means (``ServerState``); reconciliation keeps no task state for it."""
        return server_state_for(self.status) or ServerState.UNKNOWN

    @property
    def state_label(self) -> str:
        return str(ServerState(self.state).label)


class SshKey(models.Model):
    """A developer's SSH public key, offered in every VM request (cloud-init puts it on the default user)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys")
    name = models.CharField(_("name"), max_length=100, validators=[validate_single_line])
    public_key = models.TextField(_("public key"))
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("SSH key")
        verbose_name_plural = _("SSH keys")
        constraints = [
            models.UniqueConstraint(fields=["user", "fingerprint"], name="one_copy_of_a_key_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint})"


class CloudFloatingIp(models.Model):
    """A floating IP as Neutron last listed it (every project's, one listing a minute), with what it
    is attached to. A team lead asks to release an unused one here; a worker does it (``release_*``).
    """

    class Release(models.TextChoices):
        NONE = "", _("—")
        REQUESTED = "requested", _("Release requested")
        RELEASING = "releasing", _("Releasing")
        FAILED = "failed", _("Release failed")

    cloud_id = models.CharField(max_length=64, unique=True)
    address = models.GenericIPAddressField(_("address"))
    project_id = models.CharField(max_length=64, db_index=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    port_id = models.CharField(max_length=64, blank=True)  # "" when attached to nothing
    server_id = models.CharField(max_length=64, blank=True)  # the server whose port holds it
    vm = models.ForeignKey(
        "VmRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("VM")
    )
    server_name = models.CharField(_("server"), max_length=255, blank=True)  # a server Kennel did not make
    seen_at = models.DateTimeField()
    release = models.CharField(_("release"), max_length=16, choices=Release.choices, blank=True, default="")
    release_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    release_changed_at = models.DateTimeField(null=True, blank=True)
    release_error = models.CharField(max_length=300, blank=True)  # stored untranslated

    class Meta:
        ordering = ["address"]
        verbose_name = _("floating IP")
        verbose_name_plural = _("floating IPs")

    def __str__(self) -> str:
        return self.address

    @property
    def unused(self) -> bool:
        return not self.port_id


class Volume(models.Model):
    """A team's block storage volume (Cinder), asked for in Kennel and made, attached, detached and
    deleted by a worker. ``status`` is what Kennel last saw or asked; ``message`` says why a step was
    refused or failed (a catalogue id with parameters in ``message_ref``, shown in the reader's language).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        CREATING = "creating", _("Creating")
        AVAILABLE = "available", _("Available")
        ATTACHING = "attaching", _("Attaching")
        IN_USE = "in_use", _("Attached")
        DETACHING = "detaching", _("Detaching")
        DELETING = "deleting", _("Deleting")
        DELETED = "deleted", _("Deleted")
        FAILED = "failed", _("Failed")

    # Asked of the cloud, not yet answered: a worker follows them.
    IN_PROGRESS = (Status.QUEUED, Status.CREATING, Status.ATTACHING, Status.DETACHING, Status.DELETING)
    # Still counted against the team's volume quota.
    LIVE = (*IN_PROGRESS, Status.AVAILABLE, Status.IN_USE)

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="volumes", verbose_name=_("team"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="volumes", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=63, validators=[validate_single_line])
    size_gb = models.PositiveIntegerField(_("size (GB)"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    volume_id = models.CharField(_("volume id"), max_length=64, blank=True, db_index=True)
    # The VM it is attached to, or being attached to or detached from.
    vm = models.ForeignKey(
        "VmRequest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="volumes",
        verbose_name=_("VM"),
    )
    device = models.CharField(_("device"), max_length=32, blank=True)  # /dev/vdb, as Nova names it
    message = models.TextField(_("message"), blank=True)  # English; message_text says it
    message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    # When the current step was asked of the cloud (None: not yet): a later try first looks at what
    # that call did (a volume made, an attachment begun) instead of asking twice.
    asked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["team__slug", "name", "id"]
        verbose_name = _("volume")
        verbose_name_plural = _("volumes")
        indexes = [models.Index(fields=["team", "status"])]

    def __str__(self) -> str:
        return self.name

    @property
    def message_text(self) -> str:
        return message_text(self.message_ref, self.message)

    @property
    def busy(self) -> bool:
        return self.status in self.IN_PROGRESS


class TeamVmUsage(models.Model):
    """What a team's active VMs hold, summed: a rollup the database keeps (a trigger on VmRequest, see
    migration 0014), so the dashboard and the quota pages never sum 50,000 VM rows per view. Read it
    through ``provisioning.selectors``; never written by Python code."""

    team = models.OneToOneField(Team, primary_key=True, on_delete=models.CASCADE, related_name="vm_usage")
    vm_count = models.BigIntegerField(default=0)
    vcpus = models.BigIntegerField(default=0)
    ram_mb = models.BigIntegerField(default=0)
    disk_gb = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("team VM usage")
        verbose_name_plural = _("team VM usage")

    def __str__(self) -> str:
        return f"{self.team_id}: {self.vm_count} VMs"


class HostVmCount(models.Model):
    """How many servers a compute host runs: Kennel's active VMs plus the servers made outside Kennel,
    kept by the database (triggers on VmRequest and UnmanagedServer, see migration 0014)."""

    # The host's name, not a constraint: a VM may name a host the mirror does not (yet) have.
    host = models.OneToOneField(
        CloudHost,
        to_field="name",
        primary_key=True,
        db_column="host",
        db_constraint=False,
        on_delete=models.DO_NOTHING,
        related_name="vm_rollup",
    )
    vm_count = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("host VM count")
        verbose_name_plural = _("host VM counts")

    def __str__(self) -> str:
        return f"{self.host_id}: {self.vm_count}"
