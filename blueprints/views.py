"""Blueprint and service pages: thin callers of blueprints.selectors and blueprints.services."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from blueprints import selectors, services
from blueprints.forms import (
    BlueprintImportForm,
    ServiceDeployForm,
    ServiceScaleForm,
    ServiceUpgradeForm,
    counts_of,
)
from blueprints.models import Service
from blueprints.rendering import user_data_preview
from onboarding.security_rules import security_rules_may_change
from portal.access import Action, Capability, can, restrict
from portal.http import AuthenticatedHttpRequest
from portal.inputs import INTEGER_MAX, object_id
from portal.models import Membership
from portal.origin import origin
from portal.refusals import form_add_refusal, message_add_refusal
from portal.selectors import team_list


def _kept_teams(user):
    """The teams whose blueprints the user keeps: every team for admins, else those they lead."""
    teams = team_list(user=user)
    if can(user, Capability.PROFILES_MANAGE):
        return teams
    return teams.filter(memberships__user=user, memberships__level=Membership.Level.LEAD).distinct()


def _deploying_teams(user):
    """The teams the user may deploy services for: every team for admins, else those they lead."""
    if can(user, Capability.TEAMS_ONBOARD):
        return team_list(user=user)
    return (
        team_list(user=user)
        .filter(memberships__user=user, memberships__level=Membership.Level.LEAD)
        .distinct()
    )


@login_required
def blueprint_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    teams = _kept_teams(request.user)
    may_import = can(request.user, Capability.PROFILES_MANAGE) or teams.exists()
    form = BlueprintImportForm(request.POST or None, teams=teams)
    if request.method == "POST":
        if not may_import:
            raise Http404
        if form.is_valid():
            try:
                version = services.blueprint_import(
                    actor=request.user,
                    team=form.cleaned_data["team"],
                    text=form.cleaned_data["document"],
                    note=form.cleaned_data["note"],
                    source=origin(request),
                )
            except ValidationError as error:
                form_add_refusal(form, error, field_of=lambda _key: "document")
            else:
                messages.success(request, _("Stored as version %(n)s.") % {"n": version.number})
                return redirect("blueprints:detail", version.blueprint_id)
    return render(
        request,
        "blueprints/blueprint_list.html",
        {"blueprints": selectors.blueprint_list(user=request.user), "form": form, "may_import": may_import},
    )


@login_required
def blueprint_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    blueprint = get_object_or_404(selectors.blueprint_list(user=request.user), pk=pk)
    versions = blueprint.versions.order_by("-number")
    wanted = object_id(request.GET.get("version"))
    version = versions.filter(number=wanted).first() if wanted is not None and wanted <= INTEGER_MAX else None
    version = version or versions.first()
    if version is None:
        raise Http404
    teams = _deploying_teams(request.user)
    if blueprint.team_id:
        teams = teams.filter(pk=blueprint.team_id)
    form = ServiceDeployForm(request.POST or None, version=version, teams=teams)
    if request.method == "POST":
        if not teams.exists():
            raise Http404
        if form.is_valid():
            try:
                service = services.service_deploy(
                    actor=request.user,
                    team=form.cleaned_data["team"],
                    version=version,
                    name=form.cleaned_data["name"],
                    parameters=form.parameters(),
                    counts=counts_of(form),
                    maintainers=list(form.cleaned_data["maintainers"]),
                    source=origin(request),
                )
            except ValidationError as error:
                form_add_refusal(form, error, field_of=lambda key: f"param_{key}")
            else:
                return redirect("blueprints:service-detail", service.pk)
    return render(
        request,
        "blueprints/blueprint_detail.html",
        {
            "blueprint": blueprint,
            "versions": versions,
            "version": version,
            "document": services.blueprint_version_export(actor=request.user, version=version),
            "preview": user_data_preview(version.spec, name="example"),
            "form": form,
            "may_deploy": teams.exists(),
        },
    )


@login_required
def blueprint_version_export(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    version = get_object_or_404(selectors.blueprint_version_list(user=request.user), pk=pk)
    response = HttpResponse(
        services.blueprint_version_export(actor=request.user, version=version),
        content_type="application/yaml; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{version.blueprint.name}-v{version.number}.yaml"'
    )
    return response


@login_required
def service_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    service = get_object_or_404(selectors.service_list(user=request.user), pk=pk)
    may_operate = restrict(request.user, Service.objects.filter(pk=pk), Action.OPERATE).exists()
    may_delete = restrict(request.user, Service.objects.filter(pk=pk), Action.DELETE).exists()
    context = {
        "service": service,
        "events": service.events.order_by("-at", "-id")[:30],
        "may_operate": may_operate,
        "may_delete": may_delete,
        "scale_form": ServiceScaleForm(architectures=service.version.architectures, counts=service.counts),
        "ports": selectors.service_ports(service=service),
        "may_open_ports": security_rules_may_change(user=request.user, team=service.team),
        "default_ingress_from": settings.KENNEL_DEFAULT_INGRESS_FROM[:1],
        "upgrade_form": ServiceUpgradeForm(
            versions=service.blueprint.versions.exclude(pk=service.version_id).order_by("-number")
        ),
    }
    if request.htmx:
        return render(request, "blueprints/_service_status.html", context)
    return render(request, "blueprints/service_detail.html", context)


def _change(request: AuthenticatedHttpRequest, pk: int, action: Action, act) -> HttpResponse:
    service = get_object_or_404(restrict(request.user, Service.objects.all(), action), pk=pk)
    try:
        act(service)
    except ValidationError as error:
        message_add_refusal(request, error)
    return redirect("blueprints:service-detail", service.pk)


@login_required
@require_POST
def service_scale(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    def act(service: Service) -> None:
        form = ServiceScaleForm(
            request.POST, architectures=service.version.architectures, counts=service.counts
        )
        if not form.is_valid():
            raise ValidationError(_("Give a whole number of VMs per architecture."))
        services.service_scale(
            actor=request.user, service=service, counts=counts_of(form), source=origin(request)
        )

    return _change(request, pk, Action.OPERATE, act)


@login_required
@require_POST
def service_upgrade(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    def act(service: Service) -> None:
        form = ServiceUpgradeForm(request.POST, versions=service.blueprint.versions.all())
        if not form.is_valid():
            raise ValidationError(_("Pick a version of the service's blueprint."))
        services.service_upgrade(
            actor=request.user, service=service, version=form.cleaned_data["version"], source=origin(request)
        )

    return _change(request, pk, Action.OPERATE, act)


@login_required
@require_POST
def service_rollback(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _change(
        request,
        pk,
        Action.OPERATE,
        lambda service: services.service_rollback(
            actor=request.user, service=service, source=origin(request)
        ),
    )


@login_required
@require_POST
def service_retry(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _change(
        request,
        pk,
        Action.OPERATE,
        lambda service: services.service_retry(actor=request.user, service=service, source=origin(request)),
    )


@login_required
@require_POST
def service_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _change(
        request,
        pk,
        Action.DELETE,
        lambda service: services.service_delete(actor=request.user, service=service, source=origin(request)),
    )
