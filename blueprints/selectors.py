"""Reads for blueprints and services, scoped to the user (``portal.access.restrict``)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from blueprints.models import Blueprint, BlueprintVersion, Service, ServiceVm
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
