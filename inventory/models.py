"""Physical servers and the data centers they stand in, whether OpenStack runs on them or not."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from portal.architectures import Architecture
from portal.stored_messages import message_text
from portal.validators import validate_single_line, validate_text


class ServerRole(models.TextChoices):
    CONTROLLER = "controller", _("Controller")
    NETWORK = "network", _("Network node")
    COMPUTE = "compute", _("Compute")
    PROXY = "proxy", _("HTTP/SSH proxy")
    OUTSIDE = "outside", _("Outside OpenStack")


class BmcProtocolChoice(models.TextChoices):
    IPMI = "ipmi", "IPMI"
    REDFISH = "redfish", "Redfish"


class BmcTlsVerifyChoice(models.TextChoices):
    """Whether Kennel checks a Redfish BMC's HTTPS certificate. The default follows the setting
    KENNEL_BMC_TLS_VERIFY (off unless set: most BMCs present self-signed certificates)."""

    DEFAULT = "", _("As the Kennel server is set up")
    VERIFY = "verify", _("Verify the certificate")
    SKIP = "skip", _("Do not verify (self-signed)")


class PowerStateChoice(models.TextChoices):
    ON = "on", _("On")
    OFF = "off", _("Off")
    UNKNOWN = "unknown", _("Unknown")


class HealthChoice(models.TextChoices):
    OK = "ok", _("OK")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")
    UNKNOWN = "unknown", _("Unknown")


class DataCenter(models.Model):
    """A site holding racks of servers."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100, validators=[validate_single_line])

    class Meta:
        ordering = ["code"]
        verbose_name = _("data center")
        verbose_name_plural = _("data centers")

    def __str__(self) -> str:
        return self.name


class Server(models.Model):
    """One physical machine. ``hypervisor_hostname`` links it to Nova's compute host of that name."""

    name = models.CharField(_("name"), max_length=64, unique=True, validators=[validate_single_line])
    architecture = models.CharField(_("architecture"), max_length=16, choices=Architecture.choices)
    datacenter = models.ForeignKey(
        DataCenter, on_delete=models.PROTECT, related_name="servers", verbose_name=_("data center")
    )
    vendor = models.CharField(_("vendor"), max_length=64, blank=True, validators=[validate_single_line])
    model = models.CharField(_("model"), max_length=64, blank=True, validators=[validate_single_line])
    serial = models.CharField(
        _("serial number"), max_length=64, blank=True, validators=[validate_single_line]
    )
    rack = models.CharField(_("rack"), max_length=32, blank=True, validators=[validate_single_line])
    rack_unit = models.PositiveSmallIntegerField(_("rack unit"), null=True, blank=True)
    roles = models.JSONField(_("roles"), default=list, blank=True)
    hypervisor_hostname = models.CharField(
        _("hypervisor host name"), max_length=255, blank=True, validators=[validate_single_line]
    )
    notes = models.TextField(_("notes"), blank=True, validators=[validate_text])
    # The BMC. The password is stored only encrypted (portal.crypto) and never leaves services.
    bmc_protocol = models.CharField(
        _("BMC protocol"), max_length=16, choices=BmcProtocolChoice.choices, blank=True
    )
    bmc_address = models.CharField(
        _("BMC address"), max_length=255, blank=True, validators=[validate_single_line]
    )
    bmc_port = models.PositiveIntegerField(_("BMC port"), null=True, blank=True)
    bmc_username = models.CharField(
        _("BMC username"), max_length=64, blank=True, validators=[validate_single_line]
    )
    bmc_password_encrypted = models.TextField(_("BMC password (encrypted)"), blank=True, editable=False)
    bmc_tls_verify = models.CharField(
        _("BMC certificate check"), max_length=8, choices=BmcTlsVerifyChoice.choices, blank=True, default=""
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("server")
        verbose_name_plural = _("servers")
        # The utilization pages match each compute host to its (oldest) server record by this name.
        indexes = [models.Index(fields=["hypervisor_hostname", "id"], name="inventory_server_hypervisor")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.roles, list) or any(r not in ServerRole.values for r in self.roles):
            raise ValidationError(
                {"roles": _("Roles must be a list of: %(roles)s") % {"roles": ", ".join(ServerRole.values)}}
            )
        if ServerRole.OUTSIDE in self.roles and len(self.roles) > 1:
            raise ValidationError({"roles": _("A server outside OpenStack has no OpenStack role.")})
        if ServerRole.COMPUTE in self.roles and not self.hypervisor_hostname:
            raise ValidationError(
                {"hypervisor_hostname": _("A compute server needs its hypervisor host name.")}
            )
        if self.bmc_protocol and not (self.bmc_address and self.bmc_port and self.bmc_username):
            raise ValidationError({"bmc_address": _("A BMC needs an address, a port and a username.")})

    @property
    def has_bmc(self) -> bool:
        return bool(self.bmc_protocol and self.bmc_address and self.bmc_port)

    @property
    def in_openstack(self) -> bool:
        return ServerRole.OUTSIDE not in self.roles

    def role_labels(self) -> list[str]:
        return [str(ServerRole(r).label) for r in self.roles]


def error_text(ref, stored: str) -> str:
    """A stored error in the reader's language: its catalogue message, else the stored English text,
    translated when it is a fixed sentence of the catalogue (rows from before ``error_ref``)."""
    return message_text(ref, "") or (gettext(stored) if stored else "")


class HardwareState(models.Model):
    """The latest a poll of a server's BMC saw. ``last_seen_at`` is the last time the BMC answered;
    ``error`` says why the latest poll failed (empty when it did not). A BMC that failed ``failures``
    polls in a row is not asked again before ``next_poll_at`` (backoff)."""

    server = models.OneToOneField(
        Server, on_delete=models.CASCADE, related_name="hardware_state", verbose_name=_("server")
    )
    power_state = models.CharField(
        _("power"), max_length=16, choices=PowerStateChoice.choices, default=PowerStateChoice.UNKNOWN
    )
    health = models.CharField(
        _("health"), max_length=16, choices=HealthChoice.choices, default=HealthChoice.UNKNOWN
    )
    reachable = models.BooleanField(_("reachable"), default=False)
    sensors = models.JSONField(_("sensors"), default=list, blank=True)
    max_temperature_c = models.FloatField(_("highest temperature (°C)"), null=True, blank=True)
    power_watts = models.FloatField(_("power draw (W)"), null=True, blank=True)
    polled_at = models.DateTimeField(_("polled at"))
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=200, blank=True)  # in English, as stored
    error_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    failures = models.PositiveIntegerField(_("failed polls in a row"), default=0, db_default=0)
    next_poll_at = models.DateTimeField(_("next poll"), null=True, blank=True)

    class Meta:
        verbose_name = _("hardware state")
        verbose_name_plural = _("hardware states")

    def __str__(self) -> str:
        return f"{self.server}: {self.power_state}/{self.health}"

    @property
    def error_text(self) -> str:
        """Why the latest poll failed, in the reader's language (see PowerRequest.error_text)."""
        return error_text(self.error_ref, self.error)


class PowerActionChoice(models.TextChoices):
    ON = "on", _("Power on")
    SOFT_OFF = "soft_off", _("Soft off (ACPI shutdown)")
    HARD_OFF = "hard_off", _("Hard off")
    CYCLE = "cycle", _("Power cycle")
    RESET = "reset", _("Reset")


class PowerRequest(models.Model):
    """One guarded power action on a server, from request to outcome.

    awaiting_confirmation (controllers only) -> queued -> running -> done | failed. A worker claims a
    queued row with a conditional UPDATE, so a duplicated task never acts twice.
    """

    class Status(models.TextChoices):
        AWAITING_CONFIRMATION = "awaiting_confirmation", _("Awaiting a second admin")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="power_requests", verbose_name=_("server")
    )
    action = models.CharField(_("action"), max_length=16, choices=PowerActionChoice.choices)
    reason = models.CharField(_("reason"), max_length=500, validators=[validate_single_line])
    status = models.CharField(_("status"), max_length=32, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        "portal.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    confirmed_by = models.ForeignKey(
        "portal.User",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("confirmed by"),
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    # When a worker claimed it; a row still running long after this lost its worker (see
    # services.power_requests_recover).
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=200, blank=True)  # in English, as stored
    error_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("power request")
        verbose_name_plural = _("power requests")

    def __str__(self) -> str:
        return f"{self.server} {self.action} ({self.status})"

    @property
    def error_text(self) -> str:
        """The error in the reader's language (``portal.stored_messages``; older rows: as stored,
        translated when it is one of the catalogue's fixed sentences)."""
        return error_text(self.error_ref, self.error)


class ServerDrain(models.Model):
    """A compute node's drain: its Nova compute service disabled so no new VM lands there, and what
    the cloud last said about it (service enabled? which VMs are still on the host?).

    requested -> draining -> drained; undrain_requested -> undraining -> undrained; a cloud error
    lands as failed with ``error``. With ``migrate`` the drain goes draining -> migrating -> drained:
    a worker moves the VMs off the host by live migration, one at a time (``DrainMove``). A worker
    claims each step with a conditional UPDATE. One row per server, reused by every later drain.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Drain requested")
        DRAINING = "draining", _("Draining")
        MIGRATING = "migrating", _("Moving VMs off")
        DRAINED = "drained", _("Drained")
        UNDRAIN_REQUESTED = "undrain_requested", _("Undrain requested")
        UNDRAINING = "undraining", _("Undraining")
        UNDRAINED = "undrained", _("Undrained")
        FAILED = "failed", _("Failed")

    server = models.OneToOneField(
        Server, on_delete=models.CASCADE, related_name="drain", verbose_name=_("server")
    )
    status = models.CharField(_("status"), max_length=32, choices=Status.choices)
    reason = models.CharField(_("reason"), max_length=500, validators=[validate_single_line])
    requested_by = models.ForeignKey(
        "portal.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested at"))
    migrate = models.BooleanField(_("move the VMs off by live migration"), default=False)
    # What the cloud said at checked_at; None before the first check.
    service_enabled = models.BooleanField(_("compute service enabled"), null=True, blank=True)
    vm_names = models.JSONField(_("VMs on the host"), default=list, blank=True)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=200, blank=True)  # in English, as stored
    error_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    # Set with every status change (also by conditional UPDATEs), so a step left waiting or lost
    # by its worker can be found and resumed.
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("server drain")
        verbose_name_plural = _("server drains")

    def __str__(self) -> str:
        return f"{self.server}: {self.status}"

    @property
    def error_text(self) -> str:
        """The error in the reader's language (see PowerRequest.error_text)."""
        return error_text(self.error_ref, self.error)

    @property
    def vm_count(self) -> int:
        return len(self.vm_names)

    @property
    def confirmed(self) -> bool:
        """Drained for real: a check made since the drain finished saw the compute service disabled."""
        return (
            self.status == self.Status.DRAINED
            and self.service_enabled is False
            and self.checked_at is not None
            and self.checked_at >= self.status_changed_at
        )

    @property
    def status_label(self) -> str:
        """What the drain is, as shown: "Drained" only once a check confirmed the service disabled."""
        if self.status != self.Status.DRAINED or self.confirmed:
            return str(self.get_status_display())
        if self.service_enabled and self.checked_at is not None and self.checked_at >= self.status_changed_at:
            return str(_("Not drained: the cloud shows the compute service enabled"))
        return str(_("Compute service being disabled; not confirmed yet"))

    @property
    def moved_count(self) -> int:
        return sum(1 for m in self.moves.all() if m.status == DrainMove.Status.MOVED)

    @property
    def working(self) -> bool:
        """True while a worker still has something to do (the page keeps polling)."""
        return self.status in (
            self.Status.REQUESTED,
            self.Status.DRAINING,
            self.Status.MIGRATING,
            self.Status.UNDRAIN_REQUESTED,
            self.Status.UNDRAINING,
        )


class DrainMove(models.Model):
    """One VM a drain moves off its host by live migration: waiting -> migrating -> moved (to
    ``target_host``) or failed (could not move, ``error`` says why). The drain's worker takes one
    at a time, claiming it with a conditional UPDATE; rows are replaced by the next drain."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        MIGRATING = "migrating", _("Migrating")
        MOVED = "moved", _("Moved")
        GONE = "gone", _("Deleted meanwhile")
        FAILED = "failed", _("Could not move")

    drain = models.ForeignKey(ServerDrain, on_delete=models.CASCADE, related_name="moves")
    position = models.PositiveIntegerField(_("position"))
    server_id = models.CharField(_("cloud server id"), max_length=64)
    name = models.CharField(_("name"), max_length=255)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.WAITING)
    source_host = models.CharField(_("from host"), max_length=255)
    target_host = models.CharField(_("to host"), max_length=255, blank=True)
    # Stored untranslated with its parameters (the worker has no reader's language); see ``reason``.
    error = models.CharField(_("reason"), max_length=300, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["drain", "position"]
        verbose_name = _("VM move")
        verbose_name_plural = _("VM moves")
        constraints = [
            models.UniqueConstraint(fields=["drain", "server_id"], name="drain_move_once_per_server"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"

    @property
    def reason(self) -> str:
        """Why it could not move, in the reader's language."""
        if not self.error:
            return ""
        text = gettext(self.error)
        return text % self.error_params if self.error_params else text


class UtilizationSample(models.Model):
    """Used against capacity of one architecture or data center at one moment, summed over its compute
    hosts by the utilization selectors. Snapshots are taken every 5 minutes; inventory.history rolls
    them up into hourly and daily averages (kept a year) and drops 5-minute ones after a week."""

    class Resolution(models.TextChoices):
        FIVE_MINUTES = "5m", _("5 minutes")
        HOUR = "1h", _("1 hour")
        DAY = "1d", _("1 day")

    class Scope(models.TextChoices):
        ARCHITECTURE = "architecture", _("architecture")
        DATACENTER = "datacenter", _("data center")

    resolution = models.CharField(_("resolution"), max_length=2, choices=Resolution.choices)
    scope = models.CharField(_("scope"), max_length=16, choices=Scope.choices)
    # The architecture, or the data center's name ("" for hosts with no matching physical server).
    key = models.CharField(_("key"), max_length=100, blank=True)
    at = models.DateTimeField(_("at"))  # the start of the 5-minute or hourly bucket
    host_count = models.PositiveIntegerField(_("hosts"))
    vm_count = models.PositiveIntegerField(_("VMs"))
    vcpu_used = models.BigIntegerField()
    vcpu_capacity = models.BigIntegerField()
    memory_mb_used = models.BigIntegerField()
    memory_mb_capacity = models.BigIntegerField()
    disk_gb_used = models.BigIntegerField()
    disk_gb_capacity = models.BigIntegerField()
    # Made up by the demo loader (kennel.demo.demo_history) so a first run has history to chart; the
    # pages that show history say so. A real sample of the same bucket always replaces it.
    demo = models.BooleanField(_("demo data"), default=False, db_default=False)

    class Meta:
        ordering = ["resolution", "scope", "key", "at"]
        verbose_name = _("utilization sample")
        verbose_name_plural = _("utilization samples")
        constraints = [
            models.UniqueConstraint(
                fields=["resolution", "scope", "key", "at"], name="utilization_sample_one_per_bucket"
            )
        ]
        # Reads take a time range of one resolution and scope, all keys at once.
        indexes = [models.Index(fields=["resolution", "scope", "at"], name="utilization_sample_range")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key or '-'} {self.resolution} {self.at:%Y-%m-%d %H:%M}"
