"""Writes: flagging idle VMs (the periodic scan), and stopping or deleting one from the reclaim list
through provisioning's own services (which check who may, audit and enqueue)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.cloud.gateway import ServerAction
from portal.models import User
from portal.services import audit_record
from provisioning.models import VmRequest
from provisioning.services import vm_action_request, vm_delete_request
from usage import queries
from usage.models import IdleVm
from usage.prometheus import PrometheusUnavailable, prometheus
from usage.selectors import _by_figure


class MetricsNotConfigured(Exception):
    """KENNEL_PROMETHEUS_URL is not set: there is nothing to scan."""


@dataclass(frozen=True)
class IdleScan:
    flagged: int  # newly flagged
    still_idle: int
    cleared: int  # flags removed: busy again, stopped or gone
    notified: int


def idle_vm_scan(
    *, now: datetime | None = None, window: timedelta | None = None, at: float | None = None
) -> IdleScan:
    """Flag the active VMs that, over ``window`` (KENNEL_IDLE_DAYS), kept their vCPUs busy less than
    KENNEL_IDLE_CPU_PERCENT on average and moved fewer than KENNEL_IDLE_NETWORK_BYTES a second; unflag
    the others. Only VMs older than the window are judged. Each newly flagged VM's owner gets one mail.
    One PromQL query. Raises MetricsNotConfigured, PrometheusUnavailable, PrometheusQueryError: then
    nothing changes."""
    client = prometheus()
    if client is None:
        raise MetricsNotConfigured
    now = now or timezone.now()
    window = window or timedelta(days=settings.KENNEL_IDLE_DAYS)
    seconds = max(int(window.total_seconds()), 1)
    figures = _by_figure(
        client.query(queries.idle_figures(window_seconds=seconds), at=at), queries.vm_label()
    )
    cpu_limit = settings.KENNEL_IDLE_CPU_PERCENT / 100
    net_limit = float(settings.KENNEL_IDLE_NETWORK_BYTES)
    candidates = VmRequest.objects.filter(
        status=VmRequest.Status.ACTIVE, created_at__lte=now - window
    ).exclude(server_id="")
    idle: dict[int, tuple[float, float]] = {}
    for pk, server_id in candidates.values_list("pk", "server_id"):
        found = figures.get(server_id, {})
        cpu, net = found.get("cpu", math.nan), found.get("network", math.nan)
        if not (math.isnan(cpu) or math.isnan(net)) and cpu < cpu_limit and net < net_limit:
            idle[pk] = (round(cpu * 100, 2), round(net, 1))
    days = max(1, round(window.total_seconds() / 86400))
    with transaction.atomic():
        cleared, _n = IdleVm.objects.exclude(vm_id__in=idle).delete()
        existing = set(IdleVm.objects.filter(vm_id__in=idle).values_list("vm_id", flat=True))
        for pk, (cpu, net) in idle.items():
            if pk in existing:
                IdleVm.objects.filter(vm_id=pk).update(
                    checked_at=now, cpu_percent=cpu, network_bps=net, window_days=days
                )
            else:
                IdleVm.objects.create(
                    vm_id=pk,
                    flagged_at=now,
                    checked_at=now,
                    cpu_percent=cpu,
                    network_bps=net,
                    window_days=days,
                )
    notified = 0
    for flag in IdleVm.objects.filter(notified_at__isnull=True).select_related("vm__owner", "vm__team"):
        _tell_owner(flag)
        IdleVm.objects.filter(pk=flag.pk).update(notified_at=now)
        audit_record(
            actor=None,
            action="vm.idle_flagged",
            target=flag.vm,
            team=flag.vm.team,
            detail={
                "cpu_percent": flag.cpu_percent,
                "network_bps": flag.network_bps,
                "days": flag.window_days,
            },
        )
        notified += 1
    return IdleScan(
        flagged=len(set(idle) - existing), still_idle=len(existing), cleared=cleared, notified=notified
    )


def _tell_owner(flag: IdleVm) -> None:
    vm = flag.vm
    if not vm.owner.email:
        return
    send_mail(
        _("Your VM %(name)s has been idle for %(days)s days") % {"name": vm.name, "days": flag.window_days},
        _(
            "Your VM %(name)s (team %(team)s) used %(cpu).1f%% of its vCPUs and %(net).0f bytes/s of "
            "network on average over the last %(days)s days. If nobody needs it, stop or delete it at "
            "%(url)s so that its vCPUs and memory go to someone who does."
        )
        % {
            "name": vm.name,
            "team": vm.team.slug,
            "cpu": flag.cpu_percent,
            "net": flag.network_bps,
            "days": flag.window_days,
            "url": f"{settings.KENNEL_BASE_URL}/vms/{vm.pk}/",
        },
        None,
        [vm.owner.email],
        fail_silently=False,
    )


def idle_vm_reclaim(*, actor: User, flag: IdleVm, action: str, source: str) -> VmRequest:
    """Stop (``stop``) or delete (``delete``) a flagged VM through provisioning's services, which refuse
    whoever may not (the owner, the team's leads and admins may) and audit it."""
    if action == "stop":
        return vm_action_request(actor=actor, vm=flag.vm, action=ServerAction.STOP, source=source)
    if action == "delete":
        return vm_delete_request(actor=actor, vm=flag.vm, source=source)
    raise ValueError(f"unknown reclaim action {action!r}")


__all__ = ["IdleScan", "MetricsNotConfigured", "PrometheusUnavailable", "idle_vm_reclaim", "idle_vm_scan"]
