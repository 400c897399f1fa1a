"""Reads for blueprints and services, scoped to the user (``portal.access.restrict``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from blueprints.models import Blueprint, BlueprintVersion, Service, ServiceVm
from blueprints.spec import parameters_clean, substitute
from onboarding.models import SecurityRule
from portal.access import Action, restrict
from portal.models import Team, User
from provisioning.hooks import VmKeeper
from provisioning.models import VmRequest


def blueprint_list(*, user: User) -> QuerySet[Blueprint]:
    return restrict(user, Blueprint.objects.select_related("team").prefetch_related("versions"))


def blueprint_version_list(*, user: User) -> QuerySet[BlueprintVersion]:
    return restrict(user, BlueprintVersion.objects.select_related("blueprint", "blueprint__team"))


def blueprints_for_team(*, user: User, team: Team) -> QuerySet[Blueprint]:
    """What the team may deploy: global blueprints and its own."""
    return blueprint_list(user=user).filter(team__in=[team]) | blueprint_list(user=user).filter(
        team__isnull=True
    )


def service_list(*, user: User, action: Action = Action.VIEW) -> QuerySet[Service]:
    live = ServiceVm.objects.exclude(vm__status=VmRequest.Status.DELETED).select_related("vm", "version")
    return restrict(
        user,
        Service.objects.select_related("team", "blueprint", "version", "previous_version").prefetch_related(
            Prefetch("members", queryset=live, to_attr="live_members"), "maintainers"
        ),
        action,
    )


def team_services(*, user: User, team: Team) -> list[Service]:
    """The team's services that are not deleted, with their live VMs (``live_members``)."""
    return list(service_list(user=user).filter(team=team).exclude(status=Service.Status.DELETED))


def service_keeping(*, vm: VmRequest) -> VmKeeper | None:
    """The service that keeps ``vm`` (provisioning asks before the VM is deleted, resized or rebuilt
    on its own), or None: not a service's VM, or its service is deleted."""
    member = (
        ServiceVm.objects.filter(vm=vm)
        .exclude(service__status=Service.Status.DELETED)
        .select_related("service")
        .first()
    )
    if member is None:
        return None
    return VmKeeper(
        label=_("the service %(name)s") % {"name": member.service.name},
        url=reverse("blueprints:service-detail", args=[member.service_id]),
    )


@dataclass(frozen=True)
class ServicePort:
    """A port the service's VMs open (their firewall lets it in), and the networks the team's security
    group rules let reach it (in force or being added). None of them: only the team's own VMs reach it."""

    port: int
    protocol: str
    reached_from: tuple[str, ...]


def service_ports(*, service: Service) -> list[ServicePort]:
    """The ports of the service's version, with its parameters, each with who reaches it: what a lead
    checks when the service answers on its own VMs but not from a desk."""
    rules = list(
        SecurityRule.objects.filter(
            team_id=service.team_id, state__in=[SecurityRule.State.ACTIVE, SecurityRule.State.ADDING]
        ).exclude(remote_cidr="")
    )
    spec = service.version.spec
    values = parameters_clean(spec, service.parameters) if spec.get("ports") else {}
    ports = []
    for entry in spec.get("ports", []):
        number = int(substitute(str(entry["port"]), values))
        sources = sorted({r.remote_cidr for r in rules if r.covers(entry["protocol"], number)})
        ports.append(ServicePort(port=number, protocol=entry["protocol"], reached_from=tuple(sources)))
    return ports


def profile_named_by(*, profile) -> list[str]:
    """The blueprint versions that name a cloud-init profile (provisioning asks before it deletes or
    renames one), as "blueprint vN"."""
    versions = BlueprintVersion.objects.filter(spec__profile=profile.name).select_related("blueprint")
    return [f"{v.blueprint.name} v{v.number}" for v in versions.order_by("blueprint__name", "number")]
