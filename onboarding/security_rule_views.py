"""The team page's security group rules: the section (htmx: it follows a change until Neutron has it),
a lead's add and remove. The section comes with the team page (kennel.views) too."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from onboarding.forms import SecurityRuleForm
from onboarding.security_rules import (
    ports_parse,
    security_rule_add,
    security_rule_list,
    security_rule_remove,
    security_rules_section,
)
from portal import selectors
from portal.http import AuthenticatedHttpRequest
from portal.models import Team
from portal.origin import origin
from portal.refusals import form_add_refusal, message_add_refusal

SECTION = "onboarding/_security_rules.html"


def _team_url(team: Team) -> str:
    return reverse("team-detail", kwargs={"slug": team.slug}) + "#security-rules"


def _section(
    request: AuthenticatedHttpRequest, team: Team, form: SecurityRuleForm | None = None, refusal: str = ""
) -> HttpResponse:
    context = {
        "team": team,
        "security_rule_form": form or SecurityRuleForm(),
        "security_rules_refusal": refusal,
    }
    context.update(security_rules_section(user=request.user, team=team))
    return render(request, SECTION, context)


@require_http_methods(["GET", "POST"])
@login_required
def security_rules(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """GET: the section (what htmx polls). POST: a lead (or admin) adds a rule; a worker makes it. A team
    one may not see: 404; seen but not a lead: 403 (PermissionDenied from the service)."""
    team = get_object_or_404(selectors.team_list(user=request.user), slug=slug)
    if request.method == "GET":
        return _section(request, team)
    form = SecurityRuleForm(request.POST)
    if form.is_valid():
        try:
            low, high = ports_parse(form.cleaned_data["ports"])
            rule = security_rule_add(
                actor=request.user,
                team=team,
                protocol=form.cleaned_data["protocol"],
                port_min=low,
                port_max=high,
                remote_cidr=form.cleaned_data["remote_cidr"],
                confirm_open=form.cleaned_data["confirm_open"],
                source=origin(request),
            )
        except ValidationError as error:
            form_add_refusal(form, error, field_of=lambda name: "ports" if name.startswith("port_") else name)
        else:
            if request.htmx:
                return _section(request, team)
            messages.success(request, _("Adding: %(rule)s.") % {"rule": rule.describe()})
            return redirect(_team_url(team))
    if request.htmx:
        return _section(request, team, form)
    message_add_refusal(request, ValidationError([m for ms in form.errors.values() for m in ms]))
    return redirect(_team_url(team))


@require_POST
@login_required
def security_rule_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A lead (or admin) removes a rule; a worker deletes it in Neutron."""
    rule = get_object_or_404(security_rule_list(user=request.user), pk=pk)
    try:
        security_rule_remove(actor=request.user, rule=rule, source=origin(request))
    except ValidationError as error:
        if request.htmx:
            return _section(request, rule.team, refusal=" ".join(error.messages))
        message_add_refusal(request, error)
    else:
        if request.htmx:
            return _section(request, rule.team)
        messages.success(request, _("Removing: %(rule)s.") % {"rule": rule.describe()})
    return redirect(_team_url(rule.team))
