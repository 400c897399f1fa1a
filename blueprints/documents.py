"""Blueprints as text: a YAML document per version, so blueprints can live in a repository.

Reading never builds Python objects (``yaml.safe_load``), refuses anchors and aliases (a small document
must not expand into a huge one) and documents over ``DOCUMENT_MAX_BYTES``, and checks the document with
``spec_clean``, so every error names its place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from blueprints.spec import SPEC_FORMAT, SPEC_KEYS, spec_clean

DOCUMENT_MAX_BYTES = 256_000
BLUEPRINT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


@dataclass(frozen=True)
class BlueprintDocument:
    name: str
    description: str
    spec: dict[str, Any]


class _Dumper(yaml.SafeDumper):
    """Readable documents: multi-line text as literal blocks, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if "\n" in data and "\r" not in data and not any(c in data for c in "\x85\u2028\u2029\ufeff"):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return super().represent_str(data)


_Dumper.add_representer(str, _Dumper.represent_str)


def document_dump(*, name: str, description: str, spec: dict[str, Any]) -> str:
    """The YAML document of a blueprint version (what ``document_parse`` reads back)."""
    data = {"kennel_blueprint": SPEC_FORMAT, "name": name, "description": description}
    data.update({key: spec[key] for key in SPEC_KEYS if key in spec})
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


def document_parse(text: str) -> BlueprintDocument:
    """A blueprint document read and checked; ValidationError with every problem and where it is."""
    if len(text.encode("utf-8", errors="replace")) > DOCUMENT_MAX_BYTES:
        raise ValidationError(
            _("A blueprint document may be at most %(max)s bytes.") % {"max": DOCUMENT_MAX_BYTES}
        )
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ValidationError(_("YAML anchors and aliases (&name, *name) are not allowed."))
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValidationError(_("This is not valid YAML: %(error)s") % {"error": error}) from None
    except UnicodeError:
        raise ValidationError(_("This text is not valid Unicode.")) from None
    if not isinstance(data, dict):
        raise ValidationError(_("A blueprint document must be a mapping."))
    problems = []
    if data.get("kennel_blueprint") != SPEC_FORMAT:
        problems.append(_("kennel_blueprint: this Kennel reads format %(format)s.") % {"format": SPEC_FORMAT})
    name = data.get("name")
    if not isinstance(name, str) or not BLUEPRINT_NAME.match(name):
        problems.append(_("name: 1 to 40 lower-case letters, digits and hyphens."))
    description = data.get("description") or ""
    if not isinstance(description, str) or len(description) > 2000:
        problems.append(_("description: text of at most 2000 characters."))
    body = {
        key: value for key, value in data.items() if key not in ("kennel_blueprint", "name", "description")
    }
    try:
        spec = spec_clean(body)
    except ValidationError as error:
        problems.extend(error.messages)
    if problems:
        raise ValidationError(problems)
    assert isinstance(name, str) and isinstance(description, str)
    return BlueprintDocument(name=name, description=description, spec=spec)
