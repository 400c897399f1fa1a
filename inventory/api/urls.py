from rest_framework.routers import SimpleRouter

from inventory.api.views import PowerRequestViewSet, ServerViewSet

router = SimpleRouter()
router.register("servers", ServerViewSet, basename="server")
router.register("power-requests", PowerRequestViewSet, basename="power-request")
urlpatterns = router.urls
