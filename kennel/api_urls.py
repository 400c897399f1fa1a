"""``/api/v1/``: the core's routes and every app's, under one namespace."""

from django.urls import include, path

from portal.api.urls import urlpatterns as core_patterns

urlpatterns = [
    *core_patterns,
    path("", include("inventory.api.urls")),
    path("", include("provisioning.api.urls")),
    path("", include("quotas.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("onboarding.api.urls")),
    path("", include("usage.api.urls")),
    path("", include("blueprints.api.urls")),
]
