"""Team quotas: the limits in force, requests to change them, and the admins' rules.

A team's usage is never stored as a counter: selectors count the team's VMs (and the servers the cloud
has in its project) when asked, so usage cannot drift. ``TeamQuota`` holds the limits; for
cloud-backed dimensions it mirrors what the cloud reports, refreshed by workers.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from portal.models import Team
from portal.validators import validate_text
from quotas.dimensions import dimension


def _validate_key(key: str) -> None:
    try:
        dimension(key)
    except ValueError:
        raise ValidationError(_("%(key)s is not a quota dimension.") % {"key": key}) from None


class TeamQuota(models.Model):
    """The limit in force for one dimension of a team's quota (``None``: unlimited). For a
    cloud-backed dimension it is the cloud's value as last read, with the cloud's own usage count."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="quotas")
    key = models.CharField(_("dimension"), max_length=32, validators=[_validate_key])
    limit = models.BigIntegerField(_("limit"), null=True, blank=True)
    cloud_used = models.BigIntegerField(_("used, as the cloud counts it"), null=True, blank=True)
    synced_at = models.DateTimeField(_("read from the cloud at"), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "key"], name="one_limit_per_team_dimension")]
        verbose_name = _("team quota")
        verbose_name_plural = _("team quotas")

    def __str__(self) -> str:
        return f"{self.team}: {self.key}={self.limit}"


class QuotaPolicy(models.Model):
    """Portal-wide quota settings (one row)."""

    members_may_request = models.BooleanField(
        _("any team member may request quota"),
        default=False,
        help_text=_("Otherwise only the team's leads may."),
    )

    class Meta:
        verbose_name = _("quota policy")

    def __str__(self) -> str:
        return "quota policy"


class QuotaRule(models.Model):
    """An admin's rule for one dimension: a ceiling no request may exceed, and the size of an increase
    that is approved at once (at most once per ``auto_approve_days`` per team)."""

    key = models.CharField(_("dimension"), max_length=32, unique=True, validators=[_validate_key])
    ceiling = models.BigIntegerField(_("ceiling"), null=True, blank=True)
    auto_approve_increase = models.PositiveIntegerField(_("approve increases up to"), default=0)
    auto_approve_days = models.PositiveIntegerField(_("once per (days)"), default=30)

    class Meta:
        verbose_name = _("quota rule")
        verbose_name_plural = _("quota rules")

    def __str__(self) -> str:
        return self.key


class QuotaRequest(models.Model):
    """A request for new limits: pending → approved → applying → applied / failed; rejected;
    cancelled. An admin may ask for more information (info_requested), which the requester answers.

    ``values`` are what was asked, ``approved_values`` what an admin approved (possibly edited), and
    ``results`` what each service did with them, so a retry skips what is already applied."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        INFO_REQUESTED = "info_requested", _("Needs information")
        APPROVED = "approved", _("Approved")
        APPLYING = "applying", _("Applying")
        APPLIED = "applied", _("Applied")
        FAILED = "failed", _("Failed")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN = (Status.PENDING, Status.INFO_REQUESTED, Status.APPROVED, Status.APPLYING, Status.FAILED)
    UNDECIDED = (Status.PENDING, Status.INFO_REQUESTED)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="quota_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quota_requests"
    )
    reason = models.TextField(_("reason"), validators=[validate_text])
    values = models.JSONField(_("requested values"))
    previous = models.JSONField(_("limits when requested"), default=dict)
    approved_values = models.JSONField(_("approved values"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    auto_approved = models.BooleanField(_("approved automatically"), default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_comment = models.TextField(_("comment"), blank=True, validators=[validate_text])
    results = models.JSONField(_("results per service"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Applying is serialized per team: two approvals cannot interleave their writes.
            models.UniqueConstraint(
                fields=["team"], condition=Q(status="applying"), name="one_quota_apply_per_team"
            )
        ]
        verbose_name = _("quota request")
        verbose_name_plural = _("quota requests")

    def __str__(self) -> str:
        return f"#{self.pk} {self.team}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN

    @property
    def effective_values(self) -> dict[str, int]:
        """What will be (or was) applied: the approved values once decided, else what was asked."""
        return self.approved_values or self.values


class QuotaRequestEvent(models.Model):
    """One step in a quota request's history: who did what, and what they said."""

    request = models.ForeignKey(QuotaRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=QuotaRequest.Status.choices)
    message = models.TextField()  # untranslated, with %(name)s placeholders
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.status}: {self.text}"

    @property
    def text(self) -> str:
        """The message in the reader's language."""
        return gettext(self.message) % self.params if self.params else gettext(self.message)


class TeamUsageSample(models.Model):
    """A team's usage at one moment (hourly), for the history an admin sees when deciding."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(db_index=True)
    used = models.JSONField()  # dimension key -> used

    class Meta:
        ordering = ["at"]
        constraints = [models.UniqueConstraint(fields=["team", "at"], name="one_usage_sample_per_team_hour")]

    def __str__(self) -> str:
        return f"{self.team} @ {self.at:%Y-%m-%d %H:%M}"
