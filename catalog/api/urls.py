from catalog.api import views
from portal.api.routers import Router

router = Router()
router.register("catalog/manage/images", views.CatalogImageViewSet, basename="catalog-image")
router.register("catalog/manage/flavors", views.CatalogFlavorViewSet, basename="catalog-flavor")
router.register(
    "catalog/manage/property-changes", views.ImagePropertyChangeViewSet, basename="image-property-change"
)
router.register("image-imports", views.ImageImportViewSet, basename="image-import")
urlpatterns = router.urls
