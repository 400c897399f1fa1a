"""``Authorization: Bearer kn_…`` with a personal API token (the ``kennel`` CLI uses this)."""

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS

from portal.services import ApiTokenExpired, api_token_use

# What a read-only token may still do besides reading: give itself up.
READ_ONLY_MAY_POST = frozenset({"auth-logout"})


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Use the header 'Authorization: Bearer <token>'."))
        try:
            token = api_token_use(header[1].decode(errors="replace"))
        except ApiTokenExpired as expired:
            when = formats.date_format(timezone.localtime(expired.expires_at), "DATETIME_FORMAT")
            raise exceptions.AuthenticationFailed(
                _("This token expired on %(when)s: create a new one under API tokens, or run 'kennel login'.")
                % {"when": when}
            ) from None
        if token is None:
            raise exceptions.AuthenticationFailed(
                _(
                    "Invalid, expired or revoked token: create a new one under API tokens, "
                    "or run 'kennel login'."
                )
            )
        if token.read_only and request.method not in SAFE_METHODS:
            match = getattr(request._request, "resolver_match", None)
            if match is None or match.url_name not in READ_ONLY_MAY_POST:
                # Checked here, where every token request passes, so no endpoint can forget it.
                raise exceptions.PermissionDenied(
                    _(
                        "This token is read-only: it may only read. Use a token with full access "
                        "to change things."
                    )
                )
        # request.auth is the token itself, so that POST /api/v1/auth/logout/ can revoke it.
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "portal.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (kn_…); a read-only one gets 403 on any change.",
        }
