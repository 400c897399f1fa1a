"""A team service's life: deploying a blueprint version, scaling, upgrading VM by VM, rolling back and
deleting; and the worker's steps that carry each change out, resumable after a worker or cloud outage.

The web side (``service_*``) checks, changes the row and, for new VMs it can create at once (a deploy,
a scale-up), submits them through provisioning's VM request path inside the same transaction: the
team's quota check (the ``VM_ADMIT`` hook) sees them all, so a service that would not fit is refused
before anything is built. The worker (``service_advance``, one step per call while it holds the row)
compares the VMs with what the service should have and does the one next thing:

* wait while a VM is queued, building or being deleted (provisioning's own tasks do that work);
* a VM that failed: delete it and fail the change, with the VM's reason;
* per architecture, with the target version: when a VM of another version is beside a full set, delete
  it (the new one is active); too many VMs: delete the surplus; too few: create them, or only one while
  VMs of another version remain (an upgrade replaces one VM at a time, the new one active first);
* nothing left to do: the service is ready (or deleted).

Every step is written to the service's history and the audit log. Each step looks at stored state
before it acts, so a step run twice (a duplicated task, a resumed one) does its work once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from blueprints import stored_messages as texts
from blueprints.models import BlueprintVersion, Service, ServiceEvent, ServiceVm
from blueprints.rendering import user_data_render, vm_hostname
from blueprints.spec import parameters_clean
from portal.access import Action, restrict
from portal.failpoints import failpoint
from portal.hooks import hooks_run
from portal.models import Membership, Team, User
from portal.origin import WORKER
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record
from portal.stored_messages import StoredMessage, message_from_ref
from portal.worker import LostClaim, claim_keep, claim_release, claim_take, claims_abandoned
from provisioning import stored_messages as vm_texts
from provisioning.hooks import ProvisioningEvent
from provisioning.models import CloudFlavor, CloudImage, VmRequest
from provisioning.services import HOSTNAME, vm_request_submit, vm_retire

Status = Service.Status
VmStatus = VmRequest.Status
SERVICE_MAX_VMS = 50  # per service, all architectures
IN_FLIGHT = (VmStatus.QUEUED, VmStatus.BUILDING, VmStatus.DELETING)


# --- the web's side -------------------------------------------------------------------------------------


def _event(service: Service, message: StoredMessage) -> None:
    """A step in the service's history: its catalogue id and parameters, shown in the reader's
    language, and its English text (what the audit reads)."""
    ServiceEvent.objects.create(
        service=service, status=service.status, message=message.english(), message_ref=message.ref()
    )


def _lead_or_admin(actor: User, team: Team) -> bool:
    return restrict(actor, Team.objects.filter(pk=team.pk), Action.CHANGE).exists() or (
        Membership.objects.filter(team=team, user=actor, level=Membership.Level.LEAD).exists()
        and actor.is_active
    )


def _locked(actor: User, service: Service, action: Action) -> Service:
    """The service locked for update if ``actor`` may do ``action`` on it; PermissionDenied otherwise."""
    found = (
        restrict(actor, Service.objects.select_for_update(of=("self",)), action)
        .filter(pk=service.pk)
        .select_related("team", "version", "blueprint")
        .first()
    )
    if found is None:
        raise PermissionDenied
    return found


def _counts_clean(version: BlueprintVersion, counts: Any) -> dict[str, int]:
    if not isinstance(counts, dict):
        raise ValidationError({"counts": _("Give how many VMs per architecture.")})
    clean: dict[str, int] = {}
    for arch, count in counts.items():
        if arch not in version.architectures:
            raise ValidationError(
                {
                    "counts": _("Version %(n)s of this blueprint does not run on %(arch)s.")
                    % {"n": version.number, "arch": str(arch)[:20]}
                }
            )
        if isinstance(count, str) and count.strip().isdigit():
            count = int(count)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationError({"counts": _("Give a whole number of VMs, 0 or more.")})
        if count:
            clean[arch] = count
    total = sum(clean.values())
    if total < 1:
        raise ValidationError({"counts": _("A service needs at least one VM.")})
    if total > SERVICE_MAX_VMS:
        raise ValidationError({"counts": _("A service has at most %(max)s VMs.") % {"max": SERVICE_MAX_VMS}})
    return clean


def _catalog(version: BlueprintVersion, arch: str) -> tuple[CloudImage, CloudFlavor]:
    """The image and flavor the version names for ``arch``, as the mirror has them."""
    entry = version.spec["architectures"][arch]
    image = CloudImage.objects.filter(name=entry["image"], architecture=arch, status="active").first()
    flavor = CloudFlavor.objects.filter(name=entry["flavor"]).first()
    if image is None:
        raise ValidationError(
            {
                "counts": _("The cloud has no active %(arch)s image %(image)s.")
                % {"arch": arch, "image": entry["image"]}
            }
        )
    if flavor is None:
        raise ValidationError(
            {"counts": _("The cloud has no flavor %(flavor)s.") % {"flavor": entry["flavor"]}}
        )
    return image, flavor


def _vm_add(*, service: Service, actor: User, arch: str, version: BlueprintVersion, source: str) -> ServiceVm:
    """Submit one VM of the service through provisioning's VM request path (its checks, the team's
    quota, no personal lease). Call inside the transaction that holds the service row."""
    Service.objects.filter(pk=service.pk).update(vm_index=F("vm_index") + 1)
    index = Service.objects.values_list("vm_index", flat=True).get(pk=service.pk)
    name = vm_hostname(service.name, arch, index)
    image, flavor = _catalog(version, arch)
    values = parameters_clean(version.spec, service.parameters)
    user_data = user_data_render(version.spec, architecture=arch, hostname=name, values=values)
    vm = vm_request_submit(
        actor=actor,
        team=service.team,
        name=name,
        image=image,
        flavor=flavor,
        source=source,
        user_data=user_data,
        lease=False,
    )
    return ServiceVm.objects.create(service=service, vm=vm, version=version, architecture=arch)


def _vms_add(
    *, service: Service, actor: User, version: BlueprintVersion, counts: Mapping[str, int], source: str
) -> None:
    """Several VMs at once; a refusal of any (the quota, no room) refuses them all."""
    try:
        for arch, count in counts.items():
            for _n in range(count):
                _vm_add(service=service, actor=actor, arch=arch, version=version, source=source)
    except ValidationError as error:
        raise ValidationError({"counts": error.messages}) from error


def _enqueue(service_id: int) -> None:
    from blueprints.tasks import service_advance as task

    enqueue(task, service_id)


def service_deploy(
    *,
    actor: User,
    team: Team,
    version: BlueprintVersion,
    name: str,
    parameters: Mapping[str, Any],
    counts: Mapping[str, int],
    maintainers: Sequence[User] = (),
    source: str,
) -> Service:
    """Deploy ``version`` as the team's service ``name``: every VM is submitted here, in one
    transaction, so the team's quota is checked for all of them and a service that would not fit is
    refused (ValidationError) with nothing built. Leads and admins deploy; the blueprint must be
    global or the team's; maintainers must be the team's members."""
    if not _lead_or_admin(actor, team):
        raise PermissionDenied
    if not restrict(actor, BlueprintVersion.objects.filter(pk=version.pk)).exists() or (
        version.blueprint.team_id not in (None, team.pk)
    ):
        raise PermissionDenied
    name = name.strip().lower()
    if not HOSTNAME.match(name) or len(name) > 40:
        raise ValidationError(
            {
                "name": _(
                    "Use 1 to 40 lowercase letters, digits and hyphens, not starting or ending with a hyphen."
                )
            }
        )
    clean_counts = _counts_clean(version, dict(counts))
    values = parameters_clean(version.spec, dict(parameters))
    members = list(maintainers)
    outsiders = [
        u.get_username() for u in members if not Membership.objects.filter(team=team, user=u).exists()
    ]
    if outsiders:
        raise ValidationError(
            {
                "maintainers": _("Maintainers must be members of the team: %(names)s.")
                % {"names": ", ".join(outsiders)}
            }
        )
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()
        if Service.objects.filter(team=team, name=name).exclude(status=Status.DELETED).exists():
            raise ValidationError(
                {"name": _("Your team already has a service named %(name)s.") % {"name": name}}
            )
        service = Service(
            team=team,
            name=name,
            blueprint=version.blueprint,
            version=version,
            parameters=values,
            counts=clean_counts,
            status=Status.DEPLOYING,
            changed_by=actor,
            changed_at=timezone.now(),
            created_by=actor,
        )
        service.full_clean()
        service.save()
        service.maintainers.set(members)
        _vms_add(service=service, actor=actor, version=version, counts=clean_counts, source=source)
        _event(
            service,
            texts.DEPLOYED(
                user=actor.get_username(), version=str(version), counts=_counts_text(clean_counts)
            ),
        )
        audit_record(
            actor=actor,
            action="service.deploy",
            target=service,
            team=team,
            source=source,
            detail={"version": str(version), "counts": clean_counts, "parameters": values},
        )
        _enqueue(service.pk)
    return service


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} x {arch}" for arch, n in sorted(counts.items())) or "0"


def _start(service: Service, actor: User, status: str, message: StoredMessage, **fields: Any) -> None:
    """Begin a change: the row moves to ``status`` for the worker (which holds nothing yet)."""
    for key, value in fields.items():
        setattr(service, key, value)
    service.status = status
    service.status_message = ""
    service.changed_by = actor
    service.changed_at = timezone.now()
    service.save(
        update_fields=["status", "status_message", "changed_by", "changed_at", "updated_at", *fields]
    )
    _event(service, message)


def _idle(service: Service) -> None:
    if service.busy:
        raise ValidationError(
            _("%(name)s is %(status)s; wait until that is finished.")
            % {"name": service.name, "status": service.get_status_display().lower()}
        )
    if service.status == Status.DELETED:
        raise ValidationError(_("%(name)s is deleted.") % {"name": service.name})


def service_scale(*, actor: User, service: Service, counts: Mapping[str, int], source: str) -> Service:
    """Change how many VMs of each architecture the service has. New VMs are submitted here (the quota
    refuses all of them or none); the worker deletes the surplus. Admins, leads and maintainers."""
    with transaction.atomic():
        service = _locked(actor, service, Action.OPERATE)
        _idle(service)
        clean = _counts_clean(service.version, dict(counts))
        live = _live_counts(service)
        more = {arch: clean.get(arch, 0) - live.get(arch, 0) for arch in clean}
        _start(
            service,
            actor,
            Status.SCALING,
            texts.SCALE_ASKED(user=actor.get_username(), counts=_counts_text(clean)),
            counts=clean,
        )
        _vms_add(
            service=service,
            actor=actor,
            version=service.version,
            counts={arch: n for arch, n in more.items() if n > 0},
            source=source,
        )
        audit_record(
            actor=actor,
            action="service.scale",
            target=service,
            team=service.team,
            source=source,
            detail={"counts": clean},
        )
        _enqueue(service.pk)
    return service


def _live_counts(service: Service) -> dict[str, int]:
    counts: dict[str, int] = {}
    for member in service.members.select_related("vm").exclude(
        vm__status__in=[VmStatus.DELETED, VmStatus.DELETING]
    ):
        counts[member.architecture] = counts.get(member.architecture, 0) + 1
    return counts


def _room_refusal(service: Service, version: BlueprintVersion) -> str | None:
    """Why the team's quota has no room for the one extra VM per architecture a rolling replacement
    builds before it deletes, or None (the ``VM_ROOM`` hooks, as the request form counts)."""
    for arch in service.counts:
        _image, flavor = _catalog(version, arch)
        answers = hooks_run(
            ProvisioningEvent.VM_ROOM,
            team=service.team,
            architecture=arch,
            sizes=[(flavor.vcpus, flavor.ram_mb, flavor.disk_gb)],
        )
        if any(answer and answer[0] is not None and answer[0] < 1 for answer in answers):
            return _(
                "The team's quota has no room for one more %(arch)s %(flavor)s VM, which replacing VMs one "
                "at a time needs. Ask for more quota or scale the service down first."
            ) % {"arch": arch, "flavor": flavor.name}
    return None


def _change_version(
    *, actor: User, service: Service, version: BlueprintVersion, status: str, action: str, source: str
) -> Service:
    if version.blueprint_id != service.blueprint_id:
        raise ValidationError({"version": _("That version is of another blueprint.")})
    if version.pk == service.version_id:
        raise ValidationError(
            {"version": _("The service is at version %(n)s already.") % {"n": version.number}}
        )
    missing = [arch for arch in service.counts if arch not in version.architectures]
    if missing:
        raise ValidationError(
            {
                "version": _("Version %(n)s does not run on %(archs)s.")
                % {"n": version.number, "archs": ", ".join(missing)}
            }
        )
    try:
        values = parameters_clean(version.spec, _kept_parameters(version, service.parameters))
    except ValidationError as error:
        raise ValidationError(
            {"version": [f"{k}: {' '.join(v)}" for k, v in error.message_dict.items()]}
        ) from error
    for arch in service.counts:
        _catalog(version, arch)
    if refusal := _room_refusal(service, version):
        raise ValidationError({"version": refusal})
    before = service.version
    _start(
        service,
        actor,
        status,
        texts.VERSION_ASKED(user=actor.get_username(), old=str(before), new=str(version)),
        version=version,
        previous_version=before,
        parameters=values,
    )
    audit_record(
        actor=actor,
        action=action,
        target=service,
        team=service.team,
        source=source,
        detail={"from": str(before), "to": str(version)},
    )
    _enqueue(service.pk)
    return service


def _kept_parameters(version: BlueprintVersion, values: Mapping[str, Any]) -> dict[str, Any]:
    """The service's values for the parameters the version still has (a new one takes its default)."""
    names = {entry["name"] for entry in version.spec.get("parameters", [])}
    return {name: value for name, value in values.items() if name in names}


def service_upgrade(*, actor: User, service: Service, version: BlueprintVersion, source: str) -> Service:
    """Bring the service to another version of its blueprint, one VM at a time (each new VM active before
    an old one is deleted). Refused while another change runs, or when the quota has no room for the one
    extra VM. Admins, leads and maintainers."""
    with transaction.atomic():
        service = _locked(actor, service, Action.OPERATE)
        _idle(service)
        if not restrict(actor, BlueprintVersion.objects.filter(pk=version.pk)).exists():
            raise PermissionDenied
        return _change_version(
            actor=actor,
            service=service,
            version=version,
            status=Status.UPGRADING,
            action="service.upgrade",
            source=source,
        )


def service_rollback(*, actor: User, service: Service, source: str) -> Service:
    """Go back to the version the service was at before its last upgrade, the same way (one VM at a
    time). Refused when there is none. It may also end a failed upgrade."""
    with transaction.atomic():
        service = _locked(actor, service, Action.OPERATE)
        _idle(service)
        if service.previous_version is None:
            raise ValidationError({"version": _("There is no previous version to go back to.")})
        return _change_version(
            actor=actor,
            service=service,
            version=service.previous_version,
            status=Status.ROLLING_BACK,
            action="service.rollback",
            source=source,
        )


def service_retry(*, actor: User, service: Service, source: str) -> Service:
    """Carry on with a failed service: the worker brings it to what it should be (its version and counts)."""
    with transaction.atomic():
        service = _locked(actor, service, Action.OPERATE)
        if service.status != Status.FAILED:
            raise ValidationError(_("Only a failed service is retried."))
        _start(service, actor, Status.SCALING, texts.RETRY_ASKED(user=actor.get_username()))
        audit_record(actor=actor, action="service.retry", target=service, team=service.team, source=source)
        _enqueue(service.pk)
    return service


def service_delete(*, actor: User, service: Service, source: str) -> Service:
    """Delete the service and all its VMs (the worker deletes them). Admins and the team's leads."""
    with transaction.atomic():
        service = _locked(actor, service, Action.DELETE)
        if service.status in (Status.DELETING, Status.DELETED):
            return service
        _start(
            service,
            actor,
            Status.DELETING,
            texts.DELETE_ASKED(user=actor.get_username()),
        )
        audit_record(actor=actor, action="service.delete", target=service, team=service.team, source=source)
        _enqueue(service.pk)
    return service


# --- the worker's side ----------------------------------------------------------------------------------


def service_advance(*, service_id: int) -> bool:
    """Take one step of the service's change while holding its row. True when there is nothing more to
    do (finished, failed, gone, or another worker is taking a step right now), False when the caller
    should look again shortly."""
    token = uuid.uuid4().hex
    rows = Service.objects.filter(pk=service_id, status__in=Service.BUSY)
    if not claim_take(rows, token):
        return True
    try:
        finished = _step(Service.objects.select_related("team", "version").get(pk=service_id), token)
    except LostClaim:
        return True
    # The row itself, whatever its status now (a finished change leaves the busy states).
    claim_release(Service.objects.filter(pk=service_id), token, heartbeat_at=timezone.now())
    return finished


def _keep(service: Service, token: str) -> None:
    claim_keep(Service.objects.filter(pk=service.pk), token)


def _record(service: Service, action: str, message: StoredMessage, **detail: Any) -> None:
    _event(service, message)
    audit_record(
        actor=None,
        action=action,
        target=service,
        team=service.team,
        source=WORKER,
        detail={"message": message.english(), **detail},
    )


def _finish(service: Service, token: str, status: str, message: StoredMessage, action: str) -> None:
    claim_keep(
        Service.objects.filter(pk=service.pk),
        token,
        status=status,
        status_message=message.english(),
        status_message_ref=message.ref(),
        changed_at=timezone.now(),
    )
    service.status = status
    _record(service, action, message)


def _retire(service: Service, member: ServiceVm, why: StoredMessage) -> None:
    vm_retire(vm=member.vm, reason=why, source=WORKER, actor=service.changed_by)
    _record(service, "service.vm_retire", why, vm=member.vm.name)


def _step(service: Service, token: str) -> bool:
    members = [m for m in service.members.select_related("vm", "version") if m.vm.status != VmStatus.DELETED]
    if any(m.vm.status in IN_FLIGHT for m in members):
        _keep(service, token)
        return False
    if service.status == Status.DELETING:
        if members:
            _keep(service, token)
            for member in members:
                _retire(service, member, texts.VM_DELETED_WITH(vm=member.vm.name))
            return False
        _finish(service, token, Status.DELETED, texts.DELETED(), "service.deleted")
        return True
    failed = [m for m in members if m.vm.status == VmStatus.FAILED]
    if failed:
        _keep(service, token)
        vm = failed[0].vm
        reason = texts.VM_FAILED(vm=vm.name, why=message_from_ref(vm.status_message_ref) or vm.status_message)
        for member in failed:
            _retire(service, member, texts.VM_FAILED_DELETED(vm=member.vm.name))
        _finish(service, token, Status.FAILED, reason, "service.failed")
        return True
    target = service.version
    for arch in sorted({*service.counts, *(m.architecture for m in members)}):
        want = service.counts.get(arch, 0)
        current = [m for m in members if m.architecture == arch]
        on_target = [m for m in current if m.version_id == target.pk]
        stale = [m for m in current if m.version_id != target.pk]
        if stale and len(current) > want:
            # A replacement is active (or the service shrank): one VM of the old version goes.
            _keep(service, token)
            old = stale[0]
            _retire(
                service,
                old,
                texts.VM_REPLACED(vm=old.vm.name, old=str(old.version)),
            )
            return False
        if len(on_target) > want:
            _keep(service, token)
            for member in on_target[want:]:
                _retire(
                    service,
                    member,
                    texts.VM_SCALED_DOWN(vm=member.vm.name),
                )
            return False
        if len(on_target) < want:
            _keep(service, token)
            return _create(service, arch, 1 if stale else want - len(on_target))
    _finish(
        service,
        token,
        Status.READY,
        texts.READY(counts=_counts_text(service.counts), version=str(target)),
        "service.ready",
    )
    return True


def _create(service: Service, arch: str, count: int) -> bool:
    """Submit ``count`` VMs of the target version on the actor's behalf; a refusal fails the change."""
    actor = service.changed_by or service.created_by
    try:
        if actor is None:
            raise PermissionDenied
        with transaction.atomic():
            for _n in range(count):
                member = _vm_add(
                    service=service, actor=actor, arch=arch, version=service.version, source=WORKER
                )
                _record(
                    service,
                    "service.vm_add",
                    texts.VM_BUILDING(vm=member.vm.name, version=str(service.version)),
                    vm=member.vm.name,
                )
    except (ValidationError, PermissionDenied) as error:
        if isinstance(error, ValidationError):
            message = texts.REFUSED(reason=" ".join(error.messages))
        else:
            message = texts.ACTOR_GONE(user=actor.get_username() if actor else "?")
        Service.objects.filter(pk=service.pk).update(
            status=Status.FAILED,
            status_message=message.english(),
            status_message_ref=message.ref(),
            changed_at=timezone.now(),
        )
        service.status = Status.FAILED
        _record(service, "service.failed", message)
        return True
    # Killed here, the new VM is submitted (its build was enqueued) and the service row says nothing
    # more: the resume picks the service up and the next step waits for that VM.
    failpoint("service-step-after-create")
    return False


def service_give_up(*, service_id: int, error: str) -> None:
    """Nothing to undo: the change waits where it is and ``services_resume`` picks it up again."""
    message = texts.WAITING_FOR_CLOUD(e=error[:300])
    Service.objects.filter(pk=service_id, status__in=Service.BUSY).update(
        status_message=message.english(), status_message_ref=message.ref()
    )


def services_resume() -> list[int]:
    """Enqueue the changes no live worker drives (no step for KENNEL_STALE_WORK_SECONDS, or never
    started for a while): after a worker was killed or its task lost. Returns their ids."""
    from blueprints.tasks import service_advance as task

    ids = list(
        claims_abandoned(
            Service.objects.filter(status__in=Service.BUSY), waiting_since="changed_at"
        ).values_list("pk", flat=True)
    )
    for service_id in ids:
        enqueue_now(task, service_id)
    return ids


def services_repair() -> list[int]:
    """Ready services that lost a VM outside Kennel (the reconcile found the server gone) and now have
    fewer than they should: each goes back to scaling, and the worker builds the replacement on the
    service's version through the normal path (quota and all). Returns their ids."""
    vanished = ServiceVm.objects.filter(
        service=OuterRef("pk"), vm__status=VmStatus.DELETED, vm__status_message_ref__id=vm_texts.VANISHED.id
    )
    repaired = []
    for service in Service.objects.filter(status=Status.READY).filter(Exists(vanished)):
        with transaction.atomic():
            service = Service.objects.select_for_update().get(pk=service.pk)
            live = _live_counts(service)
            if service.status != Status.READY or all(live.get(a, 0) >= n for a, n in service.counts.items()):
                continue
            gone = (
                service.members.filter(
                    vm__status=VmStatus.DELETED, vm__status_message_ref__id=vm_texts.VANISHED.id
                )
                .select_related("vm")
                .order_by("-vm__updated_at")
                .first()
            )
            message = texts.VM_VANISHED(vm=gone.vm.name if gone else "?")
            Service.objects.filter(pk=service.pk).update(
                status=Status.SCALING,
                status_message=message.english(),
                status_message_ref=message.ref(),
                changed_at=timezone.now(),
            )
            service.status = Status.SCALING
            _record(service, "service.repair", message)
            _enqueue(service.pk)
        repaired.append(service.pk)
    return repaired
