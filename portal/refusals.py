"""How a service's refusal (a ValidationError) reaches the person on a page: on the form they sent, or as
a message above the page. The API's twin is ``portal.api.errors.api_validation_error``."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest


def form_add_refusal(
    form: forms.BaseForm, error: ValidationError, *, field_of: Callable[[str], str] | None = None
) -> None:
    """Put ``error`` on ``form``: each field's messages on that field when the form has it, everything
    else (a plain message, ``__all__``, a field the form does not show) as non-field errors. Never raises,
    unlike ``form.add_error(None, error)`` with a field the form lacks. ``field_of`` maps a service's
    field name that is not the form's to the form's (e.g. ``bmc_address`` -> ``address``)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, problems in error.message_dict.items():
        name = key if key in form.fields or field_of is None else field_of(key)
        form.add_error(name if name in form.fields else None, problems)


def message_add_refusal(request: HttpRequest, error: ValidationError) -> None:
    """``error`` as one error message above the next page (for actions that have no form to show)."""
    messages.error(request, " ".join(error.messages))
