"""Blueprints (reviewed, versioned recipes for a team service) and the services made from them.

A ``Blueprint`` is global (``team`` empty: kept by admins) or a team's (kept by its leads). Its
``BlueprintVersion``s are numbered and never change once written: a service names the exact version its
VMs were built from. A ``Service`` is a team's deployment of a version; its ``ServiceVm`` rows link the
VMs (ordinary ``VmRequest``s, without a personal lease) with the version each was built from.

A service's ``status`` is its state machine: a change (deploying, scaling, upgrading, rolling back,
deleting) is driven a step at a time by a worker that holds the row (``claim``, ``heartbeat_at``) and
ends in ready, failed or deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from portal.models import Team
from portal.stored_messages import message_text
from portal.validators import validate_single_line, validate_text
from provisioning.models import VmRequest


class Blueprint(models.Model):
    """A named recipe for a team service. Global when ``team`` is empty."""

    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="blueprints",
        verbose_name=_("team"),
    )
    name = models.CharField(_("name"), max_length=40, validators=[validate_single_line])
    description = models.TextField(_("description"), blank=True, validators=[validate_text])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("blueprint")
        verbose_name_plural = _("blueprints")
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="blueprint_name_per_team"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(team__isnull=True), name="blueprint_name_global"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}" if self.team_id and self.team else self.name

    @property
    def latest(self) -> BlueprintVersion | None:
        return self.versions.order_by("-number").first()


class BlueprintVersion(models.Model):
    """One version of a blueprint, never changed once written: ``spec`` is the validated recipe
    (``blueprints.spec``)."""

    blueprint = models.ForeignKey(Blueprint, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    spec = models.JSONField(_("recipe"))
    note = models.CharField(_("note"), max_length=300, blank=True, validators=[validate_single_line])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["blueprint", "-number"]
        verbose_name = _("blueprint version")
        verbose_name_plural = _("blueprint versions")
        constraints = [models.UniqueConstraint(fields=["blueprint", "number"], name="one_number_per_version")]

    def __str__(self) -> str:
        return f"{self.blueprint} v{self.number}"

    @property
    def architectures(self) -> list[str]:
        return list(self.spec.get("architectures", {}))


class Service(models.Model):
    """A team's service, made from a blueprint version: its VMs, parameters and maintainers."""

    class Status(models.TextChoices):
        DEPLOYING = "deploying", _("Deploying")
        SCALING = "scaling", _("Scaling")
        UPGRADING = "upgrading", _("Upgrading")
        ROLLING_BACK = "rolling_back", _("Rolling back")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        DELETING = "deleting", _("Deleting")
        DELETED = "deleted", _("Deleted")

    BUSY = (Status.DEPLOYING, Status.SCALING, Status.UPGRADING, Status.ROLLING_BACK, Status.DELETING)

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services", verbose_name=_("team"))
    name = models.CharField(_("name"), max_length=40, validators=[validate_single_line])
    blueprint = models.ForeignKey(Blueprint, on_delete=models.PROTECT, related_name="services")
    # The version the service is (being brought) at, and the one it was at before the last upgrade
    # or rollback (what a rollback goes back to).
    version = models.ForeignKey(BlueprintVersion, on_delete=models.PROTECT, related_name="services")
    previous_version = models.ForeignKey(
        BlueprintVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    counts = models.JSONField(_("VMs per architecture"), default=dict)
    maintainers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="maintained_services",
        verbose_name=_("maintainers"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DEPLOYING, db_index=True
    )
    status_message = models.TextField(_("message"), blank=True)  # in English, as stored
    status_message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params
    # Who asked for the change under way: the worker builds and deletes its VMs on their behalf.
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed"), db_default=Now())
    # The worker's hold while it takes a step (portal.worker.claims).
    claim = models.CharField(max_length=64, blank=True, db_default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # VM names are <service>-<arch>-<n>; n only grows, so a replacement never reuses a name.
    vm_index = models.PositiveIntegerField(default=0, db_default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["team", "name", "id"]
        verbose_name = _("service")
        verbose_name_plural = _("services")
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=~models.Q(status="deleted"),
                name="one_live_service_name_per_team",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def busy(self) -> bool:
        return self.status in self.BUSY

    @property
    def vm_total(self) -> int:
        return sum(self.counts.values())

    @property
    def status_message_text(self) -> str:
        """The status line in the reader's language (``portal.stored_messages``)."""
        return message_text(self.status_message_ref, self.status_message)


class ServiceVm(models.Model):
    """One VM of a service and the blueprint version it was built from."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="members")
    vm = models.OneToOneField(VmRequest, on_delete=models.PROTECT, related_name="service_member")
    version = models.ForeignKey(BlueprintVersion, on_delete=models.PROTECT, related_name="+")
    architecture = models.CharField(_("architecture"), max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["architecture", "id"]

    def __str__(self) -> str:
        return f"{self.service}: {self.vm_id}"


class ServiceEvent(models.Model):
    """One step of a service's history, as its page shows it (the audit log has the same steps)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Service.Status.choices)
    message = models.TextField()  # in English, as stored
    message_ref = models.JSONField(null=True, blank=True)  # portal.stored_messages: id and params

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.status}: {self.message}"

    @property
    def text(self) -> str:
        """The message in the reader's language."""
        return message_text(self.message_ref, self.message)
