"""Reads for blueprints and services, scoped to the user (``portal.access.restrict``)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from blueprints.models import Blueprint, BlueprintVersion, Service, ServiceVm
from portal.access import Action, restrict
from portal.models import Team, User
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
