"""How a service's refusal becomes the API's answer, the same way in every app."""

from __future__ import annotations

from collections.abc import Collection

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent, ValidationError
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.views import exception_handler


def api_validation_error(
    error: ValidationError, *, nest_under: str | None = None, top_level: Collection[str] = ()
) -> ApiValidationError:
    """A service's ValidationError as a 400: field by field when it names fields (``__all__`` becomes
    ``non_field_errors``), else ``non_field_errors``. With ``nest_under``, the fields other than
    ``top_level`` go under that key, as a nested serializer's would (a quota request's ``values``)."""
    if not hasattr(error, "error_dict"):
        return ApiValidationError({"non_field_errors": error.messages})
    detail: dict[str, object] = {}
    nested: dict[str, list[str]] = {}
    for key, messages in error.message_dict.items():
        if key == "__all__":
            detail["non_field_errors"] = messages
        elif nest_under and key not in top_level:
            nested[key] = messages
        else:
            detail[key] = messages
    if nested and nest_under:
        detail[nest_under] = nested
    return ApiValidationError(detail)


def api_exception_handler(exc, context):
    """DRF's exception handler (``EXCEPTION_HANDLER``), plus: Django's refusals of a request's body (too
    large, too many fields or files), raised while DRF parses it, are a JSON 400 that says so rather
    than Django's HTML error page."""
    if isinstance(exc, RequestDataTooBig):
        size = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        exc = ParseError(
            _("The request body is larger than %(size)s MB.") % {"size": round(size / 1024 / 1024, 1)}
        )
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = ParseError(_("The request has too many fields or files."))
    return exception_handler(exc, context)
