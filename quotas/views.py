"""Quota pages: every team's table, asking, deciding, rules. Views only call selectors and services."""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django.views.generic import ListView

from inventory.selectors import utilization_by_architecture
from portal.access import Action, Capability, can, restrict
from portal.http import AuthenticatedHttpRequest
from portal.models import Team
from portal.origin import origin
from portal.refusals import form_add_refusal, message_add_refusal
from portal.views import HtmxListMixin
from provisioning.sync import Part, mirror_freshness
from quotas import selectors, services
from quotas.dimensions import PER_ARCHITECTURE, arch_key, base_dimensions, dimension, sort_key
from quotas.filtersets import QuotaRequestFilterSet
from quotas.forms import (
    AnswerForm,
    ApproveForm,
    AskForm,
    QuotaPolicyForm,
    QuotaRequestForm,
    QuotaRuleForm,
    RejectForm,
    field_name,
    key_of,
    rule_key_choices,
)
from quotas.models import QuotaRequest, QuotaRule
from quotas.selectors import TeamQuotaTable

if TYPE_CHECKING:  # django-stubs-ext is a development dependency
    from django_stubs_ext import StrOrPromise


class QuotaOverviewView(LoginRequiredMixin, ListView):
    """Every team the user may see, one row each: used / limit per dimension, 50 teams a page. Sorted
    by name or by how full a dimension is (``?sort=cores``, the database's order) and searched by name
    (``?q=``); ``?format=csv`` exports every matching team in the same order."""

    template_name = "quotas/overview.html"
    context_object_name = "teams"
    paginate_by = 50

    def sort(self) -> str:
        sort = self.request.GET.get("sort", "name")
        return sort if sort in selectors.QUOTA_OVERVIEW_SORTS else "name"

    def get_queryset(self):
        return selectors.quota_overview_teams(
            user=self.request.user, sort=self.sort(), search=self.request.GET.get("q", "")[:100]
        )

    def get(self, request, *args, **kwargs):
        if request.GET.get("format") == "csv":
            return _overview_csv(selectors.quota_tables(self.get_queryset()))
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        return (
            context
            | {
                "tables": selectors.quota_tables(context["teams"]),  # this page's teams only
                "dimensions": base_dimensions(),
                "sort": self.sort(),
                "search": self.request.GET.get("q", "")[:100],
                "query_without_page": query.urlencode(),
                "pending": selectors.quota_request_list(user=self.request.user).filter(
                    status__in=QuotaRequest.UNDECIDED
                )[:PENDING_SHOWN],
                "pending_count": selectors.quota_request_list(user=self.request.user)
                .filter(status__in=QuotaRequest.UNDECIDED)
                .count(),
                "may_decide": can(self.request.user, Capability.QUOTA_APPROVE),
                "freshness": mirror_freshness(Part.QUOTAS),
            }
        )


# The overview lists the newest undecided requests; the request list has them all.
PENDING_SHOWN = 20
quota_overview = QuotaOverviewView.as_view()


def _overview_csv(tables: list[TeamQuotaTable]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="kennel-quotas.csv"'
    writer = csv.writer(response)
    writer.writerow(["team", "dimension", "limit", "used", "requested", "remaining", "read_from_cloud_at"])
    for table in tables:
        for line in table.lines:
            writer.writerow(
                [
                    table.team.slug,
                    line.dimension.key,
                    "" if line.limit is None else line.limit,
                    line.used,
                    "" if line.requested is None else line.requested,
                    "" if line.remaining is None else line.remaining,
                    table.synced_at.isoformat() if table.synced_at else "",
                ]
            )
    return response


def _request_keys(user, table) -> list[str]:
    """The dimensions a requester may ask about: the team's; admins may also set architecture limits."""
    keys = {line.dimension.key for line in table.lines}
    if can(user, Capability.QUOTA_APPROVE):
        for arch in selectors.hardware_capacity():
            if arch:
                keys |= {arch_key(base, arch) for base in PER_ARCHITECTURE}
    return sorted(keys, key=sort_key)


@login_required
def quota_request_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(restrict(request.user, Team.objects.all()), slug=slug)
    if not selectors.quota_may_request(user=request.user, team=team):
        raise PermissionDenied
    table = selectors.team_quota_table(team)
    keys = _request_keys(request.user, table)
    form = QuotaRequestForm(request.POST or None, keys=keys)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.quota_request_submit(
                actor=request.user,
                team=team,
                values=form.values(),
                reason=form.cleaned_data["reason"],
                source=origin(request),
            )
        except ValidationError as error:
            form_add_refusal(form, error, field_of=field_name)
        else:
            if created.auto_approved:
                messages.success(request, _("Approved at once by the admins' rules; it is being applied."))
            else:
                messages.success(request, _("Requested. Admins have been told; you will get an e-mail."))
            return redirect("quotas:request-detail", pk=created.pk)
    lines = {line.dimension.key: line for line in table.lines}
    rows = [(field, lines.get(key_of(field.name))) for field in form.dimension_fields()]
    return render(
        request, "quotas/request_form.html", {"team": team, "form": form, "rows": rows, "table": table}
    )


class QuotaRequestListView(LoginRequiredMixin, HtmxListMixin, ListView):
    filterset_class = QuotaRequestFilterSet
    template_name = "quotas/request_list.html"
    partial_template_name = "quotas/_request_table.html"
    context_object_name = "requests"
    paginate_by = 50

    def get_base_queryset(self):
        return selectors.quota_request_list(user=self.request.user)


def _detail_lines(quota_request: QuotaRequest) -> list[dict[str, Any]]:
    table = selectors.team_quota_table(quota_request.team)
    capacity = selectors.hardware_capacity()
    keys = sorted(set(quota_request.values) | set(quota_request.approved_values), key=sort_key)
    rows = []
    for key in keys:
        line = table.line(key)
        rows.append(
            {
                "dimension": dimension(key),
                "previous": quota_request.previous.get(key),
                "requested": quota_request.values.get(key),
                "approved": quota_request.approved_values.get(key),
                "limit": line.limit if line else None,
                "used": line.used if line else 0,
                "hardware": selectors.hardware_limit(key, capacity),
            }
        )
    return rows


@login_required
def quota_request_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    quota_request = get_object_or_404(selectors.quota_request_list(user=request.user), pk=pk)
    visible = QuotaRequest.objects.filter(pk=pk)
    may_decide = restrict(request.user, visible, Action.CHANGE).exists()
    may_operate = restrict(request.user, visible, Action.OPERATE).exists()
    status = quota_request.status
    context: dict[str, Any] = {
        "quota_request": quota_request,
        "lines": _detail_lines(quota_request),
        "events": list(quota_request.events.select_related("actor")),
        "poll": status in (QuotaRequest.Status.APPROVED, QuotaRequest.Status.APPLYING),
        "may_decide": may_decide and status in QuotaRequest.UNDECIDED,
        "may_ask": may_decide and status == QuotaRequest.Status.PENDING,
        "may_retry": may_decide and status == QuotaRequest.Status.FAILED,
        "may_answer": may_operate and status == QuotaRequest.Status.INFO_REQUESTED,
        "may_cancel": may_operate and status in QuotaRequest.UNDECIDED,
    }
    if request.htmx:
        return render(request, "quotas/_request_status.html", context)
    if context["may_decide"]:
        context["approve_form"] = ApproveForm(
            keys=[row["dimension"].key for row in context["lines"]], initial_values=quota_request.values
        )
        context["reject_form"], context["ask_form"] = RejectForm(), AskForm()
        context["history"] = selectors.team_usage_history(team=quota_request.team)
        context["capacity"] = utilization_by_architecture(user=request.user)
    if context["may_answer"]:
        context["answer_form"] = AnswerForm()
    return render(request, "quotas/request_detail.html", context)


@require_POST
@login_required
def quota_request_act(request: AuthenticatedHttpRequest, pk: int, act: str) -> HttpResponse:
    """The request page's buttons: approve (with edits), reject, ask, answer, cancel, retry."""
    quota_request = get_object_or_404(selectors.quota_request_list(user=request.user), pk=pk)
    if act != "approve" and act not in _STEPS:
        return HttpResponse(_("Unknown action."), status=400)
    service: Callable[..., object]
    done: StrOrPromise
    try:
        if act == "approve":
            form = ApproveForm(request.POST, keys=list(quota_request.values))
            if not form.is_valid():
                raise ValidationError(_form_problems(form))
            arguments = {"values": form.values(), "comment": form.cleaned_data["comment"]}
            service, done = services.quota_request_approve, _("Approved; it is being applied.")
        else:
            service, form_class, done = _STEPS[act]
            arguments = {}
            if form_class is not None:
                step_form = form_class(request.POST)
                if not step_form.is_valid():
                    raise ValidationError(_form_problems(step_form))
                arguments = step_form.cleaned_data
        service(actor=request.user, request=quota_request, source=origin(request), **arguments)
        messages.success(request, done)
    except ValidationError as error:
        message_add_refusal(request, error)
    return redirect("quotas:request-detail", pk=quota_request.pk)


def _form_problems(form) -> list[str]:
    """A form's errors as sentences for a message: "Field: what is wrong"."""
    return [
        f"{form.fields[name].label}: {error}" if name in form.fields else str(error)
        for name, errors in form.errors.items()
        for error in errors
    ]


# The other buttons: the service, the form its text comes in (if any), what the page says when done.
_STEPS: dict[str, tuple[Callable[..., object], type[forms.Form] | None, StrOrPromise]] = {
    "reject": (
        services.quota_request_reject,
        RejectForm,
        gettext_lazy("Rejected; the requester has been told."),
    ),
    "ask": (services.quota_request_ask, AskForm, gettext_lazy("Question sent.")),
    "answer": (
        services.quota_request_answer,
        AnswerForm,
        gettext_lazy("Answer sent; the request is pending again."),
    ),
    "cancel": (services.quota_request_cancel, None, gettext_lazy("Cancelled.")),
    "retry": (
        services.quota_request_retry,
        None,
        gettext_lazy("Retrying; services already applied are skipped."),
    ),
}


@login_required
def quota_rules(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Admins: who may ask, ceilings and auto-approval per dimension."""
    if not can(request.user, Capability.QUOTA_APPROVE):
        raise PermissionDenied
    architectures = [arch for arch in selectors.hardware_capacity() if arch]
    policy_form = QuotaPolicyForm(
        initial={"members_may_request": selectors.quota_policy().members_may_request}
    )
    rule_form = QuotaRuleForm(architectures=architectures)
    if request.method == "POST":
        try:
            if request.POST.get("delete"):
                # Only a dimension's key is looked up; other text (a NUL included) names no rule.
                key = request.POST["delete"]
                if key in dict(rule_key_choices(architectures)):
                    services.quota_rule_delete(actor=request.user, key=key, source=origin(request))
                    messages.success(request, _("Rule removed."))
                return redirect("quotas:rules")
            if request.POST.get("form") == "policy":
                policy_form = QuotaPolicyForm(request.POST)
                if policy_form.is_valid():
                    services.quota_policy_save(
                        actor=request.user,
                        members_may_request=policy_form.cleaned_data["members_may_request"],
                        source=origin(request),
                    )
                    messages.success(request, _("Saved."))
                    return redirect("quotas:rules")
            else:
                rule_form = QuotaRuleForm(request.POST, architectures=architectures)
                if rule_form.is_valid():
                    data = rule_form.cleaned_data
                    services.quota_rule_save(
                        actor=request.user,
                        key=data["key"],
                        ceiling=data["ceiling"],
                        auto_approve_increase=data["auto_approve_increase"],
                        auto_approve_days=data["auto_approve_days"],
                        source=origin(request),
                    )
                    messages.success(request, _("Saved."))
                    return redirect("quotas:rules")
        except ValidationError as error:
            form_add_refusal(rule_form, error)
    rules = sorted(QuotaRule.objects.all(), key=lambda rule: sort_key(rule.key))
    return render(
        request,
        "quotas/rules.html",
        {"policy_form": policy_form, "rule_form": rule_form, "rules": [(r, dimension(r.key)) for r in rules]},
    )
