from blueprints.api import views
from portal.api.routers import Router

router = Router()
router.register("blueprints", views.BlueprintViewSet, basename="blueprint")
router.register("blueprint-versions", views.BlueprintVersionViewSet, basename="blueprint-version")
router.register("services", views.ServiceViewSet, basename="service")

urlpatterns = router.urls
