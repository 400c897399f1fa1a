"""Writes for VMs and the cloud mirror. Web and API call the ``*_request``/``*_submit`` services,
which only change rows and enqueue work; Celery tasks call the ``*_advance`` services, which talk to
the cloud through the gateway and move a VM along its state machine.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import Task
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.access import Action, restrict
from portal.cloud import cloud
from portal.cloud.gateway import (
    CloudError,
    CloudNotFound,
    CloudRequestError,
    ConsoleUnavailable,
    Network,
    QuotaExceeded,
    Server,
    ServerAction,
)
from portal.failpoints import failpoint
from portal.models import Team, User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record
from provisioning import cloudinit
from provisioning.floating_ips import floating_ip_release_after_vanish, floating_ip_release_with_vm
from provisioning.models import (
    CloudFlavor,
    CloudHost,
    CloudImage,
    CloudNetwork,
    Profile,
    SshKey,
    UnmanagedServer,
    VmEvent,
    VmRequest,
)
from provisioning.selectors import host_fit_count
from provisioning.server_states import BUSY, ServerState, server_state_for
from provisioning.sync import Part, mirror_run
from quotas.services import quota_vm_refusal

METADATA_KEY = "kennel-request"
# What a VM whose server is gone shows of it.
_GONE = {"server_status": "", "server_task_state": "", "server_state": ServerState.DELETED}
# How much of a server's console output the VM page keeps (Nova's tail_length).
CONSOLE_LOG_LINES = 200
BUILD_TIMEOUT = timedelta(minutes=15)
HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
Status = VmRequest.Status
ACTION_LABELS = {
    ServerAction.START: gettext_lazy("start"),
    ServerAction.STOP: gettext_lazy("stop"),
    ServerAction.REBOOT_SOFT: gettext_lazy("reboot"),
    ServerAction.REBOOT_HARD: gettext_lazy("hard-reboot"),
}


# --- the mirror -----------------------------------------------------------------------------------------


def catalog_refresh() -> None:
    """Mirror everything the request pages read: the catalog, then the compute hosts (callers that
    need it all at once: the demo, tests, an admin's change in Glance). Raises the gateway's CloudError."""
    catalog_mirror_refresh()
    hosts_mirror_refresh()


def _sync_rows(
    model: type[CloudImage | CloudFlavor | CloudHost],
    key: str,
    wanted: Mapping[str, dict[str, Any]],
    now: datetime,
) -> int:
    """Make ``model``'s rows those of ``wanted`` (key value -> fields) in a constant number of queries
    when nothing changed: one read, one ``seen_at`` update, one delete; a write per row that did
    change. Returns how many rows were created, changed or deleted."""
    rows = {getattr(row, key): row for row in model.objects.all()}
    changed = 0
    for value, fields in wanted.items():
        row = rows.get(value)
        if row is None:
            model.objects.create(**{key: value, **fields, "seen_at": now})
            changed += 1
        elif any(getattr(row, name) != field for name, field in fields.items()):
            model.objects.filter(pk=row.pk).update(**fields)
            changed += 1
    model.objects.update(seen_at=now)
    deleted, _ = model.objects.exclude(**{f"{key}__in": list(wanted)}).delete()
    return changed + deleted


def catalog_mirror_refresh() -> bool:
    """Mirror Glance's images, Nova's flavors and Neutron's networks, one listing each. An image or
    flavor removed in the cloud leaves the mirror (and so the request form) on this run. Returns
    False when another run held the catalog (nothing done). Records success or the error in
    CloudSync (pages show the mirror's age); raises the gateway's CloudError."""
    with mirror_run(Part.CATALOG) as run:
        if run is None:
            return False
        gateway = cloud()
        images = gateway.list_images()
        flavors = gateway.list_flavors()
        networks = gateway.list_networks()
        with transaction.atomic():
            _sync_rows(
                CloudImage,
                "cloud_id",
                {
                    image.id: {
                        "name": image.name,
                        "architecture": image.architecture or "",
                        "status": image.status,
                        "min_disk_gb": image.min_disk_gb,
                        "min_ram_mb": image.min_ram_mb,
                        "os_distro": image.properties.get("os_distro", ""),
                        "os_version": image.properties.get("os_version", ""),
                        "visibility": image.visibility,
                        "properties": dict(image.properties),
                    }
                    for image in images
                },
                run.started_at,
            )
            _sync_rows(
                CloudFlavor,
                "cloud_id",
                {
                    flavor.id: {
                        "name": flavor.name,
                        "vcpus": flavor.vcpus,
                        "ram_mb": flavor.ram_mb,
                        "disk_gb": flavor.disk_gb,
                        "is_public": flavor.is_public,
                        "extra_specs": dict(flavor.extra_specs),
                    }
                    for flavor in flavors
                },
                run.started_at,
            )
            _mirror_networks(networks)
        run.full = True
    return True


def hosts_mirror_refresh() -> bool:
    """Mirror the compute hosts: Nova's hypervisors (state up/down and, from their compute service,
    enabled/disabled with the reason) in one listing, and Placement's providers in one listing, whose
    inventories and usage are read again only for providers whose generation moved (Placement bumps
    it on every allocation, inventory or trait change). A host gone from Placement leaves the mirror.
    Returns False when another run held the hosts. Raises the gateway's CloudError."""
    with mirror_run(Part.HOSTS) as run:
        if run is None:
            return False
        gateway = cloud()
        rows = {host.name: host for host in CloudHost.objects.all()}
        known = {
            h.provider_id: h.generation for h in rows.values() if h.provider_id and h.generation is not None
        }
        hypervisors = {h.hostname: h for h in gateway.list_hypervisors()}
        providers = gateway.list_resource_providers(known=known)
        wanted: dict[str, dict[str, Any]] = {}
        for provider in providers:
            hypervisor = hypervisors.get(provider.name)
            fields: dict[str, Any] = {
                "state": hypervisor.state if hypervisor else "",
                "status": hypervisor.status if hypervisor else "",
                "disabled_reason": (hypervisor.disabled_reason or "") if hypervisor else "",
            }
            row = rows.get(provider.name)
            if provider.detailed or row is None or row.provider_id != provider.id:
                if not provider.detailed:  # renamed under a known id: read it whole next time
                    continue
                fields |= {
                    "architecture": provider.architecture or "",
                    "provider_id": provider.id,
                    "generation": provider.generation,
                    "inventories": {
                        rc: {
                            "total": inv.total,
                            "reserved": inv.reserved,
                            "allocation_ratio": inv.allocation_ratio,
                            "used": inv.used,
                        }
                        for rc, inv in provider.inventories.items()
                    },
                }
            wanted[provider.name] = fields
        with transaction.atomic():
            _sync_rows(CloudHost, "name", wanted, run.started_at)
        run.full = True
    return True


def _mirror_networks(networks: Sequence[Network]) -> None:
    for network in networks:
        _mirror_network(network)
    CloudNetwork.objects.exclude(cloud_id__in=[n.id for n in networks]).delete()


# --- requesting ---------------------------------------------------------------------------------------


def catalog_refusals(*, image: CloudImage, flavor: CloudFlavor) -> dict[str, str]:
    """Why the catalog does not let developers pick this image and flavor (empty when it does)."""
    refusals = {}
    if not image.offered:
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
    if not restrict(actor, Team.objects.filter(pk=team.pk), Action.OPERATE).exists():
        raise PermissionDenied
    errors: dict[str, str] = {}
    name = name.strip().lower()
    if not HOSTNAME.match(name):
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
    elif host_fit_count(architecture=image.architecture, flavor=flavor) < 1:
        errors["flavor"] = _(
            "No %(arch)s host has room for a %(flavor)s VM right now. Pick a smaller flavor or ask an admin."
        ) % {"arch": image.architecture, "flavor": flavor.name}
    errors.update(catalog_refusals(image=image, flavor=flavor))
    if errors:
        raise ValidationError(errors)
    user_data = vm_user_data_render(
        profile=profile, architecture=image.architecture, hostname=name, ssh_keys=ssh_keys, packages=packages
    )

    with transaction.atomic():
        # One request at a time per team: the quota check and the name check see each other, so 100
        # concurrent requests against room for 10 accept exactly 10.
        Team.objects.select_for_update().filter(pk=team.pk).first()
        if (
            VmRequest.objects.filter(team=team, name=name)
            .exclude(status__in=[Status.DELETED, Status.FAILED])
            .exists()
        ):
            raise ValidationError({"name": _("Your team already has a VM named %(name)s.") % {"name": name}})
        refusal = quota_vm_refusal(
            team=team,
            vcpus=flavor.vcpus,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            architecture=image.architecture,
        )
        if refusal:
            raise ValidationError({"flavor": refusal})
        vm = VmRequest(
            team=team,
            owner=actor,
            name=name,
            architecture=image.architecture,
            image=image,
            image_name=image.name,
            flavor=flavor,
            flavor_name=flavor.name,
            vcpus=flavor.vcpus,
            ram_mb=flavor.ram_mb,
            disk_gb=flavor.disk_gb,
            profile=profile,
            user_data=user_data,
            expires_at=timezone.now() + timedelta(days=settings.KENNEL_VM_LEASE_DAYS),
        )
        vm.full_clean()
        vm.save()
        _event(vm, Status.QUEUED, _("Requested by %(user)s.") % {"user": actor.get_username()})
        audit_record(
            actor=actor,
            action="vm.request",
            target=vm,
            team=team,
            source=source,
            detail={"image": image.name, "flavor": flavor.name, "architecture": image.architecture},
        )
        _enqueue_build(vm.pk)
    return vm


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


def _event(vm: VmRequest, status: str, message: str) -> None:
    VmEvent.objects.create(request=vm, status=status, message=message)


def _transition(vm: VmRequest, to: str, message: str, **fields) -> bool:
    """Move ``vm`` from its current status to ``to`` if nobody moved it meanwhile."""
    moved = VmRequest.objects.filter(pk=vm.pk, status=vm.status).update(
        status=to, status_message=message, updated_at=timezone.now(), **fields
    )
    if moved:
        vm.status = to
        vm.status_message = message
        for key, value in fields.items():
            setattr(vm, key, value)
        _event(vm, to, message)
    return bool(moved)


def _server_fields(server: Server, flavor_ids: Mapping[str, int] | None = None) -> dict[str, Any]:
    """What a VM row mirrors of its server: every field the pages show (Nova's status and task state,
    and the state they mean, ``ServerState``). The flavor follows a resize
    (Nova reports the flavor's name and size; the mirrored flavor of that name, when ``flavor_ids``
    is given) and the name a rename."""
    fields: dict[str, Any] = {
        "server_status": server.status,
        "server_task_state": server.task_state or "",
        "server_state": server_state_for(server.status, server.task_state),
        "host": server.host or "",
        "addresses": {network: list(ips) for network, ips in server.addresses.items()},  # as JSON holds it
    }
    if server.name:
        fields["name"] = server.name[:63]
    if server.flavor_name and server.vcpus:
        fields |= {
            "flavor_name": server.flavor_name,
            "vcpus": server.vcpus,
            "ram_mb": server.ram_mb,
            "disk_gb": server.disk_gb,
        }
        if flavor_ids is not None and server.flavor_name in flavor_ids:
            fields["flavor_id"] = flavor_ids[server.flavor_name]
    return fields


def _mirror_server(vm: VmRequest, server: Server, flavor_ids: Mapping[str, int] | None = None) -> bool:
    """Write what changed of the server onto the VM row (nothing when nothing did). True if it did."""
    fields = {
        key: value for key, value in _server_fields(server, flavor_ids).items() if getattr(vm, key) != value
    }
    if not fields:
        return False
    VmRequest.objects.filter(pk=vm.pk).update(**fields)
    for key, value in fields.items():
        setattr(vm, key, value)
    return True


def _explain(error: CloudError, vm: VmRequest) -> str:
    """The cloud's refusal in words a developer can act on."""
    if isinstance(error, QuotaExceeded):
        return _(
            "Your team's quota does not allow this VM (%(detail)s). Delete a VM you no longer need, "
            "or ask your team lead to request more quota."
        ) % {"detail": error}
    return _("The cloud refused the request: %(detail)s") % {"detail": error}


def _explain_fault(vm: VmRequest, fault: str | None) -> str:
    if fault and "quota exceeded" in fault.lower():  # Nova's conductor rechecks quota after the API
        return _explain(QuotaExceeded(fault), vm)
    if fault and "No valid host" in fault:
        return _(
            "No %(arch)s host had room for a %(flavor)s VM. "
            "Try a smaller flavor, or ask an admin about capacity."
        ) % {"arch": vm.architecture, "flavor": vm.flavor_name}
    return _("The cloud could not build the VM: %(fault)s") % {"fault": fault or _("no reason given")}


# --- building (Celery) --------------------------------------------------------------------------------


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
        first_try = (
            VmRequest.objects.filter(pk=request_id, create_requested_at__isnull=True).update(
                create_requested_at=timezone.now()
            )
            == 1
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
                        _("The image or flavor was removed from the cloud; request the VM again."),
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
                        _("The cloud accepted the request (server %(id)s).") % {"id": server.id},
                    )
        except (QuotaExceeded, CloudRequestError, CloudNotFound) as error:
            _transition(vm, Status.FAILED, _explain(error, vm))
            return True
    try:
        server = gateway.get_server(vm.server_id)
    except CloudNotFound:
        _transition(vm, Status.FAILED, _("The server was deleted outside Kennel while it was being built."))
        return True
    _mirror_server(vm, server)
    # Touched at every look: a build being watched is alive, and vm_requests_resume leaves it to its task.
    VmRequest.objects.filter(pk=vm.pk).update(updated_at=timezone.now())
    if server.status == "ACTIVE" and server.settled:
        _transition(vm, Status.ACTIVE, _("Built on %(host)s.") % {"host": server.host or "?"})
        return True
    if server.status == "ERROR":
        _transition(vm, Status.FAILED, _explain_fault(vm, server.fault))
        return True
    if vm.building_since and timezone.now() - vm.building_since > BUILD_TIMEOUT:
        _transition(
            vm, Status.FAILED, _("The VM did not become active within 15 minutes; delete it and try again.")
        )
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


def _mirror_network(network: Network) -> None:
    CloudNetwork.objects.update_or_create(
        cloud_id=network.id,
        defaults={
            "name": network.name,
            "project_id": network.project_id,
            "external": network.external,
            "seen_at": timezone.now(),
        },
    )


def vm_request_wait_for_cloud(*, request_id: int, error: str) -> None:
    """The cloud is down: say so on the row. A request not yet created goes back to the queue."""
    vm = VmRequest.objects.filter(pk=request_id).first()
    if vm is None:
        return
    message = _(
        "Waiting for the cloud, which cannot be reached right now; Kennel retries by itself. (%(error)s)"
    ) % {"error": error[:300]}
    if vm.status == Status.BUILDING and not vm.server_id:
        _transition(vm, Status.QUEUED, message)
    elif vm.status in (Status.QUEUED, Status.BUILDING, Status.DELETING):
        VmRequest.objects.filter(pk=vm.pk).update(status_message=message)


def vm_requests_resume(*, older_than: timedelta | None = None) -> list[int]:
    """Re-enqueue requests whose task gave up or was lost (an outage longer than its retries, a
    worker killed): unchanged for ``older_than``, by default KENNEL_STALE_WORK_SECONDS (a build being
    watched is touched at every look). Returns their ids. Nothing waiting is ever dropped."""
    if older_than is None:
        older_than = timedelta(seconds=settings.KENNEL_STALE_WORK_SECONDS)
    stale = timezone.now() - older_than
    waiting = list(
        VmRequest.objects.filter(
            status__in=[Status.QUEUED, Status.BUILDING, Status.DELETING], updated_at__lt=stale
        ).values_list("pk", "status")
    )
    from provisioning.tasks import vm_request_build, vm_request_delete

    for pk, status in waiting:
        enqueue_now(vm_request_delete if status == Status.DELETING else vm_request_build, pk)
    return [pk for pk, _status in waiting]


# --- managing -----------------------------------------------------------------------------------------


def _operable(actor: User, vm: VmRequest) -> VmRequest:
    """The VM locked for update if ``actor`` may act on it; PermissionDenied otherwise."""
    locked = restrict(actor, VmRequest.objects.select_for_update(of=("self",)), Action.OPERATE).filter(
        pk=vm.pk
    )
    found = locked.first()
    if found is None:
        raise PermissionDenied
    return found


class VmStateConflict(ValidationError):
    """The action makes no sense in the server's current state (start a running VM, stop a stopped
    one, anything while it reboots). The API answers 409; pages show the message."""


def _state_refusal(vm: VmRequest, action: str) -> VmStateConflict | None:
    """Why ``action`` makes no sense for ``vm``'s server right now (None: it does)."""
    if vm.may(action):
        return None
    state = vm.state_label.lower()
    if vm.server_state in BUSY:
        return VmStateConflict(
            _("%(name)s is %(state)s right now; wait until that is finished, then try again.")
            % {"name": vm.name, "state": state}
        )
    if action == ServerAction.START and vm.server_state == ServerState.RUNNING:
        return VmStateConflict(_("%(name)s is already running.") % {"name": vm.name})
    if action == ServerAction.STOP and vm.server_state == ServerState.STOPPED:
        return VmStateConflict(_("%(name)s is already stopped.") % {"name": vm.name})
    labels = {str(key): str(label) for key, label in ACTION_LABELS.items()}
    labels.update(console=_("open the console of"), console_log=_("read the console log of"))
    what = labels.get(str(action), str(action))
    return VmStateConflict(
        _("You cannot %(action)s %(name)s while it is %(state)s.")
        % {"action": what, "name": vm.name, "state": state}
    )


def vm_action_request(*, actor: User, vm: VmRequest, action: ServerAction, source: str) -> VmRequest:
    """Ask for start, stop or reboot; the worker does it. Only an active VM with a server takes actions
    (ValidationError), and only those that make sense in the server's state as last mirrored
    (VmStateConflict: no start on a running server, no stop on a stopped one, nothing while it is busy)."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE or not vm.server_id:
            raise ValidationError(_("Only an active VM can be started, stopped or rebooted."))
        refusal = _state_refusal(vm, ServerAction(action))
        if refusal is not None:
            raise refusal
        _event(
            vm,
            vm.status,
            _("%(user)s asked to %(action)s it.")
            % {"user": actor.get_username(), "action": ACTION_LABELS[action]},
        )
        audit_record(actor=actor, action=f"vm.{action}", target=vm, team=vm.team, source=source)
        from provisioning.tasks import vm_action

        request_id = vm.pk
        enqueue(vm_action, request_id, str(action))
    return vm


def vm_action_advance(*, request_id: int, action: ServerAction) -> None:
    vm = VmRequest.objects.filter(pk=request_id, status=Status.ACTIVE).first()
    if vm is None or not vm.server_id:
        return
    gateway = cloud()
    try:
        gateway.server_action(vm.server_id, ServerAction(action))
    except CloudRequestError as error:
        _event(vm, vm.status, _("The cloud refused: %(detail)s") % {"detail": error})
        return
    vm_refresh(request_id=request_id)


def vm_refresh(*, request_id: int) -> VmRequest | None:
    """Bring one VM's mirrored server state up to date (after the portal's own action)."""
    vm = VmRequest.objects.filter(pk=request_id).first()
    if vm is None or not vm.server_id:
        return vm
    try:
        _mirror_server(vm, cloud().get_server(vm.server_id))
    except CloudNotFound:
        if vm.status == Status.ACTIVE:
            _transition(vm, Status.DELETED, _("The server was deleted outside Kennel."), **_GONE)
            floating_ip_release_after_vanish(vm=vm)
    return vm


def vm_delete_request(*, actor: User, vm: VmRequest, source: str) -> VmRequest:
    """Mark the VM for deletion and enqueue it. Deleting a deleted VM is a no-op."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status in (Status.DELETING, Status.DELETED):
            return vm
        if vm.status == Status.QUEUED and not vm.server_id:
            # Not built yet: the build task's claim (queued -> building) will now find nothing to do.
            _transition(
                vm,
                Status.DELETED,
                _("Cancelled by %(user)s before it was built.") % {"user": actor.get_username()},
            )
        else:
            _transition(
                vm, Status.DELETING, _("%(user)s asked to delete it.") % {"user": actor.get_username()}
            )
        audit_record(actor=actor, action="vm.delete", target=vm, team=vm.team, source=source)
        if vm.status == Status.DELETING:
            from provisioning.tasks import vm_request_delete

            request_id = vm.pk
            enqueue(vm_request_delete, request_id)
    return vm


def vm_delete_advance(*, request_id: int) -> bool:
    """Delete the server and wait until Nova no longer has it. True when done."""
    vm = VmRequest.objects.filter(pk=request_id, status=Status.DELETING).first()
    if vm is None:
        return True
    gateway = cloud()
    server_id = vm.server_id or next(
        (
            s.id
            for s in gateway.find_servers_by_metadata(
                project_id=vm.team.openstack_project_id, key=METADATA_KEY, value=str(vm.pk)
            )
        ),
        "",
    )
    # The address Kennel allocated for the VM goes with it (Neutron would keep it, unattached, counting
    # against the team's quota). First, so a retry after an outage finds it done.
    floating_ip_release_with_vm(vm=vm, gateway=gateway)
    if not server_id:
        _transition(vm, Status.DELETED, _("Deleted."), **_GONE)
        return True
    try:
        server = gateway.get_server(server_id)
        if server.status != "DELETED" and server.task_state != "deleting":
            gateway.delete_server(server_id)
        return False
    except CloudNotFound:
        _transition(vm, Status.DELETED, _("Deleted."), **{**_GONE, "server_status": "DELETED"})
        audit_record(actor=None, action="vm.deleted", target=vm, team=vm.team, source=WORKER)
        return True


# --- cloud-init profiles ------------------------------------------------------------------------------


def profile_save(
    *,
    actor: User | None,
    name: str,
    description: str = "",
    parts: Sequence[cloudinit.Part],
    profile: Profile | None = None,
    is_active: bool = True,
    source: str = SYSTEM,
) -> Profile:
    """Create or replace a profile's parts. The parts are validated (by their forms) before they get
    here; the whole profile must still render to user-data that passes cloud-init's schema, on every
    architecture, or nothing is saved (ValidationError)."""
    for architecture in ("x86_64", "ppc64le"):
        problems = cloudinit.validate_user_data(
            cloudinit.render_user_data(list(parts), architecture=architecture, hostname="preview")
        )
        if problems:
            raise ValidationError({"parts": problems})
    created = profile is None
    profile = profile or Profile()
    profile.name = name
    profile.description = description
    profile.parts = cloudinit.profile_to_data(parts)
    profile.is_active = is_active
    profile.full_clean()
    profile.save()
    audit_record(
        actor=actor,
        action="profile.create" if created else "profile.update",
        target=profile,
        source=source,
        detail={"parts": [p.kind for p in parts]},
    )
    return profile


def profile_parts(profile: Profile) -> list[cloudinit.Part]:
    return cloudinit.profile_from_data(profile.parts)


# --- reconciliation and leases ------------------------------------------------------------------------


# A full listing at least this often: it also finds what an incremental one cannot (a server whose
# deleted row Nova already archived, a VM row that lost its server otherwise).
SERVERS_FULL_EVERY = timedelta(minutes=5)
# Each changes-since listing starts this long before the previous run started: a change Nova committed
# a little late (its updated_at is taken before its transaction ends) or a clock apart by less than
# this is still seen. Listing a minute of changes again costs little; missing one costs a wrong page.
SERVERS_SINCE_MARGIN = timedelta(seconds=60)


def vm_reconcile(*, full: bool | None = None) -> dict[str, int] | None:
    """Follow the cloud's servers (every project) onto Kennel's rows, one listing per run.

    Usually the listing is Nova's ``changes-since`` the last successful run (minus a margin), which
    includes servers deleted since; a complete listing is made when ``full`` is True, when there was
    no success yet, or every SERVERS_FULL_EVERY. Each server listed refreshes its VM (state, host,
    addresses, name, flavor after a resize); a server deleted outside Kennel marks its VM deleted; a
    server Kennel did not create is recorded as unmanaged (counted in its team's usage), and forgotten
    once deleted. A complete listing also marks VMs whose server is missing from it as deleted.
    Queries stay constant when nothing changed. Returns counts, or None when another run held the
    servers (nothing done). Raises the gateway's CloudError (recorded; the next run tries again)."""
    with mirror_run(Part.SERVERS) as run:
        if run is None:
            return None
        last = run.previous
        if full is None:
            full = (
                last.succeeded_at is None
                or last.full_at is None
                or run.started_at - last.full_at >= SERVERS_FULL_EVERY
            )
        gateway = cloud()
        if full or last.succeeded_at is None:
            servers = gateway.list_servers()
        else:
            servers = gateway.list_servers(changes_since=last.succeeded_at - SERVERS_SINCE_MARGIN)
        counts = _servers_apply(servers, complete=full, now=run.started_at)
        run.full = full
        return counts


def _servers_apply(servers: Sequence[Server], *, complete: bool, now: datetime) -> dict[str, int]:
    counts = {"listed": len(servers), "updated": 0, "vanished": 0, "unmanaged": 0, "forgotten": 0}
    listed = {s.id: s for s in servers}
    vms = VmRequest.objects.exclude(server_id="").exclude(status=Status.DELETED).select_related("team")
    if not complete:
        vms = vms.filter(server_id__in=list(listed))
    flavor_ids = dict(CloudFlavor.objects.values_list("name", "pk"))
    known = set()
    for vm in vms:
        known.add(vm.server_id)
        server = listed.get(vm.server_id)
        if server is None or server.deleted:
            if (server is not None or complete) and vm.status == Status.ACTIVE:
                message = _("The server was deleted outside Kennel.")
                _transition(vm, Status.DELETED, message, **{**_GONE, "server_status": "DELETED"})
                audit_record(actor=None, action="vm.vanished", target=vm, team=vm.team, source=WORKER)
                floating_ip_release_after_vanish(vm=vm)
                counts["vanished"] += 1
            continue
        if _mirror_server(vm, server, flavor_ids):
            counts["updated"] += 1
    others = [s for s in servers if s.id not in known and not s.metadata.get(METADATA_KEY)]
    gone = [s.id for s in others if s.deleted]
    alive = [s for s in others if not s.deleted]
    if complete:
        forgotten, _n = UnmanagedServer.objects.exclude(server_id__in=[s.id for s in alive]).delete()
    else:
        forgotten, _n = UnmanagedServer.objects.filter(server_id__in=gone).delete()
    counts["forgotten"] = forgotten
    if alive:
        teams = dict(Team.objects.exclude(openstack_project_id="").values_list("openstack_project_id", "pk"))
        architectures = dict(CloudImage.objects.values_list("cloud_id", "architecture"))
        rows = {u.server_id: u for u in UnmanagedServer.objects.filter(server_id__in=[s.id for s in alive])}
        for server in alive:
            fields = {
                "name": server.name,
                "project_id": server.project_id,
                "team_id": teams.get(server.project_id),
                "status": server.status,
                "host": server.host or "",
                "architecture": architectures.get(server.image_id or "", ""),
                "vcpus": server.vcpus,
                "ram_mb": server.ram_mb,
                "disk_gb": server.disk_gb,
            }
            row = rows.get(server.id)
            if row is None:
                UnmanagedServer.objects.create(server_id=server.id, seen_at=now, **fields)
            elif any(getattr(row, name) != value for name, value in fields.items()):
                UnmanagedServer.objects.filter(pk=row.pk).update(seen_at=now, **fields)
            else:
                continue
            counts["unmanaged"] += 1
    return counts


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
            _("%(user)s extended the lease to %(date)s.")
            % {"user": actor.get_username(), "date": wanted.date().isoformat()},
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
            if _transition(vm, Status.DELETING, _("The lease expired; deleting.")):
                enqueue_now(vm_request_delete, vm.pk)
        else:
            _event(vm, vm.status, _("The lease expired; stopping. Extend the lease, then start it again."))
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


# --- floating IPs and console -----------------------------------------------------------------------


def vm_floating_ip_request(*, actor: User, vm: VmRequest, attach: bool, source: str) -> VmRequest:
    """Ask for a floating IP on the VM (or its release); the worker does it."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE:
            raise ValidationError(_("Only an active VM can get or release a floating IP."))
        if attach == bool(vm.floating_ip_id):
            raise ValidationError(
                _("The VM already has a floating IP.") if attach else _("The VM has no floating IP.")
            )
        _event(
            vm,
            vm.status,
            (_("%(user)s asked for a floating IP.") if attach else _("%(user)s released the floating IP."))
            % {"user": actor.get_username()},
        )
        audit_record(
            actor=actor,
            action="vm.floating_ip_attach" if attach else "vm.floating_ip_detach",
            target=vm,
            team=vm.team,
            source=source,
        )
        from provisioning.tasks import vm_floating_ip

        request_id = vm.pk
        enqueue(vm_floating_ip, request_id, attach)
    return vm


def vm_floating_ip_advance(*, request_id: int, attach: bool) -> None:
    """Allocate-then-attach, or detach-then-release. The allocated address's id is saved before it is
    attached, so a retry reuses it instead of allocating a second one."""
    vm = VmRequest.objects.select_related("team").filter(pk=request_id).first()
    if vm is None or not vm.server_id:
        return
    gateway = cloud()
    try:
        if attach:
            if not vm.floating_ip_id:
                external = [
                    n
                    for n in gateway.list_networks(external=True)
                    if n.name == settings.KENNEL_EXTERNAL_NETWORK
                ]
                if not external:
                    raise CloudRequestError(f"no external network named {settings.KENNEL_EXTERNAL_NETWORK!r}")
                allocated = gateway.create_floating_ip(
                    project_id=vm.team.openstack_project_id, external_network_id=external[0].id
                )
                VmRequest.objects.filter(pk=vm.pk).update(floating_ip_id=allocated.id)
                vm.floating_ip_id = allocated.id
            attached = gateway.attach_floating_ip(floating_ip_id=vm.floating_ip_id, server_id=vm.server_id)
            VmRequest.objects.filter(pk=vm.pk).update(floating_ip=attached.address)
            _event(vm, vm.status, _("Floating IP %(ip)s attached.") % {"ip": attached.address})
        elif vm.floating_ip_id:
            with contextlib.suppress(CloudNotFound):
                gateway.detach_floating_ip(floating_ip_id=vm.floating_ip_id)
                gateway.delete_floating_ip(vm.floating_ip_id)
            VmRequest.objects.filter(pk=vm.pk).update(floating_ip=None, floating_ip_id="")
            _event(vm, vm.status, _("Floating IP released."))
    except (QuotaExceeded, CloudRequestError, CloudNotFound) as error:
        _event(vm, vm.status, _explain(error, vm))
    vm_refresh(request_id=request_id)


def vm_console_request(*, actor: User, vm: VmRequest, source: str) -> VmRequest:
    """Ask for a console URL; a worker fetches it and the page follows until the URL, or the reason
    there is none, arrives. Only a running server has a console worth opening (VmStateConflict)."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE:
            raise ValidationError(_("Only an active VM has a console."))
        refusal = _state_refusal(vm, "console")
        if refusal is not None:
            raise refusal
        from provisioning.tasks import vm_console

        fields = {
            "console_url": "",
            "console_url_at": None,
            "console_error": "",
            "console_requested_at": timezone.now(),
        }
        _vm_ask_worker(actor=actor, vm=vm, fields=fields, action="vm.console", task=vm_console, source=source)
    return vm


def _vm_ask_worker(
    *, actor: User, vm: VmRequest, fields: dict[str, Any], action: str, task: Task, source: str
) -> None:
    """Mark what is asked on the VM (the page follows these fields), audit it and hand it to a worker
    once the transaction commits."""
    VmRequest.objects.filter(pk=vm.pk).update(**fields)
    for key, value in fields.items():
        setattr(vm, key, value)
    audit_record(actor=actor, action=action, target=vm, team=vm.team, source=source)
    enqueue(task, vm.pk)


def vm_console_advance(*, request_id: int) -> None:
    """Fetch the console URL (the gateway checks that the cloud's console proxy answers) and store it,
    or store why there is none: the cloud has no console proxy, or the server cannot have one now."""
    vm = VmRequest.objects.filter(pk=request_id, status=Status.ACTIVE).first()
    if vm is None or not vm.server_id:
        return
    try:
        url = cloud().server_console_url(vm.server_id)
    except ConsoleUnavailable as error:
        message = _("This cloud offers no console: %(detail)s. Ask an admin to run Nova's console proxy.") % {
            "detail": error
        }
    except (CloudRequestError, CloudNotFound) as error:
        message = _("No console: %(detail)s") % {"detail": error}
    else:
        VmRequest.objects.filter(pk=vm.pk).update(
            console_url=url, console_url_at=timezone.now(), console_error=""
        )
        return
    VmRequest.objects.filter(pk=vm.pk).update(console_url="", console_url_at=None, console_error=message)
    _event(vm, vm.status, message)


def vm_console_log_request(*, actor: User, vm: VmRequest, source: str) -> VmRequest:
    """Ask for the server's console output (its last CONSOLE_LOG_LINES lines); a worker fetches it.
    The log shown until then stays; VmStateConflict while the server has no host to ask."""
    with transaction.atomic():
        vm = _operable(actor, vm)
        if vm.status != Status.ACTIVE or not vm.server_id:
            raise ValidationError(_("Only an active VM has a console log."))
        refusal = _state_refusal(vm, "console_log")
        if refusal is not None:
            raise refusal
        from provisioning.tasks import vm_console_log

        fields = {"console_log_requested_at": timezone.now(), "console_log_error": ""}
        _vm_ask_worker(
            actor=actor, vm=vm, fields=fields, action="vm.console_log", task=vm_console_log, source=source
        )
    return vm


def vm_console_log_advance(*, request_id: int) -> None:
    """Fetch the server's console output and keep it on the VM, with when it was read."""
    vm = VmRequest.objects.filter(pk=request_id, status=Status.ACTIVE).first()
    if vm is None or not vm.server_id:
        return
    try:
        output = cloud().server_console_output(vm.server_id, lines=CONSOLE_LOG_LINES)
    except (CloudRequestError, CloudNotFound) as error:
        VmRequest.objects.filter(pk=vm.pk).update(
            console_log_error=_("The cloud gave no console log: %(detail)s") % {"detail": error}
        )
        return
    VmRequest.objects.filter(pk=vm.pk).update(
        console_log=output, console_log_at=timezone.now(), console_log_error=""
    )


# --- SSH keys -------------------------------------------------------------------------------------------


def ssh_key_add(*, user: User, name: str, public_key: str, source: str) -> SshKey:
    """Import one OpenSSH public key for ``user``. Refuses a malformed key or one already imported."""
    public_key = public_key.strip()
    try:
        cloudinit.validate_ssh_public_key(public_key)
    except ValidationError as error:
        raise ValidationError({"public_key": error.messages}) from error
    body = base64.b64decode(public_key.split()[1])
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")
    if SshKey.objects.filter(user=user, fingerprint=fingerprint).exists():
        raise ValidationError({"public_key": _("You have already imported this key.")})
    key = SshKey(
        user=user,
        name=name.strip() or public_key.split()[-1][:100],
        public_key=public_key,
        fingerprint=fingerprint,
    )
    key.full_clean()
    with transaction.atomic():  # the key and its audit entry, or neither (a database gone between them)
        key.save()
        audit_record(
            actor=user, action="ssh_key.add", target=key, source=source, detail={"fingerprint": fingerprint}
        )
    return key


def ssh_key_remove(*, user: User, key: SshKey, source: str) -> None:
    with transaction.atomic():
        audit_record(
            actor=user,
            action="ssh_key.remove",
            target=key,
            source=source,
            detail={"fingerprint": key.fingerprint},
        )
        key.delete()
