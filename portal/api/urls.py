"""The core's own API routes (me, sign-in, teams, people, audit, tokens); kennel.api_urls adds the apps'."""

from django.urls import include, path

from portal.api import views
from portal.api.routers import Router

router = Router()
router.register("teams", views.TeamViewSet, basename="team")
router.register("people", views.PersonViewSet, basename="person")
router.register("audit", views.AuditEventViewSet, basename="audit")
router.register("tokens", views.ApiTokenViewSet, basename="token")

urlpatterns = [
    path("me/", views.me, name="me"),
    path("auth/login/", views.login, name="auth-login"),
    path("auth/logout/", views.logout, name="auth-logout"),
    path("", include(router.urls)),
]
