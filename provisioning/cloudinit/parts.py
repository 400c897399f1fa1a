"""Cloud-init parts, each kind an immutable dataclass (what goes into cloud-config) with its Django form
(what an admin fills in, and what stored JSON is re-validated through), and stored profiles' JSON."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import yaml
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from provisioning.cloudinit.fields import ArchUrlField, LineListField
from provisioning.cloudinit.validators import (
    REPO_ID_RE,
    SHELL_RE,
    USER_NAME_RE,
    hash_password,
    validate_host,
    validate_hostname,
    validate_nameserver,
    validate_no_proxy_entry,
    validate_package_name,
    validate_sha512_crypt,
    validate_single_line,
    validate_ssh_host_pattern,
    validate_ssh_public_key,
    validate_url,
)

DATA_VERSION = 1


SUDO_ALL = "ALL=(ALL) NOPASSWD:ALL"
EXPERT_YAML_MAX_CHARS = 32_000


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
