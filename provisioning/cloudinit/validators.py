"""Field validators for cloud-init parts (host names, package names, SSH keys, URLs ...) and the password
hash: every value that ends up in a line-based file on the VM is refused when it holds a control character."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _
from passlib.hash import sha512_crypt

# glibc's default is 5,000 rounds; user-data can be read back from the metadata service, so make a
# leaked hash dearer to attack (about 50 ms per hash here).
PASSWORD_HASH_ROUNDS = 100_000


HOST_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOSTNAME_RE = re.compile(rf"^{HOST_LABEL}(\.{HOST_LABEL})*\.?$")
ARCH_RE = re.compile(r"^[a-z0-9_]{1,32}$")
# RPM and Debian package names; no leading dash, so a name is never read as a package manager option.
PACKAGE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$")
# useradd's default NAME_REGEX, at most 32 characters.
USER_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SHELL_RE = re.compile(r"^/[A-Za-z0-9._/-]{1,63}$")
# ssh_config Host patterns: names, addresses and the wildcards * ? with ! for negation.
SSH_HOST_PATTERN_RE = re.compile(r"^!?[A-Za-z0-9*?._:\[\]-]{1,253}$")
SHA512_CRYPT_RE = re.compile(r"^\$6\$(rounds=[0-9]{1,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$")
SSH_KEY_TYPES = frozenset(
    {
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    }
)


def _has_control_character(value: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in value)


def validate_single_line(value: str) -> None:
    """Text written into a line-based file on the VM: no line breaks or other control characters."""
    if _has_control_character(value):
        raise ValidationError(_("Line breaks and control characters are not allowed."), code="control")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(_("This text is not valid Unicode."), code="unicode") from None


def validate_hostname(value: str) -> None:
    if len(value) > 253 or not HOSTNAME_RE.match(value):
        raise ValidationError(
            _("%(value)s is not a host name (letters, digits, hyphens and dots)."),
            code="hostname",
            params={"value": value},
        )


def validate_host(value: str) -> None:
    """A host name or an IP address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        validate_hostname(value)


def validate_no_proxy_entry(value: str) -> None:
    """A no_proxy entry: a domain (optionally with a leading dot), an IP address or a CIDR network."""
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise ValidationError(
                _("%(value)s is not a network in CIDR form, such as 10.0.0.0/8."),
                code="cidr",
                params={"value": value},
            ) from None
        return
    if value == "*":
        return
    validate_host(value.removeprefix(".") if value.startswith(".") else value)


def validate_nameserver(value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValidationError(
            _("%(value)s is not an IP address."), code="ip", params={"value": value}
        ) from None


def validate_package_name(value: str) -> None:
    if not PACKAGE_RE.match(value):
        raise ValidationError(
            _("%(value)s is not a package name (letters, digits and . _ + -, not starting with -)."),
            code="package",
            params={"value": value},
        )


def validate_ssh_host_pattern(value: str) -> None:
    if not SSH_HOST_PATTERN_RE.match(value):
        raise ValidationError(
            _("%(value)s is not an ssh host pattern (a name or address, * and ? as wildcards)."),
            code="ssh_host_pattern",
            params={"value": value},
        )


def validate_ssh_public_key(value: str) -> None:
    """One OpenSSH public key line: a known type, its base64 body, and an optional one-line comment.

    The body must decode and start with the same type name, so a truncated or mistyped key is caught here
    rather than on a VM nobody can log in to. No options (``from=...``) and no second line.
    """
    validate_single_line(value)
    key_type, _sep, rest = value.partition(" ")
    body = rest.split(" ", 1)[0]
    if key_type not in SSH_KEY_TYPES:
        raise ValidationError(
            _("The key must start with its type, one of: %(types)s."),
            code="ssh_key_type",
            params={"types": ", ".join(sorted(SSH_KEY_TYPES))},
        )
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        blob = b""
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4 : 4 + length] != key_type.encode() or len(blob) < 4 + length + 4:
        raise ValidationError(
            _("This %(type)s key's body is not valid base64 key data."),
            code="ssh_key_body",
            params={"type": key_type},
        )


def validate_sha512_crypt(value: str) -> None:
    if not SHA512_CRYPT_RE.match(value):
        raise ValidationError(_("This is not a SHA-512 crypt hash ($6$...)."), code="hash")


def validate_url(value: str) -> None:
    """An http(s) or ftp URL, or a file:/// URL (a GPG key shipped in the image, say)."""
    validate_single_line(value)
    if value.startswith("file:///"):
        if " " in value or len(value) <= len("file:///"):
            raise ValidationError(_("Enter a valid URL."), code="invalid")
        return
    URLValidator(schemes=["http", "https", "ftp"])(value)


def hash_password(password: str) -> str:
    """SHA-512 crypt (``$6$``), as cloud-init's ``hashed_passwd`` and /etc/shadow expect.

    libpass (the maintained fork of passlib) has its own implementation, so this does not depend on the
    stdlib ``crypt`` module, which is deprecated and gone in Python 3.13.
    """
    return str(sha512_crypt.using(rounds=PASSWORD_HASH_ROUNDS).hash(password))
