"""Every model's get_FOO_display answers as Django's own, in English and in Chinese, for a choice, a
value that is no choice and an empty one, without translating each of the field's choices."""

from __future__ import annotations

from functools import partialmethod
from unittest import mock

import pytest
from django.apps import apps
from django.db.models import Model
from django.utils import translation

from inventory.models import HardwareState
from provisioning.models import VmRequest


def _djangos(instance: Model, field_name: str):
    return Model._get_FIELD_display(instance, instance._meta.get_field(field_name))


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("value", ["running", "stopped", "not-a-state", ""])
def test_the_answer_is_djangos(language, value):
    vm = VmRequest(server_state=value, status="active")
    with translation.override(language):
        assert vm.get_server_state_display() == _djangos(vm, "server_state")
        assert vm.get_status_display() == _djangos(vm, "status")
    if language == "zh-hans" and value == "running":
        with translation.override(language):
            assert vm.get_server_state_display() != "Running"  # translated, not the English label


def test_every_generated_display_is_replaced_and_own_ones_are_kept():
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.choices is not None:
                assert not isinstance(model.__dict__.get(f"get_{field.name}_display"), partialmethod), (
                    f"{model.__name__}.{field.name}"
                )


def test_only_the_label_shown_is_translated():
    state = HardwareState(power_state="on", health="ok")
    with mock.patch("django.utils.translation._trans.gettext", wraps=translation._trans.gettext) as calls:
        state.get_power_state_display()
        state.get_health_display()
    assert calls.call_count <= 2
