"""One way for a service's refusal to reach a form, a message, or the API."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from portal.api.errors import api_validation_error
from portal.refusals import form_add_refusal, message_add_refusal


class NameForm(forms.Form):
    name = forms.CharField()
    address = forms.CharField(required=False)


def bound_form() -> NameForm:
    form = NameForm({"name": "x"})
    assert form.is_valid()
    return form


def test_field_errors_land_on_their_fields_and_the_rest_above_the_form():
    form = bound_form()
    form_add_refusal(form, ValidationError({"name": "Taken.", "__all__": "Not now.", "cores": "Too many."}))
    assert form.errors["name"] == ["Taken."]
    assert form.non_field_errors() == ["Not now.", "Too many."]


def test_an_unknown_field_never_raises_where_add_error_would():
    with pytest.raises(ValueError):
        bound_form().add_error(None, ValidationError({"cores": "Too many."}))
    form = bound_form()
    form_add_refusal(form, ValidationError({"cores": "Too many."}))
    assert form.non_field_errors() == ["Too many."]


def test_a_plain_refusal_is_a_non_field_error():
    form = bound_form()
    form_add_refusal(form, ValidationError(["One.", "Two."]))
    assert form.non_field_errors() == ["One.", "Two."] and "name" not in form.errors


def test_field_of_maps_the_services_names_to_the_forms():
    form = bound_form()
    error = ValidationError({"bmc_address": "Outside the BMC networks.", "name": "Taken."})
    form_add_refusal(form, error, field_of=lambda field: field.removeprefix("bmc_"))
    assert form.errors["address"] == ["Outside the BMC networks."] and form.errors["name"] == ["Taken."]


def test_a_refusal_without_a_form_is_one_message():
    request = RequestFactory().post("/")
    request.session = {}
    request._messages = FallbackStorage(request)
    message_add_refusal(request, ValidationError(["Busy.", "Try later."]))
    assert [str(m) for m in get_messages(request)] == ["Busy. Try later."]


def test_the_api_answers_field_by_field():
    detail = api_validation_error(ValidationError({"name": "Taken.", "__all__": "Not now."})).detail
    assert detail == {"name": ["Taken."], "non_field_errors": ["Not now."]}
    assert api_validation_error(ValidationError("No.")).detail == {"non_field_errors": ["No."]}


def test_the_api_nests_other_fields_when_asked():
    error = ValidationError({"reason": "Say why.", "cores": "Too many.", "__all__": "Not now."})
    detail = api_validation_error(error, nest_under="values", top_level=("reason",)).detail
    assert detail == {
        "reason": ["Say why."],
        "values": {"cores": ["Too many."]},
        "non_field_errors": ["Not now."],
    }
