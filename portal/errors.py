"""The portal's error pages (400, 403, 404, 500 and a refused CSRF check), in its own layout, and the
guard that refuses what no HTML page can use before any view runs.

Django's own handlers are replaced so every page but the 500 is rendered with the request: the menu
the person is allowed, their language, a way back. Under /api/ the same errors are JSON in the API's
shape. The 500 page is rendered without a request context (no user, no session, no menu from the
database), so it renders when the database is what failed. With DEBUG off (always, in production:
settings.py refuses DEBUG there) these are what people see instead of Django's debug page."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


# Under /api/ the same answers are JSON, in the shape of the API's own errors.
_API_DETAIL = {
    400: "Bad request.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    500: "Server error.",
}


def _api_error(request: HttpRequest, status: int, message: str = "") -> HttpResponse | None:
    if not request.path.startswith(API_PREFIX):
        return None
    return JsonResponse({"detail": message or _API_DETAIL[status]}, status=status)


def _page(request: HttpRequest, template: str, status: int, context: dict | None = None) -> HttpResponse:
    """``template`` with the request's context (menu, user, language); if that cannot be had (the user
    or the menu needs the database, which may be what failed), the same page without it."""
    api = _api_error(request, status, (context or {}).get("message", ""))
    if api is not None:
        return api
    context = {"status": status, **(context or {})}
    try:
        return render(request, template, context, status=status)
    except Exception:
        logger.warning("error page %s rendered without the request's context", status, exc_info=True)
        return HttpResponse(loader.get_template(template).render(context), status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None, message: str = "") -> HttpResponse:
    return _page(request, "400.html", 400, {"message": message})


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # A service's refusal may carry a sentence for the person (PermissionDenied("Only leads may ...")).
    return _page(request, "403.html", 403, {"message": str(exception or "")})


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, "404.html", 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """No request context and no database: the layout, the sentence, a link home."""
    api = _api_error(request, 500)
    if api is not None:
        return api
    return HttpResponse(loader.get_template("500.html").render({"status": 500}), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _page(request, "403_csrf.html", 403)


def nul_problem(request: HttpRequest) -> str | None:
    """What no page can use: a NUL character in the query string (PostgreSQL cannot store or compare
    text holding one). Form fields refuse NUL themselves, with an error on the field."""
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return _("The address contains a NUL character (%(code)s), which no page accepts.") % {
                "code": "%00"
            }
    return None


class HtmlInputGuardMiddleware:
    """Refuses (400, on the portal's error page) a page request whose query string holds a NUL, before
    any view reads it. The API has its own guard (portal.api)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            problem = nul_problem(request)
            if problem:
                return bad_request(request, message=problem)
        return self.get_response(request)
