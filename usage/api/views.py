"""``/api/v1/usage/``: the same figures as the pages (``kennel host top``, ``kennel vm top``). Each
answer carries ``state``: without Prometheus, or while it is away, the lists are empty and say why."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import InvalidPage
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as drf
from rest_framework.decorators import api_view
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from inventory.selectors import server_list
from portal.access import Capability, can, restrict
from portal.api.parsers import PG_INT_MAX
from portal.inputs import object_id
from portal.models import Team
from portal.origin import origin
from provisioning.models import VmRequest
from usage import selectors, services
from usage.api.serializers import (
    IdleReclaimSerializer,
    IdleVmSerializer,
    UsageHostDetailSerializer,
    UsageHostListSerializer,
    UsageVmDetailSerializer,
    UsageVmListSerializer,
)
from usage.models import IdleVm

WINDOW = OpenApiParameter("window", str, enum=[w.value for w in selectors.Window], description="chart range")


def _state(answer) -> dict:
    return {"state": str(answer.state), "error": answer.error}


def _inventory(request) -> None:
    if not can(request.user, Capability.INVENTORY_VIEW):
        raise PermissionDenied


@extend_schema(operation_id="usage_hosts_list", responses={200: UsageHostListSerializer})
@api_view(["GET"])
def host_list(request):
    """Every server's real CPU, memory, disk and network use beside Placement's allocation (managers
    and admins); hosts Prometheus knows and the inventory does not come last."""
    _inventory(request)
    answer = selectors.host_usage_list(user=request.user)
    return Response(UsageHostListSerializer({**_state(answer), "hosts": answer.rows}).data)


@extend_schema(
    operation_id="usage_host_read", parameters=[WINDOW], responses={200: UsageHostDetailSerializer}
)
@api_view(["GET"])
def host_detail(request, pk: str):
    """One server's figures and its CPU, memory, disk and network charts over the window."""
    _inventory(request)
    server = get_object_or_404(server_list(user=request.user), pk=pk)
    answer = selectors.host_usage(user=request.user, server=server)
    charts = selectors.host_charts(
        server=server, window=selectors.window_of(request.query_params.get("window"))
    )
    state = answer if not answer.ok else charts
    return Response(
        UsageHostDetailSerializer({**_state(state), "host": answer.rows, "charts": charts.rows}).data
    )


@extend_schema(
    operation_id="usage_vms_list",
    parameters=[
        OpenApiParameter("team", str, description="a team's short name"),
        OpenApiParameter(
            "host",
            {"type": "integer", "minimum": 1, "maximum": PG_INT_MAX},
            description="a server's id: the VMs Prometheus sees on it, as its page lists them (staff)",
        ),
        OpenApiParameter(
            "page",
            {"type": "integer", "minimum": 1, "maximum": PG_INT_MAX},
            description="50 VMs a page, busiest first; a page past the last (or not a number) is a 404",
        ),
    ],
    responses={200: UsageVmListSerializer},
)
@api_view(["GET"])
def vm_list(request):
    """The running VMs you may see (of one team with ``?team=``, on one server with ``?host=``), busiest
    first, 50 a page (``?page=``), with the totals of all of them."""
    page = request.query_params.get("page")
    try:
        # As every API list: an odd page is a 404 with the reason (the pages fall back to page 1).
        if "host" in request.query_params:
            _inventory(request)
            host = object_id(request.query_params["host"])
            if host is None:
                raise NotFound("No such server.")
            server = get_object_or_404(server_list(user=request.user), pk=host)
            answer = selectors.host_vm_usage_page(user=request.user, server=server, page=page, strict=True)
        else:
            team = None
            if request.query_params.get("team"):
                team = get_object_or_404(
                    restrict(request.user, Team.objects.all()), slug=request.query_params["team"]
                )
            answer = selectors.vm_usage_page(user=request.user, team=team, page=page, strict=True)
    except InvalidPage as error:
        raise NotFound(str(error)) from error
    shown = answer.rows.page
    data = {
        **_state(answer),
        "count": shown.paginator.count,
        "page": shown.number,
        "pages": shown.paginator.num_pages,
        "vms": answer.rows.rows,
        "totals": answer.rows.totals,
    }
    return Response(UsageVmListSerializer(data).data)


@extend_schema(operation_id="usage_vm_read", parameters=[WINDOW], responses={200: UsageVmDetailSerializer})
@api_view(["GET"])
def vm_detail(request, pk: str):
    """One VM's figures and its CPU, memory, disk and network charts (its team, managers, admins)."""
    vm = get_object_or_404(restrict(request.user, VmRequest.objects.select_related("team", "owner")), pk=pk)
    if vm.status != VmRequest.Status.ACTIVE or not vm.server_id:
        return Response(UsageVmDetailSerializer({"state": "ok", "error": "", "vm": None, "charts": []}).data)
    answer = selectors.vm_usage(user=request.user, vm=vm)
    charts = selectors.vm_charts(vm=vm, window=selectors.window_of(request.query_params.get("window")))
    state = answer if not answer.ok else charts
    return Response(UsageVmDetailSerializer({**_state(state), "vm": answer.rows, "charts": charts.rows}).data)


@extend_schema(responses={200: IdleVmSerializer(many=True)})
@api_view(["GET"])
def idle_list(request):
    """The idle VMs you may see, by team (from the last hourly scan)."""
    flags = restrict(request.user, IdleVm.objects.select_related("vm__team", "vm__owner"))
    return Response(IdleVmSerializer(flags.order_by("vm__team__slug", "vm__name"), many=True).data)


def _reclaim(request, pk: str, action: str):
    flag = get_object_or_404(restrict(request.user, IdleVm.objects.select_related("vm")), pk=pk)
    body = IdleReclaimSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    if action == "delete" and body.validated_data.get("confirm", "").strip() != flag.vm.name:
        raise drf.ValidationError({"confirm": ["Type the VM's name to delete it."]})
    try:
        services.idle_vm_reclaim(actor=request.user, flag=flag, action=action, source=origin(request))
    except ValidationError as error:
        raise drf.ValidationError({"detail": error.messages}) from None
    return Response({"vm": flag.vm_id, "action": action}, status=202)


@extend_schema(request=IdleReclaimSerializer, responses={202: None})
@api_view(["POST"])
def idle_stop(request, pk: str):
    """Stop an idle VM (its owner, its team's leads, admins)."""
    return _reclaim(request, pk, "stop")


@extend_schema(request=IdleReclaimSerializer, responses={202: None})
@api_view(["POST"])
def idle_delete(request, pk: str):
    """Delete an idle VM; ``confirm`` must be its name (its owner, its team's leads, admins)."""
    return _reclaim(request, pk, "delete")
