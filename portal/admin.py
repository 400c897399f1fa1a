"""Django's admin for portal admins: a read-mostly window on every table, at /admin/.

Who: portal admins only (``User.is_portal_admin``; Django's ``is_staff`` and model permissions are not
used), signed in through Kennel's own login page. What: every model is read-only, since every change goes
through a service that checks and audits it; the few changes offered are admin actions that call those
services. The audit log can be read and searched, never changed or deleted, as everywhere else (and its
table refuses it too). Secrets (password hashes, token digests, encrypted BMC passwords, credentials) are
never shown.
"""

from __future__ import annotations

import re

from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from portal import services
from portal.origin import origin

SECRET_FIELD = re.compile(r"^password$|ciphertext|encrypted|secret|digest|credential", re.IGNORECASE)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Every field shown (secrets left out), nothing added, changed or deleted here."""

    def get_fields(self, request, obj=None):
        return [
            field.name
            for field in self.model._meta.get_fields()
            if field.concrete and not field.many_to_many and not SECRET_FIELD.search(field.name)
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_list_display(self, request):
        if self.list_display != ("__str__",):
            return self.list_display
        shown = [
            f.name
            for f in self.model._meta.concrete_fields
            if not SECRET_FIELD.search(f.name) and not isinstance(f, models.TextField | models.JSONField)
        ]
        return shown[:7] or ["__str__"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return admin.site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return admin.site.has_permission(request)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_name", "action", "target_repr", "source", "outcome")
    list_filter = ("outcome", "action")
    search_fields = ("actor_name", "action", "target_repr", "source")
    date_hierarchy = "created_at"


@admin.action(description=_("Keep the selected people out (deactivate)"))
def keep_out(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
    for user in queryset:
        try:
            services.user_set_active(actor=request.user, user=user, active=False, source=origin(request))
        except (PermissionDenied, ValidationError) as exc:
            modeladmin.message_user(request, f"{user}: {' '.join(getattr(exc, 'messages', [str(exc)]))}",
                                    messages.ERROR)  # fmt: skip


class UserAdmin(ReadOnlyAdmin):
    list_display = ("username", "role", "is_active", "is_superuser", "directory_dn", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("username", "first_name", "last_name", "email", "directory_dn")
    actions = [keep_out]


def register_read_only(app_label: str, **custom: type[admin.ModelAdmin]) -> None:
    """Every model of the app, read-only (``custom``: a ModelAdmin for a model, by class name)."""
    for model in apps.get_app_config(app_label).get_models():
        admin.site.register(model, custom.get(model.__name__, ReadOnlyAdmin))


register_read_only("portal", AuditEvent=AuditEventAdmin, User=UserAdmin)
# What Django's and django-axes' own admin modules registered (they load first) becomes read-only too:
# Kennel does not use auth groups, and sign-in records are evidence (limits end by their cool-off).
for _model in [m for m in admin.site._registry if m._meta.app_label in ("auth", "axes")]:
    admin.site.unregister(_model)
    if _model._meta.app_label == "axes":
        admin.site.register(_model, ReadOnlyAdmin)
