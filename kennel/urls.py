"""Every page and API route: the core's own, then each app's."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from kennel import monitoring
from kennel import views as kennel_views
from portal import views
from portal.forms import LoginForm

api_patterns = [
    path("v1/", include(("kennel.api_urls", "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", kennel_views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # A first sign-in link (an admin added the person): choose a password, once, before it expires.
    path(
        "account/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="portal/password_set.html", success_url=reverse_lazy("login")
        ),
        name="password-set",
    ),
    path("people/add/", views.person_add, name="person-add"),
    path("people/<int:pk>/sign-in-link/", views.person_sign_in_link, name="person-sign-in-link"),
    path("teams/", views.TeamListView.as_view(), name="team-list"),
    path("teams/<slug:slug>/", kennel_views.TeamDetailView.as_view(), name="team-detail"),
    path("people/", views.people, name="people"),
    path("audit/", views.AuditEventListView.as_view(), name="audit-list"),
    path("account/tokens/", views.api_token_list, name="token-list"),
    path("account/tokens/<int:pk>/revoke/", views.api_token_revoke, name="token-revoke"),
    path("admin/", admin.site.urls),  # Django's admin, read-mostly, portal admins only (portal/admin.py)
    path("health/", views.health, name="health"),
    path("metrics", monitoring.metrics, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("inventory/", include("inventory.urls")),
    path("vms/", include("provisioning.urls")),
    path("catalog/", include("catalog.urls")),
    path("quotas/", include("quotas.urls")),
    path("onboarding/", include("onboarding.urls")),
    path("usage/", include("usage.urls")),
    path("api/", include(api_patterns)),
]

# The portal's own error pages (portal/errors.py); Django's debug page only ever shows in development.
handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"
