"""The request types views are annotated with, so the type checker knows what the middleware and the
login check guarantee. Annotations only: Django builds the request objects."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from portal.models import User


class HtmxHttpRequest(HttpRequest):
    """Any request: django-htmx's middleware sets ``htmx`` on every one."""

    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    """A request that passed ``login_required`` or ``LoginRequiredMixin``: ``user`` is a person,
    never ``AnonymousUser``."""

    user: User
