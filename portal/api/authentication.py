"""``Authorization: Bearer kn_…`` with a personal API token (the ``kennel`` CLI uses this)."""

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portal.services import api_token_use


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Use the header 'Authorization: Bearer <token>'."))
        token = api_token_use(header[1].decode(errors="replace"))
        if token is None:
            raise exceptions.AuthenticationFailed(
                _(
                    "Invalid, expired or revoked token: create a new one under API tokens, "
                    "or run 'kennel login'."
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
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (kn_…)."}
