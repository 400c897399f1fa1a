from django.urls import path
from rest_framework.routers import SimpleRouter

from inventory.api.utilization import utilization
from inventory.api.views import DataCenterViewSet, PowerRequestViewSet, ServerViewSet

router = SimpleRouter()
router.register("servers", ServerViewSet, basename="server")
router.register("power-requests", PowerRequestViewSet, basename="power-request")
router.register("datacenters", DataCenterViewSet, basename="datacenter")
urlpatterns = [path("utilization/", utilization, name="utilization"), *router.urls]
