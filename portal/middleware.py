"""Answers for the moments a service Kennel needs is away: the database (503, no database needed to say
so) and the broker (the work asked for is kept, and the person is told it is delayed)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from django.contrib import messages
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils.functional import SimpleLazyObject, empty
from django.utils.translation import gettext as _

from portal import queue
from portal.metrics import view_label
from portal.origin import client_ip
from portal.request_ids import HTTP_HEADER, request_id_bound, request_id_new, request_id_parse

DATABASE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 10
_FLAG = "_kennel_database_unavailable"


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON under /api/, else templates/503.html rendered without a request
    context (its processors would read the user, the session and the menu from the database)."""
    message = _(
        "Kennel's database cannot be reached right now. Nothing you sent was half-saved; "
        "try again in a moment."
    )
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message, "code": "database_unavailable"}, status=503)
    else:
        html = loader.get_template("503.html").render({"message": message, "path": request.get_full_path()})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database that is away (OperationalError, InterfaceError) into a clear 503 instead of a
    500. Placed first, so it also sees errors raised by the middleware below it (the session saved on
    the way out), which Django has already turned into a 500 by then: those are marked by the signal."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(request, _FLAG, False) and response.status_code >= 500:
            return database_unavailable_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_ERRORS):
            return database_unavailable_response(request)
        return None


def _mark_database_error(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    if request is not None and isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        setattr(request, _FLAG, True)


got_request_exception.connect(_mark_database_error, dispatch_uid="kennel-database-unavailable")


class WorkDelayedMiddleware:
    """When the broker could not take work this request asked for (portal.queue kept it for later), say
    so: a message on the next page, and a ``Kennel-Work-Delayed`` header for API clients."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        queue.work_delayed_reset()
        response = self.get_response(request)
        if queue.work_delayed():
            note = _(
                "Saved. Kennel's task queue cannot be reached right now, so the work is delayed; "
                "it starts by itself when the queue is back, nothing needs to be sent again."
            )
            response["Kennel-Work-Delayed"] = "queue unavailable"
            if not request.path.startswith("/api/"):
                messages.warning(request, note)
            queue.work_delayed_reset()
        return response


request_logger = logging.getLogger("kennel.requests")


def _username_if_known(request: HttpRequest) -> str | None:
    # Only a user the request already loaded: loading it here could hit a database that is away.
    user = getattr(request, "user", None)
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None
    return user.get_username() if user.is_authenticated else None


class RequestIdMiddleware:
    """Gives every request its id (portal.request_ids): the caller's ``X-Request-ID`` when it is one,
    else a new one. Logs and tasks of the request carry it, the answer returns it in ``X-Request-ID``,
    and one log line per request says what was answered, to whom and how fast."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_parse(request.headers.get(HTTP_HEADER)) or request_id_new()
        started = time.perf_counter()
        with request_id_bound(request_id):
            response = self.get_response(request)
            response[HTTP_HEADER] = request_id
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "view": view_label(request),
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "client": client_ip(request),
                    "user": _username_if_known(request),
                },
            )
        return response
