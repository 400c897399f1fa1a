"""Floating IPs owned properly: Neutron's floating IPs mirrored (every project's, in one listing), what
each is attached to, and their release: by a team lead for an unused one (a worker does it), and with
the VM Kennel gave it to when that VM is deleted.

Pages and the API read the mirror (``CloudFloatingIp``), refreshed by a worker every minute and after
each release, so no request waits on the cloud. What a team's quota counts as used is Neutron's own
count (``quotas``), read again for the team right after each release.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from portal.access import Action, restrict
from portal.cloud import cloud
from portal.cloud.gateway import CloudError, CloudGateway, CloudNotFound, CloudUnavailable
from portal.hooks import hooks_run
from portal.models import AuditEvent, Team, User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record
from portal.worker import claim
from provisioning import stored_messages as texts
from provisioning.hooks import ProvisioningEvent
from provisioning.models import CloudFloatingIp, CloudSync, UnmanagedServer, VmEvent, VmRequest

logger = logging.getLogger(__name__)

SYNC_PART = "floating_ips"
RELEASE_STALE_AFTER = timedelta(minutes=5)
# Stored untranslated (the worker has no reader's language); translated when shown.
WAITING_FOR_CLOUD = gettext_noop(
    "Waiting for the cloud, which cannot be reached right now; Kennel retries by itself."
)
ATTACHED_MEANWHILE = gettext_noop("It was attached to a server meanwhile, so it was kept.")


# --- reads ----------------------------------------------------------------------------------------------


def floating_ip_list(*, user: User | object, team: Team | None = None) -> QuerySet[CloudFloatingIp]:
    """The floating IPs ``user`` may see (their teams'; every project's for managers and admins)."""
    queryset = CloudFloatingIp.objects.select_related("team", "vm")
    if team is not None:
        queryset = queryset.filter(team=team)
    return restrict(user, queryset)


def floating_ip_may_release(*, user: User | object, fip: CloudFloatingIp) -> bool:
    """May ``user`` release ``fip`` now? (The service checks again.)"""
    return (
        fip.unused
        and fip.release not in (CloudFloatingIp.Release.REQUESTED, CloudFloatingIp.Release.RELEASING)
        and restrict(user, CloudFloatingIp.objects.filter(pk=fip.pk), Action.OPERATE).exists()
    )


def floating_ips_synced_at():
    """When the mirror was last refreshed (None: never); pages show its age."""
    sync = CloudSync.objects.filter(part=SYNC_PART).first()
    return sync.succeeded_at if sync else None


# --- the mirror -----------------------------------------------------------------------------------------


def floating_ips_refresh() -> int:
    """Worker side (every minute): mirror every project's floating IPs from one Neutron listing, with
    the team, VM or server each belongs to; then restart releases whose worker was lost. Records the
    outcome in CloudSync (a failure keeps the last mirror; pages show its age). Raises CloudError."""
    now = timezone.now()
    CloudSync.objects.update_or_create(part=SYNC_PART, defaults={"attempted_at": now})
    try:
        ips = cloud().list_floating_ips()
    except CloudError as error:
        CloudSync.objects.filter(part=SYNC_PART).update(error=str(error)[:2000])
        raise
    teams = dict(Team.objects.exclude(openstack_project_id="").values_list("openstack_project_id", "pk"))
    server_ids = [ip.server_id for ip in ips if ip.server_id]
    vms = dict(
        VmRequest.objects.filter(server_id__in=server_ids)
        .exclude(status=VmRequest.Status.DELETED)
        .values_list("server_id", "pk")
    )
    others = dict(UnmanagedServer.objects.filter(server_id__in=server_ids).values_list("server_id", "name"))
    with transaction.atomic():
        for ip in ips:
            CloudFloatingIp.objects.update_or_create(
                cloud_id=ip.id,
                defaults={
                    "address": ip.address,
                    "project_id": ip.project_id,
                    "team_id": teams.get(ip.project_id),
                    "port_id": ip.port_id or "",
                    "server_id": ip.server_id or "",
                    "vm_id": vms.get(ip.server_id or ""),
                    "server_name": others.get(ip.server_id or "", ""),
                    "seen_at": now,
                },
            )
        CloudFloatingIp.objects.exclude(cloud_id__in=[ip.id for ip in ips]).delete()
        CloudSync.objects.filter(part=SYNC_PART).update(succeeded_at=now, error="")
    floating_ip_releases_resume()
    return len(ips)


# --- release by a team lead -----------------------------------------------------------------------------


def floating_ip_release_request(
    *, actor: User, fip: CloudFloatingIp, source: str = SYSTEM
) -> CloudFloatingIp:
    """A team lead (or an admin) asks to release an unused floating IP of the team's project; a worker
    does it. Raises PermissionDenied (not a lead of its team) or ValidationError (attached to a server,
    or already being released)."""
    with transaction.atomic():
        locked = (
            restrict(actor, CloudFloatingIp.objects.select_for_update(of=("self",)), Action.OPERATE)
            .select_related("team")
            .filter(pk=fip.pk)
            .first()
        )
        if locked is None:
            raise PermissionDenied
        if not locked.unused:
            raise ValidationError(
                _("%(address)s is attached to a server; detach it from the VM (or delete the VM) first.")
                % {"address": locked.address}
            )
        if locked.release in (CloudFloatingIp.Release.REQUESTED, CloudFloatingIp.Release.RELEASING):
            raise ValidationError(_("%(address)s is already being released.") % {"address": locked.address})
        locked.release, locked.release_requested_by = CloudFloatingIp.Release.REQUESTED, actor
        locked.release_changed_at, locked.release_error = timezone.now(), ""
        locked.save(update_fields=["release", "release_requested_by", "release_changed_at", "release_error"])
        audit_record(
            actor=actor,
            action="floating_ip.release",
            target=locked,
            team=locked.team,
            source=source,
            detail={"address": locked.address, "project_id": locked.project_id},
        )
        _enqueue_release(locked.pk)
    return locked


def _enqueue_release(fip_pk: int) -> None:
    from provisioning.tasks import floating_ip_release

    enqueue(floating_ip_release, fip_pk)


def floating_ip_release_advance(*, fip_pk: int) -> CloudFloatingIp | None:
    """Worker side: release the address if it is still unused (Neutron asked again first: something
    may have attached it since the lead looked). Claimed with a conditional UPDATE, so a duplicated
    task does nothing. An outage puts the request back (``CloudUnavailable`` raised for the task to
    retry); any other refusal lands on the row. Returns the row (None when released or gone)."""
    requested = CloudFloatingIp.objects.filter(pk=fip_pk, release=CloudFloatingIp.Release.REQUESTED)
    if not claim(requested, release=CloudFloatingIp.Release.RELEASING, release_changed_at=timezone.now()):
        return None
    fip = CloudFloatingIp.objects.select_related("team", "release_requested_by").get(pk=fip_pk)
    gateway = cloud()
    try:
        current = next(
            (f for f in gateway.list_floating_ips(project_id=fip.project_id) if f.id == fip.cloud_id), None
        )
        if current is not None and current.port_id:
            _release_failed(
                fip, ATTACHED_MEANWHILE, port_id=current.port_id, server_id=current.server_id or ""
            )
            return fip
        if current is not None:
            gateway.delete_floating_ip(fip.cloud_id)
    except CloudNotFound:
        pass  # gone already: what was asked for
    except CloudUnavailable:
        CloudFloatingIp.objects.filter(pk=fip.pk, release=CloudFloatingIp.Release.RELEASING).update(
            release=CloudFloatingIp.Release.REQUESTED,
            release_error=WAITING_FOR_CLOUD,
            release_changed_at=timezone.now(),
        )
        raise
    except CloudError as error:
        _release_failed(fip, str(error)[:300])
        return fip
    _released(fip, actor=None, detail={"requested_by": getattr(fip.release_requested_by, "username", "")})
    return None


def _release_failed(fip: CloudFloatingIp, error: str, **mirror: str) -> None:
    CloudFloatingIp.objects.filter(pk=fip.pk).update(
        release=CloudFloatingIp.Release.FAILED,
        release_error=error,
        release_changed_at=timezone.now(),
        **mirror,
    )
    audit_record(
        actor=None,
        action="floating_ip.released",
        target=fip,
        team=fip.team,
        source=WORKER,
        outcome=AuditEvent.Outcome.FAILURE,
        detail={"address": fip.address, "error": error},
    )


def _released(fip: CloudFloatingIp, *, actor: User | None, detail: dict) -> None:
    """Neutron no longer holds it: the audit entry, then the mirror forgets it."""
    audit_record(
        actor=actor,
        action="floating_ip.released",
        target=fip,
        team=fip.team,
        source=WORKER,
        detail={"address": fip.address, **detail},
    )
    VmRequest.objects.filter(floating_ip_id=fip.cloud_id).update(floating_ip=None, floating_ip_id="")
    team_id = fip.team_id
    fip.delete()
    _team_usage_refresh(team_id)


def _team_usage_refresh(team_id: int | None) -> None:
    """The team's quota page shows Neutron's count again at once (not at the next 5-minute sync): the
    quotas app's hook reads it."""
    if team_id is None:
        return
    try:
        hooks_run(ProvisioningEvent.TEAM_USAGE_CHANGED, team_ids=[team_id])
    except CloudError as error:  # the periodic sync catches up
        logger.warning("quota sync after a floating IP release failed: %s", error)


def floating_ip_releases_resume() -> list[int]:
    """Re-enqueue releases left waiting (an outage longer than the task's retries) or lost by their
    worker (put back to requested first: asking Neutron again is harmless)."""
    stale = timezone.now() - RELEASE_STALE_AFTER
    CloudFloatingIp.objects.filter(
        release=CloudFloatingIp.Release.RELEASING, release_changed_at__lt=stale
    ).update(release=CloudFloatingIp.Release.REQUESTED, release_changed_at=timezone.now())
    waiting = list(
        CloudFloatingIp.objects.filter(
            release=CloudFloatingIp.Release.REQUESTED,
            release_changed_at__lt=timezone.now() - timedelta(minutes=1),
        ).values_list("pk", flat=True)
    )
    from provisioning.tasks import floating_ip_release

    for pk in waiting:
        enqueue_now(floating_ip_release, pk)
    return waiting


# --- with the VM Kennel gave it to ----------------------------------------------------------------------


def floating_ip_release_with_vm(*, vm: VmRequest, gateway: CloudGateway) -> None:
    """Part of deleting ``vm``: release the floating IP Kennel allocated for it, and say so in the VM's
    history. Safe to repeat (the id is cleared once Neutron no longer has it). Raises CloudUnavailable
    for the delete task to retry; any other refusal is written in the history and the delete goes on
    (the team page and the orphan check then show the address)."""
    if not vm.floating_ip_id:
        return
    address = vm.floating_ip or vm.floating_ip_id
    released = True
    try:
        gateway.delete_floating_ip(vm.floating_ip_id)
    except CloudNotFound:
        pass  # gone already
    except CloudUnavailable:
        raise
    except CloudError as error:
        released = False
        message = texts.FLOATING_IP_NOT_RELEASED(ip=address, error=str(error))
    if released:
        message = texts.FLOATING_IP_ADDRESS_RELEASED(ip=address)
        CloudFloatingIp.objects.filter(cloud_id=vm.floating_ip_id).delete()
    VmRequest.objects.filter(pk=vm.pk).update(floating_ip=None, floating_ip_id="")
    VmEvent.objects.create(request=vm, status=vm.status, message=message.english(), message_ref=message.ref())
    audit_record(
        actor=None,
        action="vm.floating_ip_released",
        target=vm,
        team=vm.team,
        source=WORKER,
        outcome=AuditEvent.Outcome.SUCCESS if released else AuditEvent.Outcome.FAILURE,
        detail={"address": address, "message": message.english()},
    )
    vm.floating_ip, vm.floating_ip_id = None, ""
    if released:
        _team_usage_refresh(vm.team_id)


def floating_ip_release_after_vanish(*, vm: VmRequest) -> None:
    """The VM's server was deleted outside Kennel: the address Kennel gave it is released by a worker
    (after the commit), as a delete through Kennel would have done. Nothing to do without one."""
    if not vm.floating_ip_id:
        return
    from provisioning.tasks import vm_floating_ip_release

    vm_pk = vm.pk
    enqueue(vm_floating_ip_release, vm_pk)


def vm_floating_ip_release_run(*, vm_pk: int) -> None:
    """Worker side of ``floating_ip_release_after_vanish``; safe to repeat."""
    vm = VmRequest.objects.select_related("team").filter(pk=vm_pk).first()
    if vm is not None:
        floating_ip_release_with_vm(vm=vm, gateway=cloud())
