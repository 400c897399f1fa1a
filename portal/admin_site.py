"""Django's admin site for portal admins (portal/admin.py registers the tables; portal.apps names it)."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class KennelAdminSite(admin.AdminSite):
    site_header = _("Kennel administration")
    site_title = _("Kennel administration")
    index_title = _("Every table, read-only")

    def has_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and getattr(request.user, "is_portal_admin", False)

    def admin_view(self, view, cacheable=False):
        """Signed in but not a portal admin: 403 at once (Django would send them to its login)."""
        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def refuse_non_admins(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return refuse_non_admins

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """Kennel's own login page (its limits, audit and company accounts), never the admin's."""
        if request.user.is_authenticated:
            raise PermissionDenied  # signed in, but not a portal admin
        return redirect_to_login(request.GET.get("next", reverse("admin:index")), settings.LOGIN_URL)
