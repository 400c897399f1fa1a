"""The API's router: ids in paths are what PostgreSQL can hold, or the URL does not match (404)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from portal.inputs import ID_PATTERN  # anything else is a 404 before a view runs


class Router(SimpleRouter):
    """SimpleRouter whose viewsets looked up by ``pk`` match only ids (see ID_PATTERN); viewsets looked
    up by another field (a slug, a cloud id) keep their own pattern."""

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        if getattr(viewset, "lookup_field", "pk") == "pk" and not hasattr(viewset, "lookup_value_regex"):
            lookup_url_kwarg = getattr(viewset, "lookup_url_kwarg", None) or "pk"
            return self._base_pattern.format(
                lookup_prefix=lookup_prefix, lookup_url_kwarg=lookup_url_kwarg, lookup_value=ID_PATTERN
            )
        return super().get_lookup_regex(viewset, lookup_prefix)
