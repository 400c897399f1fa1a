from django.db import models
from django.utils.translation import gettext_lazy as _

from provisioning.models import VmRequest


class IdleVm(models.Model):
    """A VM that did almost nothing over the idle window, as the last scan found (usage.services).
    The scan removes the row when the VM is busy again, stopped or gone."""

    vm = models.OneToOneField(VmRequest, on_delete=models.CASCADE, related_name="idle_flag")
    flagged_at = models.DateTimeField(_("flagged"))
    checked_at = models.DateTimeField(_("checked"))
    cpu_percent = models.FloatField(_("CPU (%)"))
    network_bps = models.FloatField(_("network (bytes/s)"))
    window_days = models.PositiveIntegerField(_("days"))
    notified_at = models.DateTimeField(_("owner told"), null=True, blank=True)

    class Meta:
        verbose_name = _("idle VM")
        verbose_name_plural = _("idle VMs")
        ordering = ["vm__team__slug", "vm__name"]

    def __str__(self) -> str:
        return f"{self.vm} idle since {self.flagged_at:%Y-%m-%d}"
