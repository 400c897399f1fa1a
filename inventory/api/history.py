"""Utilization history, its forecast and the estate's alerts, read-only (managers and admins), from the
same selectors as the dashboard and the history page."""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from inventory.api.utilization import ResourceUsageSerializer
from inventory.dashboard import AlertKind, estate_alerts
from inventory.history import (
    ForecastStatus,
    HistoryPoint,
    HistoryQueryInvalid,
    HistoryRange,
    HistoryResolution,
    Scope,
    history_query_parse,
    utilization_forecast,
    utilization_history,
)
from portal.access import Capability, can


def _require_inventory_view(request) -> None:
    if not can(request.user, Capability.INVENTORY_VIEW):
        raise PermissionDenied


class HistoryPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="start of the sample's 5-minute, hourly or daily bucket")
    host_count = serializers.IntegerField()
    vm_count = serializers.IntegerField()
    resources = ResourceUsageSerializer(many=True)

    def to_representation(self, instance: HistoryPoint) -> dict:
        # A year is hundreds of points per series: built directly (DRF's generic path was most of the
        # response time), in exactly the shape the fields above declare for the schema.
        at = timezone.localtime(instance.at).isoformat()
        return {
            "at": at[:-6] + "Z" if at.endswith("+00:00") else at,  # as DRF's DateTimeField writes it
            "host_count": instance.host_count,
            "vm_count": instance.vm_count,
            "resources": [
                {
                    "resource_class": r.resource_class,
                    "capacity": r.capacity,
                    "used": r.used,
                    "free": r.free,
                    "percent": r.percent,
                }
                for r in instance.resources
            ],
        }


class HistorySeriesSerializer(serializers.Serializer):
    key = serializers.CharField(help_text='the architecture, or the data center ("" for hosts without one)')
    points = HistoryPointSerializer(many=True)


class UtilizationHistorySerializer(serializers.Serializer):
    range = serializers.ChoiceField(choices=[r.value for r in HistoryRange], source="span")
    resolution = serializers.ChoiceField(choices=[r.value for r in HistoryResolution])
    scope = serializers.ChoiceField(choices=Scope.values)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    series = HistorySeriesSerializer(many=True)


class ForecastSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="the architecture (or data center)")
    resource_class = serializers.CharField()
    status = serializers.ChoiceField(choices=[s.value for s in ForecastStatus])
    status_label = serializers.CharField()
    threshold_percent = serializers.IntegerField()
    reaches_at = serializers.DateTimeField(
        allow_null=True, help_text="when the trend reaches the threshold (status reaches or reached)"
    )
    used = serializers.IntegerField(allow_null=True, help_text="the latest hourly sample's")
    capacity = serializers.IntegerField(allow_null=True, help_text="the latest hourly sample's")
    percent = serializers.FloatField(allow_null=True)
    growth_per_day = serializers.FloatField(allow_null=True, help_text="fitted slope, resource units a day")
    points = serializers.IntegerField(help_text="hourly samples in the window")
    since = serializers.DateTimeField(allow_null=True, help_text="the oldest sample used")


class AlertSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k.value for k in AlertKind])
    kind_label = serializers.CharField()
    message = serializers.CharField()
    server_id = serializers.IntegerField(allow_null=True)
    server_name = serializers.CharField()
    host = serializers.CharField(help_text="the hypervisor host name, if any")
    resource_class = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text="°C for a temperature, percent for a host")
    threshold = serializers.FloatField(allow_null=True)
    last_seen_at = serializers.DateTimeField(
        allow_null=True, help_text="when an unreachable BMC last answered"
    )
    detail = serializers.CharField()


_SCOPE = OpenApiParameter("scope", OpenApiTypes.STR, enum=Scope.values, description="default architecture")


@extend_schema(
    parameters=[
        OpenApiParameter(
            "range", OpenApiTypes.STR, enum=[r.value for r in HistoryRange], description="default week"
        ),
        OpenApiParameter(
            "resolution",
            OpenApiTypes.STR,
            enum=[r.value for r in HistoryResolution],
            description="default: 5m for a day, 1h for a week or month, 1d for a year; 5m up to a week",
        ),
        _SCOPE,
    ],
    responses={200: UtilizationHistorySerializer},
)
@api_view(["GET"])
def utilization_history_read(request):
    """Used against capacity per architecture (or data center) over a range: 5-minute samples (kept a
    week), hourly averages (kept a year) or daily averages of those."""
    _require_inventory_view(request)
    try:
        span, resolution, scope = history_query_parse(
            span=request.query_params.get("range"),
            resolution=request.query_params.get("resolution"),
            scope=request.query_params.get("scope"),
        )
    except HistoryQueryInvalid as invalid:
        raise ValidationError({"detail": str(invalid)}) from None
    history = utilization_history(user=request.user, span=span, resolution=resolution, scope=scope)
    return Response(UtilizationHistorySerializer(history).data)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "window_days",
            {"type": "integer", "minimum": 2, "maximum": 365},
            description="days of hourly history to fit (default 30, 2 to 365)",
        ),
        _SCOPE,
    ],
    responses={200: ForecastSerializer(many=True)},
)
@api_view(["GET"])
def utilization_forecast_read(request):
    """For each architecture (or data center) and resource: the date a least-squares trend of the used
    amount reaches the alert threshold (KENNEL_CAPACITY_ALERT_PERCENT) of the latest capacity, or why
    there is none (not rising, not within a year, not enough history)."""
    _require_inventory_view(request)
    raw_window = request.query_params.get("window_days")
    try:
        window = int(raw_window) if raw_window else None
    except ValueError:
        raise ValidationError({"window_days": "an integer number of days, 2 to 365"}) from None
    if window is not None and not 2 <= window <= 365:
        raise ValidationError({"window_days": "an integer number of days, 2 to 365"})
    scope = request.query_params.get("scope") or Scope.ARCHITECTURE
    if scope not in Scope.values:
        raise ValidationError({"scope": f"one of {', '.join(Scope.values)}"})
    forecasts = utilization_forecast(user=request.user, window_days=window, scope=scope)
    return Response(ForecastSerializer(forecasts, many=True).data)


@extend_schema(responses={200: AlertSerializer(many=True)})
@api_view(["GET"])
def alert_list(request):
    """What needs attention now: unreachable BMCs (with when they last answered), servers above the
    temperature threshold, compute hosts at or above the capacity threshold of any resource."""
    _require_inventory_view(request)
    return Response(AlertSerializer(estate_alerts(user=request.user), many=True).data)
