"""Typed readers for the environment: the one place settings come from.

Each reader fails with a message that names the variable and says what a valid value looks like,
so a typo in production stops the process at start-up instead of half-working. Secrets may be given
as ``NAME_FILE`` (a path to a file holding the value), which is how Docker and systemd pass them.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}") from exc
    return os.environ.get(name)


def env_str(name: str, default: str | None = None) -> str:
    """A string; without a default the variable is required."""
    value = _raw(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def env_optional(name: str) -> str | None:
    """A string, or None when the variable is unset or empty."""
    value = _raw(name)
    return value or None


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


def env_networks(name: str, default: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated IP networks in CIDR notation (a bare address is its own /32 or /128); an empty
    default is no network."""
    networks = []
    for item in env_list(name, [part for part in default.split(",") if part.strip()]):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an IP network; use CIDR, e.g. 10.20.0.0/16,fd00:bmc::/64"
            ) from None
    return networks


def env_port_ranges(name: str, default: str) -> list[tuple[int, int]]:
    """Comma-separated TCP/UDP ports or inclusive ranges, e.g. ``443,623,8000-8099``."""
    ranges = []
    for item in env_list(name, default.split(",")):
        low, _, high = item.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a port or a range like 8000-8099") from None
        if not 1 <= first <= last <= 65535:
            raise ImproperlyConfigured(f"{name}: {item!r} must be ports from 1 to 65535, low-high")
        ranges.append((first, last))
    return ranges


def env_pairs(name: str) -> dict[str, str]:
    """Comma-separated ``key=value`` pairs, e.g. ``kennel-alpha=alpha:member,alpha-leads=alpha:lead``."""
    pairs = {}
    for item in env_list(name):
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name}: {item!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs
