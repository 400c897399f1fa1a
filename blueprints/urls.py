from django.urls import path

from blueprints import views

app_name = "blueprints"
urlpatterns = [
    path("", views.blueprint_list, name="list"),
    path("<int:pk>/", views.blueprint_detail, name="detail"),
    path("versions/<int:pk>/export/", views.blueprint_version_export, name="version-export"),
    path("services/<int:pk>/", views.service_detail, name="service-detail"),
    path("services/<int:pk>/scale/", views.service_scale, name="service-scale"),
    path("services/<int:pk>/upgrade/", views.service_upgrade, name="service-upgrade"),
    path("services/<int:pk>/rollback/", views.service_rollback, name="service-rollback"),
    path("services/<int:pk>/retry/", views.service_retry, name="service-retry"),
    path("services/<int:pk>/delete/", views.service_delete, name="service-delete"),
]
