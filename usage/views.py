"""Pages: hosts' and VMs' real use, team totals, idle VMs. Thin: the selectors ask Prometheus (one
query per list and per chart) and say when it is not configured or away; the templates say so too."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from inventory.selectors import server_list
from portal.access import Capability, can, restrict
from portal.models import Team
from portal.origin import origin
from provisioning.models import VmRequest
from usage import selectors, services
from usage.charts import usage_chart
from usage.models import IdleVm


def _require(request: HttpRequest, capability: Capability) -> None:
    if not can(request.user, capability):
        raise PermissionDenied


def _vm_page_context(request: HttpRequest, answer: selectors.Answer[selectors.VmPage]) -> dict:
    """What _vm_table.html and the pagination show: a page of VMs and the totals of all of them."""
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "vms": answer,
        "rows": answer.rows.rows,
        "page_obj": answer.rows.page,
        "totals": answer.rows.totals,
        "query_without_page": query.urlencode(),
    }


def _charts(answer, prefix: str) -> list:
    return [usage_chart(data, chart_id=f"{prefix}-{data.name}") for data in answer.rows]


def _windows(request: HttpRequest) -> tuple[selectors.Window, list[tuple[str, str]]]:
    window = selectors.window_of(request.GET.get("window"))
    labels = {
        selectors.Window.HOUR: _("Hour"),
        selectors.Window.DAY: _("Day"),
        selectors.Window.WEEK: _("Week"),
        selectors.Window.MONTH: _("Month"),
    }
    return window, [(str(w), labels[w]) for w in selectors.Window]


@login_required
def host_list(request: HttpRequest) -> HttpResponse:
    _require(request, Capability.INVENTORY_VIEW)
    answer = selectors.host_usage_list(user=request.user)
    return render(request, "usage/host_list.html", {"answer": answer})


@login_required
def host_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Capability.INVENTORY_VIEW)
    server = get_object_or_404(server_list(user=request.user), pk=pk)
    window, windows = _windows(request)
    # The charts (four range queries and their SVG) come in a request of their own, as the VM page's
    # do: htmx asks for them once the page is shown (``part=charts``); without JavaScript, the link
    # shows the whole page with them.
    with_charts = request.GET.get("part") == "charts"
    charts = selectors.host_charts(server=server, window=window) if with_charts else None
    context = {
        "server": server,
        "charts_answer": charts,
        "charts": _charts(charts, f"host-{server.pk}") if charts else [],
        "with_charts": with_charts,
        "window": window,
        "windows": windows,
    }
    if with_charts and request.htmx:
        return render(request, "usage/_charts.html", context)
    usage = selectors.host_usage(user=request.user, server=server)
    vms = selectors.host_vm_usage_page(user=request.user, server=server, page=request.GET.get("page"))
    context.update(answer=usage, host=usage.rows, **_vm_page_context(request, vms))
    return render(request, "usage/host_detail.html", context)


@login_required
def vm_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A VM's real use: the full page, or (htmx, from the VM's page) its charts alone."""
    vm = get_object_or_404(restrict(request.user, VmRequest.objects.select_related("team", "owner")), pk=pk)
    window, windows = _windows(request)
    if vm.status != VmRequest.Status.ACTIVE or not vm.server_id:
        usage, charts = None, None
    else:
        usage = selectors.vm_usage(user=request.user, vm=vm)
        charts = selectors.vm_charts(vm=vm, window=window)
    context = {
        "vm": vm,
        "answer": usage,
        "usage": usage.rows if usage else None,
        "charts_answer": charts,
        "charts": _charts(charts, f"vm-{vm.pk}") if charts else [],
        "window": window,
        "windows": windows,
    }
    template = "usage/_vm_usage.html" if request.htmx else "usage/vm_detail.html"
    return render(request, template, context)


@login_required
def vm_list(request: HttpRequest) -> HttpResponse:
    """The VMs the user may see, busiest first, with their teams' totals."""
    answer = selectors.vm_usage_page(user=request.user, page=request.GET.get("page"))
    return render(request, "usage/vm_list.html", {"answer": answer, **_vm_page_context(request, answer)})


@login_required
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(restrict(request.user, Team.objects.all()), slug=slug)
    answer = selectors.vm_usage_page(user=request.user, team=team, page=request.GET.get("page"))
    context = {"team": team, "answer": answer, **_vm_page_context(request, answer)}
    return render(request, "usage/team_detail.html", context)


@login_required
def idle_list(request: HttpRequest) -> HttpResponse:
    """The idle VMs the user may see, by team; stop and delete for those who may."""
    flags = list(
        restrict(request.user, IdleVm.objects.all())
        .select_related("vm__team", "vm__owner")
        .order_by("vm__team__slug", "vm__name")
    )
    operable = set(
        restrict(
            request.user, VmRequest.objects.filter(pk__in=[f.vm_id for f in flags]), "operate"
        ).values_list("pk", flat=True)
    )
    teams: dict[str, list] = {}
    for flag in flags:
        teams.setdefault(flag.vm.team.name, []).append((flag, flag.vm_id in operable))
    return render(
        request,
        "usage/idle_list.html",
        {
            "teams": teams,
            "count": len(flags),
            "idle_days": settings.KENNEL_IDLE_DAYS,
            "idle_cpu": settings.KENNEL_IDLE_CPU_PERCENT,
            "idle_net": settings.KENNEL_IDLE_NETWORK_BYTES,
        },
    )


@require_POST
@login_required
def idle_reclaim(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    flag = get_object_or_404(restrict(request.user, IdleVm.objects.select_related("vm")), pk=pk)
    if action == "delete" and request.POST.get("confirm", "").strip() != flag.vm.name:
        messages.error(request, _("Type the VM's name to delete it."))
        return redirect("usage:idle")
    try:
        vm = services.idle_vm_reclaim(actor=request.user, flag=flag, action=action, source=origin(request))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        done = _("Stopping %(name)s.") if action == "stop" else _("Deleting %(name)s.")
        messages.success(request, done % {"name": vm.name})
    return redirect("usage:idle")
