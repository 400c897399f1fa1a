"""A blueprint version's recipe (its "spec"), validated; and a service's parameter values, validated and
substituted into it.

A spec is plain data (stored as JSON, exported and imported as YAML)::

    architectures: {x86_64: {image: centos-stream-9-x86_64, flavor: m1.small}, ppc64le: {...}}
    profile: dc1-standard            # a cloud-init profile by name, or null
    parameters: [{name: port, type: port, default: 8080, label: "HTTP port"}, ...]
    packages: [nginx]
    files: [{path: /etc/nginx/conf.d/files.conf, content: "listen {{ port }};", permissions: "0644"}]
    units: [{name: kennel-agent.service, content: "[Unit]...", enable: true}]
    commands: [[systemctl, restart, nginx]]   # argument lists, run once; never a shell line
    ports: [{port: "{{ port }}", protocol: tcp}]

Parameters are typed (port, integer, string, url, users, domains) and every value is validated before it
is substituted for ``{{ name }}`` in file and unit contents and in command arguments: no value can hold
a line break or other control character, so none can add a line to a configuration file, and the
rendered mapping is written by the YAML emitter (``provisioning.cloudinit``), so none can inject YAML;
commands are argument lists, which cloud-init quotes, so none can inject shell. A list value is joined
with spaces, or with ``{{ name|comma }}`` commas, ``{{ name|lines }}`` line breaks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from portal.architectures import Architecture
from provisioning.cloudinit import (
    USER_NAME_RE,
    validate_hostname,
    validate_package_name,
    validate_single_line,
    validate_url,
)

SPEC_FORMAT = 1
PLACEHOLDER = re.compile(r"\{\{\s*([a-z][a-z0-9_]{0,39})\s*(?:\|\s*([a-z]+)\s*)?\}\}")
PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
JOINS = {"": " ", "comma": ",", "lines": "\n"}
FILE_PATH = re.compile(r"^(/[A-Za-z0-9._@+-]+)+$")
FILE_MODE = re.compile(r"^0?[0-7]{3}$")
FILE_OWNER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}:[a-z_][a-z0-9_-]{0,31}$")
UNIT_NAME = re.compile(r"^[A-Za-z0-9@_.-]{1,200}\.(service|timer|socket|path|target|mount)$")
CONTENT_MAX_CHARS = 32_000
ARGUMENT_MAX_CHARS = 1_000
STRING_MAX_CHARS = 200
URL_MAX_CHARS = 2_000
LIST_MAX_ITEMS = 100
SPEC_KEYS = ("architectures", "profile", "parameters", "packages", "files", "units", "commands", "ports")
LIMITS = {"parameters": 30, "packages": 200, "files": 50, "units": 20, "commands": 50, "ports": 20}


class ParameterType(StrEnum):
    PORT = "port"
    INTEGER = "integer"
    STRING = "string"
    URL = "url"
    USERS = "users"
    DOMAINS = "domains"


LIST_TYPES = (ParameterType.USERS, ParameterType.DOMAINS)
PARAMETER_TYPES = [t.value for t in ParameterType]


@dataclass(frozen=True)
class Parameter:
    """One typed parameter of a blueprint. ``default`` None: a service must give a value."""

    name: str
    type: ParameterType
    label: str = ""
    help: str = ""
    default: Any = None
    min: int | None = None
    max: int | None = None
    pattern: str = ""
    max_length: int = STRING_MAX_CHARS

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Parameter:
        fields: dict[str, Any] = {k: v for k, v in data.items() if k != "type"}
        return cls(type=ParameterType(data["type"]), **fields)

    @property
    def required(self) -> bool:
        return self.default is None

    def clean(self, raw: Any) -> Any:
        """The value as the service keeps it (int, str or list of str); ValidationError saying why not."""
        if self.type in (ParameterType.PORT, ParameterType.INTEGER):
            return self._clean_integer(raw)
        if self.type in LIST_TYPES:
            return self._clean_list(raw)
        if not isinstance(raw, str):
            raise ValidationError(_("Give text."), code="type")
        validate_single_line(raw)
        if self.type == ParameterType.URL:
            if len(raw) > URL_MAX_CHARS:
                raise ValidationError(_("At most %(max)s characters.") % {"max": URL_MAX_CHARS})
            validate_url(raw)
            return raw
        if len(raw) > self.max_length:
            raise ValidationError(_("At most %(max)s characters.") % {"max": self.max_length})
        if self.pattern and not re.fullmatch(self.pattern, raw):
            raise ValidationError(
                _("%(value)s does not match the pattern %(pattern)s.")
                % {"value": raw, "pattern": self.pattern}
            )
        return raw

    def _clean_integer(self, raw: Any) -> int:
        if isinstance(raw, str) and re.fullmatch(r"-?[0-9]{1,10}", raw.strip()):
            raw = int(raw.strip())
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValidationError(_("Give a whole number."), code="type")
        low, high = (1, 65535) if self.type == ParameterType.PORT else (self.min, self.max)
        low = -(2**31) if low is None else low
        high = 2**31 - 1 if high is None else high
        if not low <= raw <= high:
            raise ValidationError(
                _("Give a number from %(min)s to %(max)s.") % {"min": low, "max": high}, code="range"
            )
        return raw

    def _clean_list(self, raw: Any) -> list[str]:
        if isinstance(raw, str):
            raw = raw.replace(",", " ").split()
        if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
            raise ValidationError(_("Give a list of names."), code="type")
        items = list(dict.fromkeys(item.strip() for item in raw if item.strip()))
        if len(items) > LIST_MAX_ITEMS:
            raise ValidationError(_("At most %(max)s items.") % {"max": LIST_MAX_ITEMS})
        for item in items:
            if self.type == ParameterType.USERS:
                if not USER_NAME_RE.match(item):
                    raise ValidationError(
                        _("%(value)s is not a user name (lower-case letters, digits, _ and -).")
                        % {"value": item}
                    )
            else:
                validate_hostname(item.removeprefix("."))
        return items

    def sample(self) -> Any:
        """A value for previews when the blueprint has no default."""
        if self.default is not None:
            return self.default
        return {
            ParameterType.PORT: 8080,
            ParameterType.INTEGER: self.min if self.min is not None else 1,
            ParameterType.STRING: "example",
            ParameterType.URL: "https://example.org/",
            ParameterType.USERS: ["alice"],
            ParameterType.DOMAINS: ["example.org"],
        }[self.type]


def _errors(problems: list[str]) -> ValidationError:
    return ValidationError([ValidationError(p, code="spec") for p in problems])


def _placeholders(text: str, where: str, known: Mapping[str, Parameter], problems: list[str]) -> None:
    for match in PLACEHOLDER.finditer(text):
        name, join = match.group(1), match.group(2) or ""
        if name not in known:
            problems.append(
                _("%(where)s: {{ %(name)s }} is not a parameter.") % {"where": where, "name": name}
            )
        elif join not in JOINS:
            problems.append(
                _("%(where)s: |%(join)s is not a way to join a list.") % {"where": where, "join": join}
            )
        elif join and known[name].type not in LIST_TYPES:
            problems.append(_("%(where)s: only a list can be joined.") % {"where": where})


def _text(value: Any, where: str, problems: list[str], *, max_chars: int, single_line: bool) -> str:
    if not isinstance(value, str) or not value:
        problems.append(_("%(where)s: give text.") % {"where": where})
        return ""
    if len(value) > max_chars:
        problems.append(_("%(where)s: at most %(max)s characters.") % {"where": where, "max": max_chars})
    check = validate_single_line if single_line else _validate_content
    try:
        check(value)
    except ValidationError as error:
        problems.extend(f"{where}: {message}" for message in error.messages)
    return value


def _validate_content(value: str) -> None:
    """File contents: any text with tabs and line breaks, nothing else below space."""
    validate_single_line(value.replace("\n", "").replace("\t", ""))


def _list(data: Mapping[str, Any], key: str, problems: list[str]) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        problems.append(_("%(key)s: give a list.") % {"key": key})
        return []
    if len(value) > LIMITS[key]:
        problems.append(_("%(key)s: at most %(max)s items.") % {"key": key, "max": LIMITS[key]})
        return []
    return value


def _fields(entry: Any, where: str, allowed: set[str], problems: list[str]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        problems.append(_("%(where)s: give a mapping.") % {"where": where})
        return {}
    unknown = sorted(set(map(str, entry)) - allowed)
    if unknown:
        problems.append(_("%(where)s: unknown keys %(keys)s.") % {"where": where, "keys": ", ".join(unknown)})
    return entry


def spec_clean(data: Any) -> dict[str, Any]:
    """The spec, normalised (defaults filled in); ValidationError listing every problem with its place
    (``files[2].path: ...``)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise _errors([_("A blueprint must be a mapping.")])
    unknown = sorted(set(map(str, data)) - set(SPEC_KEYS))
    if unknown:
        problems.append(_("Unknown keys: %(keys)s.") % {"keys": ", ".join(unknown)})
    spec: dict[str, Any] = {}

    archs = data.get("architectures")
    spec["architectures"] = {}
    if not isinstance(archs, dict) or not archs:
        problems.append(_("architectures: give at least one architecture with its image and flavor."))
    else:
        for arch, entry in archs.items():
            where = f"architectures.{arch}"
            if arch not in Architecture.values:
                problems.append(_("%(where)s: not an architecture of this cloud.") % {"where": where})
                continue
            entry = _fields(entry, where, {"image", "flavor"}, problems)
            spec["architectures"][arch] = {
                key: _text(entry.get(key), f"{where}.{key}", problems, max_chars=255, single_line=True)
                for key in ("image", "flavor")
            }

    profile = data.get("profile")
    if profile is not None:
        profile = _text(profile, "profile", problems, max_chars=100, single_line=True)
    spec["profile"] = profile or None

    parameters: dict[str, Parameter] = {}
    spec["parameters"] = []
    for index, entry in enumerate(_list(data, "parameters", problems)):
        where = f"parameters[{index}]"
        entry = _fields(
            entry,
            where,
            {"name", "type", "label", "help", "default", "min", "max", "pattern", "max_length"},
            problems,
        )
        name, kind = entry.get("name"), entry.get("type")
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            problems.append(
                _("%(where)s.name: lower-case letters, digits and _, starting with a letter.")
                % {"where": where}
            )
            continue
        if name in parameters:
            problems.append(_("%(where)s.name: %(name)s is given twice.") % {"where": where, "name": name})
            continue
        if kind not in PARAMETER_TYPES:
            problems.append(
                _("%(where)s.type: one of %(types)s.") % {"where": where, "types": ", ".join(PARAMETER_TYPES)}
            )
            continue
        clean: dict[str, Any] = {"name": name, "type": kind}
        for key in ("label", "help", "pattern"):
            if entry.get(key) not in (None, ""):
                clean[key] = _text(entry[key], f"{where}.{key}", problems, max_chars=500, single_line=True)
        for key in ("min", "max", "max_length"):
            if entry.get(key) is not None:
                if isinstance(entry[key], bool) or not isinstance(entry[key], int):
                    problems.append(_("%(where)s: give a whole number.") % {"where": f"{where}.{key}"})
                else:
                    clean[key] = entry[key]
        if clean.get("pattern"):
            try:
                re.compile(clean["pattern"])
            except re.error as error:
                problems.append(_("%(where)s.pattern: %(error)s") % {"where": where, "error": error})
        try:
            parameter = Parameter.from_data(clean)
            if entry.get("default") is not None:
                clean["default"] = parameter.clean(entry["default"])
                parameter = Parameter.from_data(clean)
        except ValidationError as error:
            problems.extend(f"{where}.default: {message}" for message in error.messages)
            continue
        except (TypeError, re.error):
            problems.append(_("%(where)s: not a valid parameter.") % {"where": where})
            continue
        parameters[name] = parameter
        spec["parameters"].append(clean)

    spec["packages"] = []
    for index, package in enumerate(_list(data, "packages", problems)):
        try:
            if not isinstance(package, str):
                raise ValidationError(_("give text."))
            validate_package_name(package)
            spec["packages"].append(package)
        except ValidationError as error:
            problems.extend(f"packages[{index}]: {message}" for message in error.messages)

    spec["files"] = []
    for index, entry in enumerate(_list(data, "files", problems)):
        where = f"files[{index}]"
        entry = _fields(entry, where, {"path", "content", "permissions", "owner"}, problems)
        path = _text(entry.get("path"), f"{where}.path", problems, max_chars=255, single_line=True)
        if path and (not FILE_PATH.match(path) or "/../" in f"{path}/" or "/./" in f"{path}/"):
            problems.append(
                _("%(where)s.path: an absolute path of letters, digits and . _ @ + -.") % {"where": where}
            )
        content = entry.get("content", "")
        if not isinstance(content, str) or len(content) > CONTENT_MAX_CHARS:
            problems.append(
                _("%(where)s.content: text of at most %(max)s characters.")
                % {"where": where, "max": CONTENT_MAX_CHARS}
            )
            content = ""
        elif content:
            _text(content, f"{where}.content", problems, max_chars=CONTENT_MAX_CHARS, single_line=False)
        _placeholders(content, f"{where}.content", parameters, problems)
        mode = str(entry.get("permissions", "0644"))
        if not FILE_MODE.match(mode):
            problems.append(_("%(where)s.permissions: an octal mode such as 0644.") % {"where": where})
        owner = str(entry.get("owner", "root:root"))
        if not FILE_OWNER.match(owner):
            problems.append(_("%(where)s.owner: user:group.") % {"where": where})
        spec["files"].append({"path": path, "content": content, "permissions": mode.zfill(4), "owner": owner})

    spec["units"] = []
    for index, entry in enumerate(_list(data, "units", problems)):
        where = f"units[{index}]"
        entry = _fields(entry, where, {"name", "content", "enable"}, problems)
        name = _text(entry.get("name"), f"{where}.name", problems, max_chars=200, single_line=True)
        if name and not UNIT_NAME.match(name):
            problems.append(
                _("%(where)s.name: a systemd unit name such as agent.service.") % {"where": where}
            )
        content = _text(
            entry.get("content"), f"{where}.content", problems, max_chars=CONTENT_MAX_CHARS, single_line=False
        )
        _placeholders(content, f"{where}.content", parameters, problems)
        enable = entry.get("enable", True)
        if not isinstance(enable, bool):
            problems.append(_("%(where)s.enable: true or false.") % {"where": where})
        spec["units"].append({"name": name, "content": content, "enable": enable is not False})

    spec["commands"] = []
    for index, command in enumerate(_list(data, "commands", problems)):
        where = f"commands[{index}]"
        if not isinstance(command, list) or not command or not all(isinstance(arg, str) for arg in command):
            problems.append(
                _("%(where)s: give the command as a list of arguments, never a shell line.")
                % {"where": where}
            )
            continue
        for arg in command:
            _text(arg, where, problems, max_chars=ARGUMENT_MAX_CHARS, single_line=True)
            _placeholders(arg, where, parameters, problems)
        spec["commands"].append(list(command))

    spec["ports"] = []
    for index, entry in enumerate(_list(data, "ports", problems)):
        where = f"ports[{index}]"
        entry = _fields(entry, where, {"port", "protocol"}, problems)
        port = entry.get("port")
        match = PLACEHOLDER.fullmatch(port.strip()) if isinstance(port, str) else None
        if match and match.group(1) in parameters and parameters[match.group(1)].type == ParameterType.PORT:
            port = f"{{{{ {match.group(1)} }}}}"
        elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(
                _("%(where)s.port: a port number, or {{ name }} of a port parameter.") % {"where": where}
            )
            continue
        protocol = entry.get("protocol", "tcp")
        if protocol not in ("tcp", "udp"):
            problems.append(_("%(where)s.protocol: tcp or udp.") % {"where": where})
            continue
        spec["ports"].append({"port": port, "protocol": protocol})

    if problems:
        raise _errors(problems)
    return spec


def spec_parameters(spec: Mapping[str, Any]) -> list[Parameter]:
    return [Parameter.from_data(entry) for entry in spec.get("parameters", [])]


def parameters_clean(spec: Mapping[str, Any], values: Any, *, sample: bool = False) -> dict[str, Any]:
    """The service's values for the spec's parameters: each validated by its type, a missing one
    taking its default (or, with ``sample``, an example value for a preview). ValidationError maps each
    bad parameter to why."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationError({"parameters": _("Give the parameters as a mapping of names to values.")})
    parameters = {p.name: p for p in spec_parameters(spec)}
    errors: dict[str, str] = {}
    for name in values:
        if name not in parameters:
            errors[str(name)[:40]] = _("This blueprint has no parameter %(name)s.") % {"name": str(name)[:40]}
    clean: dict[str, Any] = {}
    for name, parameter in parameters.items():
        raw = values.get(name)
        if raw is None or raw == "":
            if parameter.default is not None:
                clean[name] = parameter.default
            elif sample:
                clean[name] = parameter.sample()
            else:
                errors[name] = _("This parameter needs a value.")
            continue
        try:
            clean[name] = parameter.clean(raw)
        except ValidationError as error:
            errors[name] = " ".join(error.messages)
    if errors:
        raise ValidationError(errors)
    return clean


def substitute(text: str, values: Mapping[str, Any]) -> str:
    """``{{ name }}`` replaced by the validated value (a list joined as its placeholder says)."""

    def value_of(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if isinstance(value, list):
            return JOINS[match.group(2) or ""].join(value)
        return str(value)

    return PLACEHOLDER.sub(value_of, text)
