"""Rendering: parts merged in order into one cloud-config mapping and written as #cloud-config user-data
by PyYAML's emitter, never by string templates."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from provisioning.cloudinit.parts import ExtraConfigPart, Part, ProfileError
from provisioning.cloudinit.validators import (
    ARCH_RE,
    validate_hostname,
    validate_package_name,
    validate_ssh_public_key,
)

HEADER = "#cloud-config"


def merge_cloud_config(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` merged into a copy of ``base``: mappings merged key by key, lists appended (without
    repeating an item equal to one already there), anything else replaced by ``extra``'s value."""
    merged = copy.deepcopy(dict(base))
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = merge_cloud_config(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = current + [copy.deepcopy(item) for item in value if item not in current]
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def build_cloud_config(
    parts: Sequence[Part],
    *,
    architecture: str,
    hostname: str,
    extra_ssh_keys: Sequence[str] = (),
    extra_packages: Sequence[str] = (),
) -> dict[str, Any]:
    """The cloud-config mapping for one VM; ProfileError (a ValidationError) when it cannot be built.

    The request's own SSH keys go to the image's default user; its packages are added to the profile's.
    """
    errors: list[ValidationError] = []
    if not ARCH_RE.match(architecture):
        errors.append(
            ValidationError(_("%(value)s is not an architecture name."), params={"value": architecture})
        )
    try:
        validate_hostname(hostname)
    except ValidationError as exc:
        errors.extend(exc.error_list)
    for check, values in ((validate_ssh_public_key, extra_ssh_keys), (validate_package_name, extra_packages)):
        for value in values:
            try:
                check(value)
            except ValidationError as exc:
                errors.extend(exc.error_list)
    if errors:
        raise ProfileError(errors)

    config: dict[str, Any] = {"hostname": hostname}
    expert = [part for part in parts if part.kind == ExtraConfigPart.kind]
    for part in [part for part in parts if part.kind != ExtraConfigPart.kind]:
        config = merge_cloud_config(config, part.to_cloud_config(architecture))
    requested: dict[str, Any] = {}
    if extra_ssh_keys:
        requested["ssh_authorized_keys"] = list(extra_ssh_keys)
    if extra_packages:
        requested["packages"] = list(extra_packages)
    config = merge_cloud_config(config, requested)
    for part in expert:
        config = merge_cloud_config(config, part.to_cloud_config(architecture))
    return config


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe emitter, tuned for a readable preview: repeated objects are written out in full
    rather than as &id001 anchors, and file contents as literal blocks (``|``). The emitter itself falls
    back to a quoted style for any string a block cannot hold exactly."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def represent_str(self, data: str) -> yaml.ScalarNode:
        if any(c in data for c in "\x85\u2028\u2029\ufeff"):
            # YAML reads NEL, LS and PS as line breaks; with allow_unicode PyYAML writes them raw in plain
            # and single-quoted scalars, where a reader folds them away. Double quotes escape them.
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        if "\n" in data and "\r" not in data:
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return super().represent_str(data)


_Dumper.add_representer(str, _Dumper.represent_str)


def dump_user_data(config: Mapping[str, Any]) -> str:
    """``#cloud-config`` and the mapping as YAML; lines are never folded, so keys stay on one line."""
    body = yaml.dump(
        dict(config),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )
    return f"{HEADER}\n{body}"


def render_user_data(
    parts: Sequence[Part],
    *,
    architecture: str,
    hostname: str,
    extra_ssh_keys: Sequence[str] = (),
    extra_packages: Sequence[str] = (),
) -> str:
    """The #cloud-config user-data for one VM, written by the YAML emitter. Raises ProfileError."""
    return dump_user_data(
        build_cloud_config(
            parts,
            architecture=architecture,
            hostname=hostname,
            extra_ssh_keys=extra_ssh_keys,
            extra_packages=extra_packages,
        )
    )


# A user's password (hash) in user-data: ``hashed_passwd: $6$…``, ``passwd: …``, chpasswd's ``password:``.
_SECRET_LINE = re.compile(r"^(\s*(?:-\s+)?(?:hashed_passwd|passwd|password)\s*:\s*)(\S.*)$", re.MULTILINE)
HIDDEN = "<hidden>"


def user_data_redact(text: str) -> tuple[str, bool]:
    """``text`` with every password or password hash replaced by ``<hidden>``, for people who may not
    see them (a developer's preview of an admin's profile); True if anything was hidden. Only what is
    shown changes: the VM gets the real user-data."""
    redacted, count = _SECRET_LINE.subn(lambda m: m.group(1) + HIDDEN, text)
    return redacted, bool(count)
