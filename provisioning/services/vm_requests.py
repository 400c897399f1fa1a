"""Requesting a VM (checks, quota, user-data) and building it, step by step, in a worker; resuming
builds a worker left."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.access import Action, restrict
from portal.cloud import cloud
from portal.cloud.gateway import CloudNotFound, CloudRequestError, QuotaExceeded
from portal.failpoints import failpoint
from portal.hooks import hooks_run
from portal.models import Team, User
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record
from portal.worker import claim, stale_before
from provisioning import cloudinit
from provisioning import stored_messages as texts
from provisioning.hooks import ProvisioningEvent
from provisioning.models import CloudFlavor, CloudImage, CloudNetwork, Profile, VmRequest
from provisioning.selectors import host_fit_count
from provisioning.services.mirror import _mirror_network
from provisioning.services.vm_state import (
    Status,
    _event,
    _explain,
    _explain_fault,
    _mirror_server,
    _status_message,
    _transition,
)

METADATA_KEY = "kennel-request"


BUILD_TIMEOUT = timedelta(minutes=15)
VM_COUNT_MAX = 20  # VMs in one request (each still within the quota and the hosts' room)
HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def catalog_refusals(*, image: CloudImage, flavor: CloudFlavor) -> dict[str, str]:
    """Why the catalog does not let developers pick this image and flavor (empty when it does)."""
    refusals = {}
    if image.team_id is None and not image.offered:  # a team's own image needs no offering
        refusals["image"] = _("Image %(image)s is not offered to developers.") % {"image": image.label}
    if not flavor.offered:
        refusals["flavor"] = _("Flavor %(flavor)s is not offered to developers.") % {"flavor": flavor.name}
    elif image.architecture and not flavor.suits_architecture(image.architecture):
        refusals["flavor"] = _("Flavor %(flavor)s is not for %(arch)s VMs.") % {
            "flavor": flavor.name,
            "arch": image.architecture,
        }
    return refusals


def vm_request_submit(
    *,
    actor: User,
    team: Team,
    name: str,
    image: CloudImage,
    flavor: CloudFlavor,
    profile: Profile | None = None,
    ssh_keys: Sequence[str] = (),
    packages: Sequence[str] = (),
    source: str,
) -> VmRequest:
    """Accept a VM request and enqueue its build. Refuses (ValidationError, with the reason a developer
    can act on) what Nova would only refuse later: a wrong architecture, a flavor too small for the
    image, no room on that architecture's hosts, a team without a cloud project."""
    return vm_requests_submit(
        actor=actor,
        team=team,
        name=name,
        count=1,
        image=image,
        flavor=flavor,
        profile=profile,
        ssh_keys=ssh_keys,
        packages=packages,
        source=source,
    )[0]


def vm_names(*, name: str, count: int) -> list[str]:
    """The names of ``count`` VMs requested as ``name``: the name itself for one, else name-1 … name-N."""
    return [name] if count == 1 else [f"{name}-{n}" for n in range(1, count + 1)]


def vm_requests_submit(
    *,
    actor: User,
    team: Team,
    name: str,
    count: int,
    image: CloudImage,
    flavor: CloudFlavor,
    profile: Profile | None = None,
    ssh_keys: Sequence[str] = (),
    packages: Sequence[str] = (),
    source: str,
) -> list[VmRequest]:
    """Accept ``count`` VMs alike (named ``name``-1 … ``name``-N when more than one) and enqueue their
    builds, or none: the hosts' room and the team's quota must hold them all, else the whole request
    is refused (ValidationError) before anything is built. The checks are ``vm_request_submit``'s."""
    if not 1 <= count <= VM_COUNT_MAX:
        raise ValidationError({"count": _("Request 1 to %(max)s VMs at once.") % {"max": VM_COUNT_MAX}})
    if not restrict(actor, Team.objects.filter(pk=team.pk), Action.OPERATE).exists():
        raise PermissionDenied
    errors: dict[str, str] = {}
    name = name.strip().lower()
    names = vm_names(name=name, count=count)
    if not all(HOSTNAME.match(n) for n in names):
        errors["name"] = _(
            "Use 1 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen."
        )
    if not team.openstack_project_id:
        errors["team"] = _("Team %(team)s has no OpenStack project yet; ask an admin to onboard it.") % {
            "team": team.name
        }
    if image.status != "active" or not image.architecture:
        errors["image"] = _("Image %(image)s cannot be used: it is not active or has no architecture.") % {
            "image": image.name
        }
    elif not flavor.fits_image(image):
        errors["flavor"] = _(
            "Flavor %(flavor)s is too small for %(image)s (it needs %(disk)s GB disk and %(ram)s MB RAM)."
        ) % {"flavor": flavor.name, "image": image.name, "disk": image.min_disk_gb, "ram": image.min_ram_mb}
    elif (room := host_fit_count(architecture=image.architecture, flavor=flavor)) < count:
        errors["flavor"] = (
            _(
                "No %(arch)s host has room for a %(flavor)s VM right now. "
                "Pick a smaller flavor or ask an admin."
            )
            % {"arch": image.architecture, "flavor": flavor.name}
            if room < 1
            else _("The %(arch)s hosts have room for %(room)s %(flavor)s VMs right now, not %(count)s.")
            % {"arch": image.architecture, "flavor": flavor.name, "room": room, "count": count}
        )
    if image.team_id is not None and image.team_id != team.pk:
        errors["image"] = _("Image %(image)s belongs to another team.") % {"image": image.label}
    errors.update(catalog_refusals(image=image, flavor=flavor))
    if errors:
        raise ValidationError(errors)
    user_data = {
        vm_name: vm_user_data_render(
            profile=profile,
            architecture=image.architecture,
            hostname=vm_name,
            ssh_keys=ssh_keys,
            packages=packages,
        )
        for vm_name in names
    }

    with transaction.atomic():
        # One request at a time per team: the quota check and the name check see each other, so 100
        # concurrent requests against room for 10 accept exactly 10.
        Team.objects.select_for_update().filter(pk=team.pk).first()
        taken = set(
            VmRequest.objects.filter(team=team, name__in=names)
            .exclude(status__in=[Status.DELETED, Status.FAILED])
            .values_list("name", flat=True)
        )
        if taken:
            raise ValidationError(
                {"name": _("Your team already has a VM named %(name)s.") % {"name": ", ".join(sorted(taken))}}
            )
        vms = []
        for index, vm_name in enumerate(names):
            # The team's quota (the quotas app's hook), counted from the rows this lock serialises: the
            # VMs saved just before count, so the whole batch is admitted or none.
            refusals = hooks_run(
                ProvisioningEvent.VM_ADMIT,
                team=team,
                vcpus=flavor.vcpus,
                ram_mb=flavor.ram_mb,
                disk_gb=flavor.disk_gb,
                architecture=image.architecture,
            )
            if refusal := next((r for r in refusals if r), None):
                if count > 1:
                    refusal = _("Only %(fit)s of the %(count)s VMs fit: %(reason)s") % {
                        "fit": index,
                        "count": count,
                        "reason": refusal,
                    }
                raise ValidationError({"flavor": refusal})
            vm = VmRequest(
                team=team,
                owner=actor,
                name=vm_name,
                architecture=image.architecture,
                image=image,
                image_name=image.name,
                flavor=flavor,
                flavor_name=flavor.name,
                vcpus=flavor.vcpus,
                ram_mb=flavor.ram_mb,
                disk_gb=flavor.disk_gb,
                profile=profile,
                user_data=user_data[vm_name],
                expires_at=timezone.now() + timedelta(days=settings.KENNEL_VM_LEASE_DAYS),
            )
            vm.full_clean()
            vm.save()
            _event(vm, Status.QUEUED, texts.REQUESTED(user=actor.get_username()))
            audit_record(
                actor=actor,
                action="vm.request",
                target=vm,
                team=team,
                source=source,
                detail={
                    "image": image.name,
                    "flavor": flavor.name,
                    "architecture": image.architecture,
                    **({"count": count} if count > 1 else {}),
                },
            )
            vms.append(vm)
        for vm in vms:
            _enqueue_build(vm.pk)
    return vms


def vm_user_data_render(
    *,
    profile: Profile | None,
    architecture: str,
    hostname: str,
    ssh_keys: Sequence[str] = (),
    packages: Sequence[str] = (),
) -> str:
    """The exact user-data a VM gets: the profile's parts plus the developer's keys and packages,
    emitted as YAML and checked against cloud-init's schema. Raises ValidationError saying what is wrong."""
    try:
        parts = cloudinit.profile_from_data(profile.parts) if profile else []
        text = cloudinit.render_user_data(
            parts,
            architecture=architecture,
            hostname=hostname,
            extra_ssh_keys=list(ssh_keys),
            extra_packages=list(packages),
        )
    except ValidationError as error:
        raise ValidationError({"profile": error.messages}) from error
    problems = cloudinit.validate_user_data(text)
    if problems:
        raise ValidationError(
            {
                "profile": [
                    _("The user-data would not pass cloud-init's schema: %(e)s") % {"e": "; ".join(problems)}
                ]
            }
        )
    return text


def _enqueue_build(request_id: int) -> None:
    from provisioning.tasks import vm_request_build

    enqueue(vm_request_build, request_id)


def vm_request_build_advance(*, request_id: int) -> bool:
    """One step of building: claim the request, create the server once, then look at it.

    Returns True when the request is finished (active, failed, or gone), False when the server is
    still building and the caller should look again shortly. Lets ``CloudUnavailable`` through: the
    task retries later and the request simply waits.
    """
    VmRequest.objects.filter(pk=request_id, status=Status.QUEUED).update(
        status=Status.BUILDING, attempts=F("attempts") + 1, building_since=timezone.now()
    )
    vm = VmRequest.objects.select_related("team").filter(pk=request_id).first()
    if vm is None:
        return True
    if vm.status == Status.QUEUED:
        # Another task claimed it and put it back while the cloud was down: look again shortly.
        return False
    if vm.status != Status.BUILDING:
        return True  # active, failed, cancelled or being deleted: nothing to build
    gateway = cloud()
    if not vm.server_id:
        # Only the first try to create can be sure no server exists yet: it skips the lookup.
        first_try = claim(
            VmRequest.objects.filter(pk=request_id, create_requested_at__isnull=True),
            create_requested_at=timezone.now(),
        )
        failpoint("vm-build-before-create")
        try:
            with transaction.atomic():
                # The row lock makes "look up, else create, then save the id" happen once.
                vm = VmRequest.objects.select_for_update().select_related("team").get(pk=request_id)
                if not vm.server_id and (vm.image is None or vm.flavor is None):
                    _transition(
                        vm,
                        Status.FAILED,
                        texts.CATALOG_GONE(),
                    )
                    return True
                if not vm.server_id:
                    assert vm.image is not None and vm.flavor is not None  # checked just above
                    # Ours carries the request's id and its name: a server with the same id and another
                    # name belongs to another Kennel sharing the project (another install, a test run).
                    found = (
                        []
                        if first_try
                        else [
                            s
                            for s in gateway.find_servers_by_metadata(
                                project_id=vm.team.openstack_project_id, key=METADATA_KEY, value=str(vm.pk)
                            )
                            if s.name == vm.name
                        ]
                    )
                    server = (
                        found[0]
                        if found
                        else gateway.create_server(
                            project_id=vm.team.openstack_project_id,
                            name=vm.name,
                            image_id=vm.image.cloud_id,
                            flavor_id=vm.flavor.cloud_id,
                            network_id=_team_network_id(vm.team),
                            user_data=vm.user_data or None,
                            metadata={
                                METADATA_KEY: str(vm.pk),
                                "kennel-team": vm.team.slug,
                                "kennel-owner": vm.owner.get_username(),
                            },
                        )
                    )
                    # Killed here, the server exists and its id is not saved: the retry finds it.
                    failpoint("vm-build-after-create")
                    vm.server_id = server.id
                    vm.save(update_fields=["server_id", "updated_at"])
                    _event(
                        vm,
                        Status.BUILDING,
                        texts.CLOUD_ACCEPTED(id=server.id),
                    )
        except (QuotaExceeded, CloudRequestError, CloudNotFound) as error:
            _transition(vm, Status.FAILED, _explain(error, vm))
            return True
    try:
        server = gateway.get_server(vm.server_id)
    except CloudNotFound:
        _transition(vm, Status.FAILED, texts.DELETED_WHILE_BUILDING())
        return True
    _mirror_server(vm, server)
    # Touched at every look: a build being watched is alive, and vm_requests_resume leaves it to its task.
    VmRequest.objects.filter(pk=vm.pk).update(updated_at=timezone.now())
    if server.status == "ACTIVE" and server.settled:
        _transition(vm, Status.ACTIVE, texts.BUILT(host=server.host or "?"))
        return True
    if server.status == "ERROR":
        _transition(vm, Status.FAILED, _explain_fault(vm, server.fault))
        return True
    if vm.building_since and timezone.now() - vm.building_since > BUILD_TIMEOUT:
        _transition(vm, Status.FAILED, texts.BUILD_TIMEOUT())
        return True
    return False


def _team_network_id(team: Team) -> str | None:
    """The team's private network: the one named ``<slug>-net`` in its project, if any. Read from the
    mirror; a team the mirror does not know yet (just onboarded) is looked up in the cloud."""
    name = f"{team.slug}-net"
    mirrored = CloudNetwork.objects.filter(project_id=team.openstack_project_id, name=name, external=False)
    network_id = mirrored.values_list("cloud_id", flat=True).first()
    if network_id:
        return network_id
    networks = cloud().list_networks(project_id=team.openstack_project_id)
    preferred = [n for n in networks if n.name == name and not n.external]
    if preferred:
        _mirror_network(preferred[0])
    return preferred[0].id if preferred else None


def vm_request_wait_for_cloud(*, request_id: int, error: str) -> None:
    """The cloud is down: say so on the row. A request not yet created goes back to the queue."""
    vm = VmRequest.objects.filter(pk=request_id).first()
    if vm is None:
        return
    message = texts.WAITING_FOR_CLOUD(error=error[:300])
    if vm.status == Status.BUILDING and not vm.server_id:
        _transition(vm, Status.QUEUED, message)
    elif vm.status in (Status.QUEUED, Status.BUILDING, Status.DELETING):
        VmRequest.objects.filter(pk=vm.pk).update(**_status_message(message))


def vm_requests_resume(*, older_than: timedelta | None = None) -> list[int]:
    """Re-enqueue requests whose task gave up or was lost (an outage longer than its retries, a
    worker killed): unchanged for ``older_than``, by default KENNEL_STALE_WORK_SECONDS (a build being
    watched is touched at every look). Returns their ids. Nothing waiting is ever dropped."""
    stale = stale_before(older_than)
    waiting = list(
        VmRequest.objects.filter(
            status__in=[Status.QUEUED, Status.BUILDING, Status.DELETING], updated_at__lt=stale
        ).values_list("pk", "status")
    )
    from provisioning.tasks import vm_request_build, vm_request_delete

    for pk, status in waiting:
        enqueue_now(vm_request_delete if status == Status.DELETING else vm_request_build, pk)
    return [pk for pk, _status in waiting]
