from portal.api.routers import Router
from quotas.api.views import QuotaRequestViewSet, QuotaViewSet

router = Router()
router.register("quotas", QuotaViewSet, basename="quota")
router.register("quota-requests", QuotaRequestViewSet, basename="quota-request")
urlpatterns = router.urls
