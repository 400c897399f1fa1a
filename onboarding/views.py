"""Onboarding pages. Admins start, follow, retry and offboard chains, keep quota templates and members,
and look at orphans; a team's people follow its chain on the team page; each member downloads their
own credentials. Views call selectors and services and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from onboarding import selectors, services
from onboarding.forms import MemberForm, OffboardForm, QuotaTemplateForm, TeamOnboardForm
from onboarding.models import CloudAccount, Onboarding
from portal.access import Action, Capability, restrict
from portal.http import AuthenticatedHttpRequest
from portal.models import Team, User
from portal.origin import origin
from portal.refusals import form_add_refusal, message_add_refusal
from portal.views import capability_required
from quotas.forms import field_name

if TYPE_CHECKING:  # django-stubs-ext is a development dependency
    from django_stubs_ext import StrOrPromise


def _team_onboarding(
    request: AuthenticatedHttpRequest, slug: str, action: Action = Action.VIEW
) -> Onboarding:
    """The team's chain: 404 if the user may not see it, 403 if they see it but may not ``action`` it."""
    try:
        onboarding = selectors.onboarding_get(user=request.user, slug=slug)
    except Onboarding.DoesNotExist:
        raise Http404 from None
    if action != Action.VIEW and not restrict(
        request.user, Onboarding.objects.filter(pk=onboarding.pk), action
    ):
        raise PermissionDenied
    return onboarding


# --- chains ------------------------------------------------------------------------------------------


@capability_required(Capability.TEAMS_ONBOARD)
def onboarding_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(
        request, "onboarding/list.html", {"onboardings": selectors.onboarding_list(user=request.user)}
    )


@capability_required(Capability.TEAMS_ONBOARD)
def team_onboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TeamOnboardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            onboarding = services.team_onboard(
                actor=request.user,
                name=data["name"],
                slug=data["slug"],
                description=data["description"],
                members=data["members"],
                leads=data["leads"],
                quota_template=data["quota_template"],
                source=origin(request),
            )
        except ValidationError as error:
            form_add_refusal(form, error)
        else:
            messages.success(request, _("%(team)s is being onboarded.") % {"team": onboarding.team.name})
            return redirect("onboarding:team", onboarding.team.slug)
    return render(request, "onboarding/onboard.html", {"form": form})


@login_required
def onboarding_team(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The chain's progress: the whole page, or (htmx) the fragment that polls until it finishes."""
    onboarding = _team_onboarding(request, slug)
    context = selectors.onboarding_progress(user=request.user, onboarding=onboarding)
    template = "onboarding/_progress.html" if request.htmx else "onboarding/detail.html"
    return render(request, template, context)


def _chain_action(
    service: Callable[..., object], success: StrOrPromise
) -> Callable[[AuthenticatedHttpRequest, str], HttpResponse]:
    @require_POST
    @login_required
    def view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
        onboarding = _team_onboarding(request, slug, Action.CHANGE)
        try:
            service(actor=request.user, onboarding=onboarding, source=origin(request))
        except ValidationError as error:
            message_add_refusal(request, error)
        else:
            messages.success(request, success)
        return redirect("onboarding:team", slug)

    return view


onboarding_retry = _chain_action(
    services.onboarding_retry, gettext_lazy("Retrying: the steps done are skipped.")
)
onboarding_run_again = _chain_action(
    services.onboarding_run_again, gettext_lazy("Running the chain again: what exists is left as it is.")
)


@login_required
def team_offboard(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    onboarding = _team_onboarding(request, slug, Action.CHANGE)
    form = OffboardForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.team_offboard(
                actor=request.user,
                onboarding=onboarding,
                confirm=form.cleaned_data["confirm"],
                source=origin(request),
            )
        except ValidationError as error:
            form_add_refusal(form, error)
        else:
            messages.success(request, _("%(team)s is being offboarded.") % {"team": onboarding.team.name})
            return redirect("onboarding:team", slug)
    context = {
        "onboarding": onboarding,
        "team": onboarding.team,
        "form": form,
        "victims": selectors.offboard_victims(onboarding.team),
    }
    return render(request, "onboarding/offboard.html", context)


# --- members -----------------------------------------------------------------------------------------


@login_required
def team_members(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    onboarding = _team_onboarding(request, slug, Action.CHANGE)
    team = onboarding.team
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.team_member_set(
                actor=request.user,
                team=team,
                user=form.cleaned_data["user"],
                level=form.cleaned_data["level"],
                source=origin(request),
            )
        except ValidationError as error:
            message_add_refusal(request, error)
        else:
            messages.success(request, _("Saved; the cloud's roles follow in a moment."))
            return redirect("onboarding:members", slug)
    memberships = team.memberships.select_related("user", "user__cloud_account").order_by(
        "-level", "user__username"
    )
    context = {"onboarding": onboarding, "team": team, "form": form, "memberships": memberships}
    return render(request, "onboarding/members.html", context)


@require_POST
@login_required
def team_member_remove(request: AuthenticatedHttpRequest, slug: str, user_id: int) -> HttpResponse:
    onboarding = _team_onboarding(request, slug, Action.CHANGE)
    user = get_object_or_404(User, pk=user_id, memberships__team=onboarding.team)
    services.team_member_remove(actor=request.user, team=onboarding.team, user=user, source=origin(request))
    messages.success(
        request, _("%(user)s removed; the cloud's roles follow in a moment.") % {"user": user.username}
    )
    return redirect("onboarding:members", slug)


# --- quota templates ---------------------------------------------------------------------------------


@capability_required(Capability.TEAMS_ONBOARD)
def quota_template_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    templates = selectors.quota_template_list(user=request.user)
    return render(request, "onboarding/template_list.html", {"templates": templates})


@capability_required(Capability.TEAMS_ONBOARD)
def quota_template_edit(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    template = get_object_or_404(selectors.quota_template_list(user=request.user), pk=pk) if pk else None
    form = QuotaTemplateForm(request.POST or None, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            services.quota_template_save(
                actor=request.user,
                template=template,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                values=form.values(),
                source=origin(request),
            )
        except ValidationError as error:
            form_add_refusal(form, error, field_of=field_name)
        else:
            messages.success(request, _("Quota template saved."))
            return redirect("onboarding:templates")
    return render(request, "onboarding/template_edit.html", {"form": form, "template": template})


@require_POST
@capability_required(Capability.TEAMS_ONBOARD)
def quota_template_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(selectors.quota_template_list(user=request.user), pk=pk)
    services.quota_template_delete(actor=request.user, template=template, source=origin(request))
    messages.success(request, _("Quota template %(name)s deleted.") % {"name": template.name})
    return redirect("onboarding:templates")


# --- orphans -----------------------------------------------------------------------------------------


@capability_required(Capability.TEAMS_ONBOARD)
def orphans(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.orphan_check_request(actor=request.user, source=origin(request))
        return redirect("onboarding:orphans")
    check = selectors.orphan_check_latest(user=request.user)
    template = "onboarding/_orphans.html" if request.htmx else "onboarding/orphans.html"
    return render(request, template, {"check": check})


# --- a member's own credentials ----------------------------------------------------------------------


def _credentials(request: AuthenticatedHttpRequest, slug: str) -> selectors.CloudCredentials:
    try:
        return selectors.cloud_credentials(user=request.user, slug=slug)
    except (Team.DoesNotExist, CloudAccount.DoesNotExist):
        raise Http404 from None


@login_required
def cloud_credentials(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    try:
        credentials = selectors.cloud_credentials(user=request.user, slug=slug)
    except Team.DoesNotExist:
        raise Http404 from None
    except CloudAccount.DoesNotExist:
        # A member added moments ago: the worker is making the account.
        return render(request, "onboarding/credentials_pending.html", {"slug": slug})
    template = "onboarding/_password.html" if request.htmx else "onboarding/credentials.html"
    return render(request, template, {"credentials": credentials, "account": credentials.account})


def _download(text: str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(text, content_type=content_type)
    # Django quotes (or RFC 5987-encodes) the name: a stored short name cannot break the header.
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "no-store"
    return response


@login_required
def cloud_credentials_yaml(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    credentials = _credentials(request, slug)
    return _download(credentials.clouds_yaml(), "clouds.yaml", "application/yaml; charset=utf-8")


@login_required
def cloud_credentials_openrc(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    credentials = _credentials(request, slug)
    return _download(
        credentials.openrc(), f"{credentials.cloud_name}-openrc.sh", "text/x-shellscript; charset=utf-8"
    )


@require_POST
@login_required
def cloud_password_reset(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    credentials = _credentials(request, slug)
    try:
        services.cloud_password_reset(actor=request.user, source=origin(request))
    except ValidationError as error:
        message_add_refusal(request, error)
    return redirect("onboarding:credentials", credentials.team.slug)


@require_POST
@login_required
def cloud_password_reveal(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    credentials = _credentials(request, slug)
    try:
        password = services.cloud_password_reveal(actor=request.user, source=origin(request))
    except ValidationError as error:
        message_add_refusal(request, error)
        return redirect("onboarding:credentials", credentials.team.slug)
    response = render(
        request,
        "onboarding/password_shown.html",
        {"credentials": credentials, "account": credentials.account, "password": password},
    )
    response["Cache-Control"] = "no-store"
    return response
