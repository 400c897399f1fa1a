"""Form fields of cloud-init parts: a list given one item a line, and a URL given per architecture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from provisioning.cloudinit.validators import ARCH_RE, validate_url


class LineListField(forms.Field):
    """A list of strings: one per line from a textarea, or a JSON list from stored data.

    Lines are split on newlines only and trimmed of spaces and tabs; blank lines are dropped. Each item
    goes through ``item_validators`` and errors name the item they are about.
    """

    widget = forms.Textarea(attrs={"rows": 4})
    default_error_messages = {
        "invalid": _("Enter one item per line."),
        "max_items": _("At most %(max)s items."),
    }

    def __init__(
        self, *, item_validators: Sequence[Any] = (), max_items: int | None = None, **kwargs: Any
    ) -> None:
        self.item_validators = list(item_validators)
        self.max_items = max_items
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, str):
            items = value.split("\n")
        elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            items = list(value)
        else:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return [item.strip(" \t\r") for item in items if item.strip(" \t\r")]

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        if self.max_items is not None and len(value) > self.max_items:
            raise ValidationError(
                self.error_messages["max_items"], code="max_items", params={"max": self.max_items}
            )

    def run_validators(self, value: list[str]) -> None:
        errors: list[ValidationError] = []
        for item in value:
            for validator in self.item_validators:
                try:
                    validator(item)
                except ValidationError as exc:
                    errors.extend(exc.error_list)
        if errors:
            raise ValidationError(errors)


class ArchUrlField(forms.Field):
    """Base URLs by architecture: ``{"x86_64": url, "ppc64le": url, "*": url}``.

    In a textarea, one ``ARCH URL`` pair per line. ``*`` is the URL for every architecture not listed.
    Architectures are not a fixed list: they come from the cloud's images.
    """

    widget = forms.Textarea(attrs={"rows": 3})
    default_error_messages = {
        "invalid": _("Enter one line per architecture: the architecture, a space, then the URL."),
        "arch": _("%(value)s is not an architecture name (such as x86_64 or ppc64le)."),
        "duplicate": _("%(value)s is given twice."),
    }

    def to_python(self, value: Any) -> dict[str, str]:
        if value in (None, ""):
            return {}
        if isinstance(value, dict):
            pairs = list(value.items())
        elif isinstance(value, str):
            pairs = []
            for line in value.split("\n"):
                if line.strip(" \t\r"):
                    arch, _sep, url = line.strip(" \t\r").partition(" ")
                    pairs.append((arch, url.strip(" \t")))
        else:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        urls: dict[str, str] = {}
        for arch, url in pairs:
            if not isinstance(arch, str) or not isinstance(url, str) or not url:
                raise ValidationError(self.error_messages["invalid"], code="invalid")
            if arch != "*" and not ARCH_RE.match(arch):
                raise ValidationError(self.error_messages["arch"], code="arch", params={"value": arch})
            if arch in urls:
                raise ValidationError(
                    self.error_messages["duplicate"], code="duplicate", params={"value": arch}
                )
            urls[arch] = url
        return urls

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return "\n".join(f"{arch} {url}" for arch, url in value.items())
        return value

    def validate(self, value: dict[str, str]) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")

    def run_validators(self, value: dict[str, str]) -> None:
        errors: list[ValidationError] = []
        for url in value.values():
            try:
                validate_url(url)
            except ValidationError as exc:
                errors.extend(exc.error_list)
        if errors:
            raise ValidationError(errors)
