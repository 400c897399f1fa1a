from django.urls import path

from catalog import views

app_name = "catalog"
urlpatterns = [
    path("images/", views.image_catalog, name="images"),
    path("images/<int:pk>/offer/", views.image_offer, name="image-offer"),
    path("images/<int:pk>/properties/", views.image_properties, name="image-properties"),
    path("flavors/", views.flavor_catalog, name="flavors"),
    path("flavors/<int:pk>/offer/", views.flavor_offer, name="flavor-offer"),
    path("imports/", views.image_import_list, name="imports"),
    path("imports/<int:pk>/", views.image_import_detail, name="import-detail"),
    path("imports/<int:pk>/retry/", views.image_import_retry, name="import-retry"),
    path("imports/<int:pk>/discard/", views.image_import_discard, name="import-discard"),
]
