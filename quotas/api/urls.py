from rest_framework.routers import SimpleRouter

from quotas.api.views import QuotaRequestViewSet, QuotaViewSet

router = SimpleRouter()
router.register("quotas", QuotaViewSet, basename="quota")
router.register("quota-requests", QuotaRequestViewSet, basename="quota-request")
urlpatterns = router.urls
