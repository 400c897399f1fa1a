"""Cloud-init profiles: validated parts rendered to #cloud-config user-data (issue 4).

A profile is an ordered list of parts. Each part kind has a Django form (what an admin fills in, and what
stored JSON is re-validated through) and an immutable dataclass (what the form produces), whose
``to_cloud_config(arch)`` returns that part's contribution to the cloud-config mapping.

User-data is built as a Python mapping and written by PyYAML's emitter, never by string templates, so no
field can inject YAML. Values that end up in line-based files on the VM (ssh config, yum repo files,
/etc/environment, /etc/passwd) are refused when they hold control characters, so no field can inject a
line there either.

Stored profiles are JSON: ``[{"kind": "proxy", "version": 1, "host": ..., "port": ...}, ...]``; see
``profile_to_data`` and ``profile_from_data``.

Contributions are merged in order with ``merge_cloud_config``: mappings are merged key by key, lists are
appended (an item equal to one already there is not repeated), anything else is replaced by the later
value. Expert parts (free-form YAML) are merged after every other part and the request's own SSH keys
and packages, so an expert can override anything; the result is still checked against cloud-init's schema.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import jsonschema
import yaml
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from passlib.hash import sha512_crypt

HEADER = "#cloud-config"
DATA_VERSION = 1
# Nova refuses user_data longer than 65,535 bytes once base64-encoded.
NOVA_USER_DATA_LIMIT = 65_535
# glibc's default is 5,000 rounds; user-data can be read back from the metadata service, so make a
# leaked hash dearer to attack (about 50 ms per hash here).
PASSWORD_HASH_ROUNDS = 100_000
SUDO_ALL = "ALL=(ALL) NOPASSWD:ALL"
EXPERT_YAML_MAX_CHARS = 32_000

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


# ---------------------------------------------------------------------------------------------------------
# Field validators


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


# ---------------------------------------------------------------------------------------------------------
# Form fields


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


# ---------------------------------------------------------------------------------------------------------
# Parts


class Part(Protocol):
    kind: ClassVar[str]

    def to_cloud_config(self, arch: str) -> dict[str, Any]: ...

    def to_data(self) -> dict[str, Any]: ...


class PartForm(forms.Form):
    """A part's form: ``part()`` returns the validated part once ``is_valid()`` is true."""

    kind: ClassVar[str]

    def part(self) -> Part:
        raise NotImplementedError


def _write_file(
    path: str, content: str, *, append: bool = False, permissions: str = "0644"
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "path": path,
        "content": content,
        "owner": "root:root",
        "permissions": permissions,
    }
    if append:
        entry["append"] = True
    return entry


@dataclass(frozen=True)
class ProxyPart:
    """The team's HTTP proxy for the environment (/etc/environment), yum/dnf and pip.

    yum: ``proxy=`` appended to /etc/yum.conf, which is yum's file on EL7 and a link to dnf.conf on EL8 and
    later; written by ``write_files`` in cloud-init's init stage, so it is in place before cloud-init installs
    packages. /etc/environment reaches login sessions (pam_env), not system services.
    """

    kind: ClassVar[str] = "proxy"
    host: str
    port: int
    no_proxy: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def to_cloud_config(self, arch: str) -> dict[str, Any]:
        lines = [
            f"http_proxy={self.url}",
            f"https_proxy={self.url}",
            f"HTTP_PROXY={self.url}",
            f"HTTPS_PROXY={self.url}",
        ]
        if self.no_proxy:
            no_proxy = ",".join(self.no_proxy)
            lines += [f"no_proxy={no_proxy}", f"NO_PROXY={no_proxy}"]
        # A leading newline: the file may not end with one, and a blank line is harmless in all three.
        return {
            "write_files": [
                _write_file("/etc/environment", "\n" + "\n".join(lines) + "\n", append=True),
                _write_file("/etc/yum.conf", f"\nproxy={self.url}\n", append=True),
                _write_file("/etc/pip.conf", f"[global]\nproxy = {self.url}\n"),
            ]
        }

    def to_data(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "no_proxy": list(self.no_proxy)}


class ProxyForm(PartForm):
    kind = ProxyPart.kind
    host = forms.CharField(
        label=_("Proxy host"),
        max_length=253,
        validators=[validate_host],
        help_text=_("e.g. proxy.dc1.example"),
    )
    port = forms.IntegerField(label=_("Proxy port"), min_value=1, max_value=65535, initial=3128)
    no_proxy = LineListField(
        label=_("No proxy for"),
        required=False,
        max_items=100,
        item_validators=[validate_no_proxy_entry],
        help_text=_("One per line: a domain (.example.org), an IP address or a network (10.0.0.0/8)."),
    )

    def part(self) -> ProxyPart:
        data = self.cleaned_data
        return ProxyPart(host=data["host"], port=data["port"], no_proxy=tuple(data["no_proxy"]))


@dataclass(frozen=True)
class ProxytunnelPart:
    """SSH from the VM to the given hosts through the HTTP proxy (CONNECT), with proxytunnel.

    proxytunnel comes from EPEL on RHEL-like images; the profile needs a repository part for it there.
    """

    kind: ClassVar[str] = "proxytunnel"
    proxy_host: str
    proxy_port: int
    host_patterns: tuple[str, ...]

    def ssh_config(self) -> str:
        proxy = f"[{self.proxy_host}]" if ":" in self.proxy_host else self.proxy_host
        return (
            "# Written by Kennel: SSH to these hosts through the HTTP proxy.\n"
            f"Host {' '.join(self.host_patterns)}\n"
            f"    ProxyCommand proxytunnel -p {proxy}:{self.proxy_port} -d %h:%p\n"
        )

    def to_cloud_config(self, arch: str) -> dict[str, Any]:
        return {
            "packages": ["proxytunnel"],
            "write_files": [_write_file("/etc/ssh/ssh_config.d/proxytunnel.conf", self.ssh_config())],
        }

    def to_data(self) -> dict[str, Any]:
        return {
            "proxy_host": self.proxy_host,
            "proxy_port": self.proxy_port,
            "host_patterns": list(self.host_patterns),
        }


class ProxytunnelForm(PartForm):
    kind = ProxytunnelPart.kind
    proxy_host = forms.CharField(label=_("Proxy host"), max_length=253, validators=[validate_host])
    proxy_port = forms.IntegerField(label=_("Proxy port"), min_value=1, max_value=65535, initial=3128)
    host_patterns = LineListField(
        label=_("SSH hosts"),
        max_items=50,
        item_validators=[validate_ssh_host_pattern],
        help_text=_("One per line, as in ssh_config: github.com, *.example.org ..."),
    )

    def part(self) -> ProxytunnelPart:
        data = self.cleaned_data
        return ProxytunnelPart(
            proxy_host=data["proxy_host"],
            proxy_port=data["proxy_port"],
            host_patterns=tuple(data["host_patterns"]),
        )


@dataclass(frozen=True)
class DnsPart:
    """Name servers and search domains.

    RHEL-like images let NetworkManager own /etc/resolv.conf: it rewrites the file at boot and on every DHCP
    renewal, and their cloud.cfg does not run cloud-init's resolv_conf module at all. So the lasting setting
    is NetworkManager's global DNS (a conf.d drop-in, which takes precedence over DHCP), reloaded right away;
    ``manage_resolv_conf`` covers images without NetworkManager whose cloud.cfg runs resolv_conf.
    systemd-resolved is not used on RHEL-like images.
    """

    kind: ClassVar[str] = "dns"
    nameservers: tuple[str, ...]
    search_domains: tuple[str, ...] = ()

    def networkmanager_conf(self) -> str:
        lines = ["# Written by Kennel: the team's name servers, over what DHCP offers.", "[global-dns]"]
        if self.search_domains:
            lines.append(f"searches={','.join(self.search_domains)}")
        lines += ["", "[global-dns-domain-*]", f"servers={','.join(self.nameservers)}"]
        return "\n".join(lines) + "\n"

    def to_cloud_config(self, arch: str) -> dict[str, Any]:
        resolv_conf: dict[str, Any] = {"nameservers": list(self.nameservers)}
        if self.search_domains:
            resolv_conf["searchdomains"] = list(self.search_domains)
        return {
            "manage_resolv_conf": True,
            "resolv_conf": resolv_conf,
            "write_files": [
                _write_file("/etc/NetworkManager/conf.d/90-kennel-dns.conf", self.networkmanager_conf())
            ],
            # Does nothing where NetworkManager is not running.
            "runcmd": [["systemctl", "try-reload-or-restart", "NetworkManager.service"]],
        }

    def to_data(self) -> dict[str, Any]:
        return {"nameservers": list(self.nameservers), "search_domains": list(self.search_domains)}


class DnsForm(PartForm):
    kind = DnsPart.kind
    # glibc's resolver reads at most 3 name servers and (before 2.26) 6 search domains.
    nameservers = LineListField(
        label=_("Name servers"),
        max_items=3,
        item_validators=[validate_nameserver],
        help_text=_("IP addresses, one per line."),
    )
    search_domains = LineListField(
        label=_("Search domains"), required=False, max_items=6, item_validators=[validate_hostname]
    )

    def part(self) -> DnsPart:
        data = self.cleaned_data
        return DnsPart(nameservers=tuple(data["nameservers"]), search_domains=tuple(data["search_domains"]))


class ProfileError(ValidationError):
    """A profile that cannot be rendered for this VM (e.g. a required repository lacks its architecture)."""


@dataclass(frozen=True)
class YumRepoPart:
    """A yum/dnf repository whose base URL depends on the VM's architecture.

    A repository without a URL for the VM's architecture (and no ``*`` URL) is left out, unless it is
    marked required: then rendering fails with ProfileError rather than boot a VM missing its packages.
    """

    kind: ClassVar[str] = "yum_repo"
    repo_id: str
    name: str
    baseurls: Mapping[str, str]
    enabled: bool = True
    gpgcheck: bool = False
    gpgkey: str = ""
    direct: bool = False
    required: bool = False

    def baseurl_for(self, arch: str) -> str | None:
        return self.baseurls.get(arch) or self.baseurls.get("*")

    def to_cloud_config(self, arch: str) -> dict[str, Any]:
        baseurl = self.baseurl_for(arch)
        if baseurl is None:
            if self.required:
                raise ProfileError(
                    _("Repository %(repo)s has no base URL for %(arch)s."),
                    code="repo_arch",
                    params={"repo": self.repo_id, "arch": arch},
                )
            return {}
        repo: dict[str, Any] = {
            "name": self.name or self.repo_id,
            "baseurl": baseurl,
            "enabled": self.enabled,
        }
        repo["gpgcheck"] = self.gpgcheck
        if self.gpgkey:
            repo["gpgkey"] = self.gpgkey
        if self.direct:
            repo["proxy"] = "_none_"  # yum and dnf: ignore the proxy= of yum.conf for this repository
        return {"yum_repos": {self.repo_id: repo}}

    def to_data(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "name": self.name,
            "baseurls": dict(self.baseurls),
            "enabled": self.enabled,
            "gpgcheck": self.gpgcheck,
            "gpgkey": self.gpgkey,
            "direct": self.direct,
            "required": self.required,
        }


class YumRepoForm(PartForm):
    kind = YumRepoPart.kind
    repo_id = forms.CharField(
        label=_("Repository id"),
        max_length=64,
        validators=[RegexValidator(REPO_ID_RE, _("Letters, digits and . _ - only."))],
        help_text=_("The file name in /etc/yum.repos.d, e.g. epel."),
    )
    name = forms.CharField(label=_("Name"), max_length=200, required=False, validators=[validate_single_line])
    baseurls = ArchUrlField(
        label=_("Base URLs by architecture"),
        help_text=_("One per line: x86_64 http://..., ppc64le http://...; * for any other architecture."),
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    gpgcheck = forms.BooleanField(label=_("Check GPG signatures"), required=False)
    gpgkey = forms.CharField(
        label=_("GPG key URL"), max_length=500, required=False, validators=[validate_url]
    )
    direct = forms.BooleanField(label=_("Bypass the proxy"), required=False)
    required = forms.BooleanField(
        label=_("Required"),
        required=False,
        help_text=_("Refuse a VM whose architecture has no URL here, instead of leaving the repository out."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("gpgcheck") and not data.get("gpgkey") and "gpgkey" not in self.errors:
            self.add_error("gpgkey", _("Signature checks need the key's URL."))
        return data

    def part(self) -> YumRepoPart:
        data = self.cleaned_data
        return YumRepoPart(
            repo_id=data["repo_id"],
            name=data["name"],
            baseurls=dict(data["baseurls"]),
            enabled=data["enabled"],
            gpgcheck=data["gpgcheck"],
            gpgkey=data["gpgkey"],
            direct=data["direct"],
            required=data["required"],
        )


@dataclass(frozen=True)
class UserPart:
    """A login account. The password is kept only as its SHA-512 crypt hash."""

    kind: ClassVar[str] = "user"
    name: str
    gecos: str = ""
    hashed_passwd: str = ""
    ssh_authorized_keys: tuple[str, ...] = ()
    sudo: bool = False
    shell: str = "/bin/bash"

    def to_cloud_config(self, arch: str) -> dict[str, Any]:
        user: dict[str, Any] = {"name": self.name}
        if self.gecos:
            user["gecos"] = self.gecos
        user["shell"] = self.shell
        if self.hashed_passwd:
            user["hashed_passwd"] = self.hashed_passwd
            user["lock_passwd"] = False
        if self.sudo:
            user["sudo"] = SUDO_ALL
        if self.ssh_authorized_keys:
            user["ssh_authorized_keys"] = list(self.ssh_authorized_keys)
        # "default" first keeps the image's own default user (cloud-user, centos ...) alongside.
        return {"users": ["default", user]}

    def to_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "gecos": self.gecos,
            "hashed_passwd": self.hashed_passwd,
            "ssh_authorized_keys": list(self.ssh_authorized_keys),
            "sudo": self.sudo,
            "shell": self.shell,
        }


class UserForm(PartForm):
    """A plain password is hashed here and dropped; a stored hash comes back in ``hashed_passwd``.

    Editing a user without typing a new password keeps the hash it had.
    """

    kind = UserPart.kind
    name = forms.CharField(
        label=_("User name"),
        max_length=32,
        validators=[
            RegexValidator(
                USER_NAME_RE, _("Lower-case letters, digits, _ and -, starting with a letter or _.")
            )
        ],
    )
    gecos = forms.CharField(
        label=_("Full name"), max_length=200, required=False, validators=[validate_single_line]
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        max_length=1024,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Stored only as a SHA-512 crypt hash. Leave empty to keep the current one."),
    )
    hashed_passwd = forms.CharField(
        required=False, widget=forms.HiddenInput, validators=[validate_sha512_crypt]
    )
    ssh_authorized_keys = LineListField(
        label=_("SSH public keys"), required=False, max_items=50, item_validators=[validate_ssh_public_key]
    )
    sudo = forms.BooleanField(label=_("Passwordless sudo"), required=False)
    shell = forms.CharField(
        label=_("Shell"),
        max_length=64,
        initial="/bin/bash",
        validators=[RegexValidator(SHELL_RE, _("An absolute path such as /bin/bash."))],
    )

    def clean_gecos(self) -> str:
        gecos: str = self.cleaned_data["gecos"]
        if ":" in gecos:
            raise ValidationError(_("The full name cannot contain a colon."), code="colon")
        return gecos

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password = data.pop("password", "")
        if password:
            try:
                password.encode("utf-8")
            except UnicodeEncodeError:
                self.add_error("password", _("This text is not valid Unicode."))
                return data
            if "\x00" in password:
                self.add_error("password", _("The password cannot contain a NUL character."))
            else:
                data["hashed_passwd"] = hash_password(password)
        return data

    def part(self) -> UserPart:
        data = self.cleaned_data
        return UserPart(
            name=data["name"],
            gecos=data["gecos"],
            hashed_passwd=data.get("hashed_passwd", ""),
            ssh_authorized_keys=tuple(data["ssh_authorized_keys"]),
            sudo=data["sudo"],
            shell=data["shell"],
        )


@dataclass(frozen=True)
class PackagesPart:
    kind: ClassVar[str] = "packages"
    packages: tuple[str, ...] = ()
    package_update: bool = False

    def to_cloud_config(self, arch: str) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.package_update:
            config["package_update"] = True
        if self.packages:
            config["packages"] = list(self.packages)
        return config

    def to_data(self) -> dict[str, Any]:
        return {"packages": list(self.packages), "package_update": self.package_update}


class PackagesForm(PartForm):
    kind = PackagesPart.kind
    packages = LineListField(
        label=_("Packages"), required=False, max_items=200, item_validators=[validate_package_name]
    )
    package_update = forms.BooleanField(label=_("Update the package lists first"), required=False)

    def part(self) -> PackagesPart:
        data = self.cleaned_data
        return PackagesPart(packages=tuple(data["packages"]), package_update=data["package_update"])


def _refuse_aliases(text: str) -> None:
    """YAML anchors and aliases could expand into a document far larger than its text (billion laughs)."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ValidationError(_("YAML anchors and aliases (&name, *name) are not allowed."), code="alias")


def parse_extra_config(text: str) -> dict[str, Any]:
    """The expert's YAML as a mapping; ValidationError when it is not YAML, not a mapping, or uses aliases."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(_("This text is not valid Unicode."), code="unicode") from None
    try:
        _refuse_aliases(text)
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(
            _("This is not valid YAML: %(error)s"), code="yaml", params={"error": str(exc)}
        ) from None
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) for key in value):
        raise ValidationError(
            _("The extra cloud-config must be a mapping of keys to values."), code="mapping"
        )
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise ValidationError(
            _("Use only strings, numbers, booleans, lists and mappings; quote dates and other values."),
            code="types",
        ) from None
    return value


@dataclass(frozen=True)
class ExtraConfigPart:
    """Free-form cloud-config for experts, merged after everything else (see ``merge_cloud_config``)."""

    kind: ClassVar[str] = "extra"
    yaml_text: str
    config: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_cloud_config(self, arch: str) -> dict[str, Any]:
        return copy.deepcopy(dict(self.config))

    def to_data(self) -> dict[str, Any]:
        return {"yaml_text": self.yaml_text}


class ExtraConfigForm(PartForm):
    kind = ExtraConfigPart.kind
    parsed_config: dict[str, Any]
    yaml_text = forms.CharField(
        label=_("Extra cloud-config (YAML)"),
        max_length=EXPERT_YAML_MAX_CHARS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}),
        help_text=_(
            "A YAML mapping merged last: mappings are merged, lists are appended, other values are replaced."
        ),
    )

    def clean_yaml_text(self) -> str:
        # Not checked against the schema on its own: an override such as ``yum_repos: {epel: {enabled:
        # false}}`` is only valid merged into the rest. validate_user_data checks the rendered whole.
        text: str = self.cleaned_data["yaml_text"]
        self.parsed_config = parse_extra_config(text)
        return text

    def part(self) -> ExtraConfigPart:
        return ExtraConfigPart(yaml_text=self.cleaned_data["yaml_text"], config=self.parsed_config)


PART_FORMS: dict[str, type[PartForm]] = {
    form.kind: form
    for form in (ProxyForm, ProxytunnelForm, DnsForm, YumRepoForm, UserForm, PackagesForm, ExtraConfigForm)
}


# ---------------------------------------------------------------------------------------------------------
# Stored profiles


def profile_to_data(parts: Iterable[Part]) -> list[dict[str, Any]]:
    """The JSON to store: ``[{"kind": ..., "version": 1, <the part's fields>}, ...]``, in profile order."""
    return [{"kind": part.kind, "version": DATA_VERSION, **part.to_data()} for part in parts]


def profile_from_data(data: Any) -> list[Part]:
    """Parts from stored JSON, each re-validated through its form.

    Raises ValidationError naming the part (by position and kind) when an entry is unknown, of a newer
    version, or no longer valid.
    """
    if not isinstance(data, list):
        raise ValidationError(_("A stored profile must be a list of parts."), code="profile")
    parts: list[Part] = []
    for index, entry in enumerate(data, start=1):
        if not isinstance(entry, dict) or entry.get("kind") not in PART_FORMS:
            raise ValidationError(
                _("Part %(index)s is of an unknown kind."), code="part_kind", params={"index": index}
            )
        if entry.get("version") != DATA_VERSION:
            raise ValidationError(
                _("Part %(index)s has an unsupported version."), code="part_version", params={"index": index}
            )
        fields = {key: value for key, value in entry.items() if key not in ("kind", "version")}
        form = PART_FORMS[entry["kind"]](data=_form_data(fields))
        if not form.is_valid():
            problems = "; ".join(
                f"{name}: {' '.join(str(message) for message in messages)}"
                for name, messages in form.errors.items()
            )
            raise ValidationError(
                _("Part %(index)s (%(kind)s) is not valid: %(problems)s"),
                code="part_invalid",
                params={"index": index, "kind": entry["kind"], "problems": problems},
            )
        parts.append(form.part())
    return parts


def _form_data(fields: dict[str, Any]) -> dict[str, Any]:
    """Stored values as form data: a BooleanField reads a missing key as False, so False is left out."""
    return {key: value for key, value in fields.items() if value is not False}


# ---------------------------------------------------------------------------------------------------------
# Rendering


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


# ---------------------------------------------------------------------------------------------------------
# Validation against cloud-init's schema


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
