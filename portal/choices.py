"""``get_FOO_display()`` without its cost.

Django's own builds a dict of the field's choices on every call and hashes each label to do so; a
label is translated text, so each call translates every choice of the field (a VM's state has about
twenty). A list of 50 rows with two such columns paid that 100 times: a fifth of the VM list's time.
``choice_displays_install`` (run once the models are loaded) gives every model field with choices a
``get_FOO_display`` that looks its value up in a table built once per field and translates only the
label it returns. A model that defines its own ``get_FOO_display`` keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partialmethod
from typing import Any

from django.apps import apps
from django.db.models import Field, Model
from django.utils.encoding import force_str


def _display(field: Field) -> Callable[[Model], Any]:
    labels: dict[Any, Any] = {}

    def get_display(instance: Model) -> Any:
        value = getattr(instance, field.attname)
        if not labels:
            labels.update(field.flatchoices)  # (value, label) pairs; values are plain and hashable
        try:
            label = labels.get(value, value)
        except TypeError:  # an unhashable value is no choice: shown as it is, as Django does
            label = value
        return force_str(label, strings_only=True)

    get_display.__name__ = f"get_{field.name}_display"
    return get_display


def choice_displays_install() -> int:
    """Replace Django's generated ``get_FOO_display`` of every loaded model; returns how many."""
    installed = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            name = f"get_{field.name}_display"
            if field.choices is not None and isinstance(model.__dict__.get(name), partialmethod):
                setattr(model, name, _display(field))
                installed += 1
    return installed
