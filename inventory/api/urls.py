from django.urls import path

from inventory.api.history import alert_list, utilization_forecast_read, utilization_history_read
from inventory.api.utilization import utilization
from inventory.api.views import DataCenterViewSet, PowerRequestViewSet, ServerViewSet
from portal.api.routers import Router

router = Router()
router.register("servers", ServerViewSet, basename="server")
router.register("power-requests", PowerRequestViewSet, basename="power-request")
router.register("datacenters", DataCenterViewSet, basename="datacenter")
urlpatterns = [
    path("utilization/", utilization, name="utilization"),
    path("utilization/history/", utilization_history_read, name="utilization-history"),
    path("utilization/forecast/", utilization_forecast_read, name="utilization-forecast"),
    path("alerts/", alert_list, name="alerts"),
    *router.urls,
]
