"""VM leases: extending one, and reminding, stopping or deleting VMs whose lease ran out."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.cloud.gateway import ServerAction
from portal.models import User
from portal.origin import WORKER
from portal.queue import enqueue_now
from portal.services import audit_record
from provisioning import stored_messages as texts
from provisioning.models import VmRequest
from provisioning.services.vm_state import Status, _event, _operable, _transition


def vm_lease_reminder_email(*, vm_id: int) -> bool:
    """E-mail a VM's owner that its lease ends soon (the mail queue's task, once per reminder that
    ``vm_leases_enforce`` claimed). False, and nothing sent, when the VM is gone, no longer active or
    has no end. A mail server that is away raises OSError (the task retries)."""
    from django.core.mail import send_mail

    vm = VmRequest.objects.select_related("owner", "team").filter(pk=vm_id, status=Status.ACTIVE).first()
    if vm is None or vm.expires_at is None:
        return False
    expires = vm.expires_at
    send_mail(
        _("Your VM %(name)s expires on %(date)s") % {"name": vm.name, "date": expires.date().isoformat()},
        _(
            "Your VM %(name)s (team %(team)s) expires on %(date)s, when it will be %(action)s. "
            "Extend it at %(url)s if you still need it."
        )
        % {
            "name": vm.name,
            "team": vm.team.slug,
            "date": expires.date().isoformat(),
            "action": _("stopped") if settings.KENNEL_VM_EXPIRY_ACTION == "stop" else _("deleted"),
            "url": f"{settings.KENNEL_BASE_URL}/vms/{vm.pk}/",
        },
        None,
        [vm.owner.email],
        fail_silently=False,
    )
    return True


def vm_lease_extend(*, actor: User, vm: VmRequest, days: int, source: str) -> VmRequest:
    """Push the VM's expiry back by ``days``, to at most KENNEL_VM_LEASE_MAX_DAYS from now."""
    if days < 1:
        raise ValidationError({"days": _("Extend by at least one day.")})
    if days > settings.KENNEL_VM_LEASE_MAX_DAYS:
        # Refused before any date arithmetic: millions of days overflow Python's dates.
        raise ValidationError(
            {
                "days": _("A lease can reach at most %(max)s days from today.")
                % {"max": settings.KENNEL_VM_LEASE_MAX_DAYS}
            }
        )
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status in (Status.DELETING, Status.DELETED, Status.FAILED):
            raise ValidationError(_("Only a VM that is still alive can be extended."))
        now = timezone.now()
        limit = now + timedelta(days=settings.KENNEL_VM_LEASE_MAX_DAYS)
        wanted = max(vm.expires_at or now, now) + timedelta(days=days)
        if wanted > limit + timedelta(minutes=1):
            raise ValidationError(
                {
                    "days": _("A lease can reach at most %(max)s days from today (%(date)s).")
                    % {"max": settings.KENNEL_VM_LEASE_MAX_DAYS, "date": limit.date().isoformat()}
                }
            )
        before = vm.expires_at
        vm.expires_at = wanted
        vm.lease_reminded_at = None
        vm.save(update_fields=["expires_at", "lease_reminded_at", "updated_at"])
        _event(
            vm,
            vm.status,
            texts.LEASE_EXTENDED(user=actor.get_username(), date=wanted.date().isoformat()),
        )
        audit_record(
            actor=actor,
            action="vm.extend",
            target=vm,
            team=vm.team,
            source=source,
            detail={"from": before.isoformat() if before else None, "to": wanted.isoformat()},
        )
    return vm


LEASE_ENFORCE_GAP = timedelta(minutes=50)  # the task runs hourly


def vm_leases_enforce() -> dict[str, int]:
    """Remind owners of leases ending soon (once: each reminder is claimed on the VM's row, so two runs
    at once remind once; the mail queue sends it), and stop or delete expired VMs."""
    from provisioning.tasks import vm_lease_reminder_send

    now = timezone.now()
    soon = now + timedelta(days=settings.KENNEL_VM_LEASE_REMINDER_DAYS)
    counts = {"reminded": 0, "expired": 0}
    due = VmRequest.objects.filter(
        status=Status.ACTIVE, expires_at__gt=now, expires_at__lte=soon, lease_reminded_at__isnull=True
    )
    for vm_id in due.values_list("pk", flat=True):
        if (
            VmRequest.objects.filter(pk=vm_id, lease_reminded_at__isnull=True).update(lease_reminded_at=now)
            != 1
        ):
            continue  # another run claimed it
        enqueue_now(vm_lease_reminder_send, vm_id)
        counts["reminded"] += 1
    from provisioning.tasks import vm_action, vm_request_delete

    for vm in VmRequest.objects.filter(status=Status.ACTIVE, expires_at__lte=now).exclude(
        server_status="SHUTOFF"
    ):
        # Once per hourly run, whatever the number of copies of the run: a VM started again without
        # extending its lease is stopped again by the next hour's run, as before.
        claimed = (
            VmRequest.objects.filter(pk=vm.pk)
            .filter(Q(lease_enforced_at__isnull=True) | Q(lease_enforced_at__lt=now - LEASE_ENFORCE_GAP))
            .update(lease_enforced_at=now)
        )
        if claimed != 1:
            continue
        if settings.KENNEL_VM_EXPIRY_ACTION == "delete":
            if _transition(vm, Status.DELETING, texts.LEASE_EXPIRED_DELETING()):
                enqueue_now(vm_request_delete, vm.pk)
        else:
            _event(vm, vm.status, texts.LEASE_EXPIRED_STOPPING())
            enqueue_now(vm_action, vm.pk, ServerAction.STOP.value)
        audit_record(
            actor=None,
            action="vm.expire",
            target=vm,
            team=vm.team,
            source=WORKER,
            detail={"action": settings.KENNEL_VM_EXPIRY_ACTION},
        )
        counts["expired"] += 1
    return counts
