"""Validation of user-data against cloud-init's JSON schema (taken from Debian's package)."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext

from provisioning.cloudinit.rendering import HEADER

# Nova refuses user_data longer than 65,535 bytes once base64-encoded.
NOVA_USER_DATA_LIMIT = 65_535


@functools.cache
def _validator(path: Path) -> jsonschema.protocols.Validator:
    try:
        schema = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"cloud-init's schema cannot be read from KENNEL_CLOUDINIT_SCHEMA={path} ({exc}); "
            "run scripts/cloudinit-schema.sh"
        ) from exc
    # Draft 4 with "#/$defs/..." references inside the same document: resolved without a registry.
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def schema_errors(config: Any) -> list[str]:
    """cloud-init's schema errors for a cloud-config mapping, as ``path: message`` lines."""
    validator = _validator(Path(settings.KENNEL_CLOUDINIT_SCHEMA))
    errors = sorted(validator.iter_errors(config), key=lambda error: list(map(str, error.absolute_path)))
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(top level)'}: {error.message}" for error in errors
    ]


def validate_user_data(text: str) -> list[str]:
    """What is wrong with this user-data: not #cloud-config, not YAML, not a mapping, too large for Nova,
    or failing cloud-init's schema. An empty list means valid."""
    if not text.startswith(HEADER + "\n"):
        return [gettext("User-data must start with a #cloud-config line.")]
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [gettext("User-data is not valid YAML: %(error)s") % {"error": exc}]
    if not isinstance(config, dict):
        return [gettext("User-data must be a mapping.")]
    errors = schema_errors(config)
    encoded = len(base64.b64encode(text.encode("utf-8")))
    if encoded > NOVA_USER_DATA_LIMIT:
        errors.append(
            gettext("User-data is %(size)s bytes once encoded; Nova accepts at most %(limit)s.")
            % {"size": encoded, "limit": NOVA_USER_DATA_LIMIT}
        )
    return errors
