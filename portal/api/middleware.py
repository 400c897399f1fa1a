"""Refuse, for the whole API at once, what no view can use: a NUL character (``%00``) in the path or the
query string (PostgreSQL cannot compare text holding one, so any lookup would fail), and query
strings or single values too long to mean anything. The JSON body has its own bounds (parsers.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

API_PREFIX = "/api/"
# Far above any filter the API has (ordering, search, ids) and below what proxies cut off.
MAX_QUERY_STRING = 8192


class ApiInputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            problem = self.problem(request)
            if problem:
                return JsonResponse({"detail": problem}, status=400)
        return self.get_response(request)

    @staticmethod
    def problem(request: HttpRequest) -> str | None:
        if "\x00" in request.path:
            return _("The path may not contain NUL characters.")
        if len(request.META.get("QUERY_STRING", "")) > MAX_QUERY_STRING:
            return _("The query string is longer than %(limit)s characters.") % {"limit": MAX_QUERY_STRING}
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return _("The query parameter %(name)s may not contain NUL characters.") % {
                    "name": key.replace("\x00", "\\0")
                }
        return None
