"""Rate limits for the endpoints that take a password."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class LoginRateThrottle(SimpleRateThrottle):
    """Password attempts per client address (``DEFAULT_THROTTLE_RATES["login"]``), successful or not.

    Failed attempts are also in the audit log (Django's ``user_login_failed`` signal)."""

    scope = "login"

    def get_rate(self) -> str | None:
        # Read when asked rather than at import (DRF's default), so that changed settings apply.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        # REMOTE_ADDR, as the audit log's origin() uses: DRF's get_ident() would believe any
        # X-Forwarded-For header a client sends, and so let it choose its own bucket.
        ident = request.META.get("REMOTE_ADDR", "?")
        return self.cache_format % {"scope": self.scope, "ident": ident}
