"""A blueprint version's user-data for one VM: the version's cloud-init profile plus its service part,
rendered by the same validated cloud-init parts as every VM's (``provisioning.cloudinit``) and checked
against cloud-init's schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from blueprints.spec import parameters_clean, substitute
from provisioning import cloudinit
from provisioning.models import Profile

# Opening a port needs a firewall only where one runs: firewalld on RHEL-like images. The port and
# protocol are validated numbers and words, never a parameter's text.
FIREWALL = (
    "if command -v firewall-cmd >/dev/null 2>&1; then "
    "firewall-cmd --permanent --add-port={port}/{protocol} && firewall-cmd --reload; fi"
)


@dataclass(frozen=True)
class ServicePart:
    """A blueprint's service: files, systemd units, packages, commands run once and opened ports, with
    the parameters already substituted. Merged like any other cloud-init part."""

    kind: ClassVar[str] = "service"
    spec: Mapping[str, Any]
    values: Mapping[str, Any]

    def to_cloud_config(self, arch: str) -> dict[str, Any]:
        spec, values = self.spec, self.values
        write_files = [
            {
                "path": entry["path"],
                "content": substitute(entry["content"], values),
                "owner": entry["owner"],
                "permissions": entry["permissions"],
            }
            for entry in spec["files"]
        ]
        # Commands first (they may create the users and directories units need), then the units, then
        # the firewall.
        runcmd: list[list[str]] = [
            [substitute(arg, values) for arg in command] for command in spec["commands"]
        ]
        for unit in spec["units"]:
            write_files.append(
                {
                    "path": f"/etc/systemd/system/{unit['name']}",
                    "content": substitute(unit["content"], values),
                    "owner": "root:root",
                    "permissions": "0644",
                }
            )
        if spec["units"]:
            runcmd.append(["systemctl", "daemon-reload"])
            runcmd += [
                ["systemctl", "enable", "--now", unit["name"]] for unit in spec["units"] if unit["enable"]
            ]
        for port in spec["ports"]:
            number = int(substitute(str(port["port"]), values))
            runcmd.append(["sh", "-c", FIREWALL.format(port=number, protocol=port["protocol"])])
        config: dict[str, Any] = {}
        if spec["packages"]:
            config["packages"] = list(spec["packages"])
        if write_files:
            config["write_files"] = write_files
        if runcmd:
            config["runcmd"] = runcmd
        return config

    def to_data(self) -> dict[str, Any]:
        return {"spec": dict(self.spec), "values": dict(self.values)}


def profile_parts(spec: Mapping[str, Any]) -> list[cloudinit.Part]:
    """The parts of the spec's cloud-init profile (none without one); ValidationError when the profile
    is gone or no longer valid."""
    name = spec.get("profile")
    if not name:
        return []
    profile = Profile.objects.filter(name=name).first()
    if profile is None:
        raise ValidationError(_("The cloud-init profile %(name)s does not exist.") % {"name": name})
    return cloudinit.profile_from_data(profile.parts)


def user_data_render(
    spec: Mapping[str, Any], *, architecture: str, hostname: str, values: Mapping[str, Any]
) -> str:
    """The exact user-data of one VM of the service. ``values`` are already validated
    (``parameters_clean``). Raises ValidationError when it cannot be built or fails cloud-init's schema."""
    if architecture not in spec["architectures"]:
        raise ValidationError(_("This blueprint does not run on %(arch)s.") % {"arch": architecture})
    parts = [*profile_parts(spec), ServicePart(spec=spec, values=values)]
    text = cloudinit.render_user_data(parts, architecture=architecture, hostname=hostname)
    problems = cloudinit.validate_user_data(text)
    if problems:
        raise ValidationError(
            _("The user-data would not pass cloud-init's schema: %(e)s") % {"e": "; ".join(problems)}
        )
    return text


def user_data_preview(
    spec: Mapping[str, Any], *, values: Mapping[str, Any] | None = None, name: str = "example"
) -> dict[str, dict[str, Any]]:
    """Per architecture, the user-data a VM would get (``text``) or why it cannot (``errors``). Missing
    parameter values take their default, else an example value."""
    preview: dict[str, dict[str, Any]] = {}
    try:
        clean = parameters_clean(spec, values or {}, sample=True)
    except ValidationError as error:
        problems = [f"{k}: {' '.join(v)}" for k, v in error.message_dict.items()]
        return {arch: {"text": "", "errors": problems} for arch in spec["architectures"]}
    for arch in spec["architectures"]:
        try:
            text = user_data_render(
                spec, architecture=arch, hostname=vm_hostname(name, arch, 1), values=clean
            )
            preview[arch] = {"text": text, "errors": []}
        except ValidationError as error:
            preview[arch] = {"text": "", "errors": error.messages}
    return preview


ARCH_SHORT = {"x86_64": "x86", "ppc64le": "ppc", "aarch64": "arm"}


def vm_hostname(service: str, architecture: str, index: int) -> str:
    """A service VM's name and host name: ``<service>-<arch>-<n>``, e.g. ``ci-ppc-3``."""
    return f"{service}-{ARCH_SHORT.get(architecture, architecture.replace('_', '-'))}-{index}"
