"""The dimensions of a team's quota, in Kennel's names, and where each is enforced.

Cloud-backed dimensions are the OpenStack quotas of the team's project (Nova's instances, cores and
ram, Neutron's floating IPs, Cinder's gigabytes where the cloud has block storage): Kennel mirrors and
sets them, and checks them itself before the cloud does. Portal dimensions have no OpenStack quota: local
disk (Nova has no quota for it) and per-architecture limits (``cores:ppc64le``); Kennel alone enforces
them, in the same transaction that accepts a VM request.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from portal.architectures import Architecture
from portal.cloud.gateway import QuotaService
from portal.inputs import INTEGER_MAX

ARCH_SEPARATOR = ":"
# OpenStack's services keep quota limits in 32-bit integer columns: no value above this is ever valid,
# whatever the estate, and none is ever sent to the cloud.
QUOTA_VALUE_MAX = INTEGER_MAX


@dataclass(frozen=True)
class Dimension:
    key: str  # "cores", or "cores:ppc64le" for an architecture limit
    base: str  # "cores"
    label: str | Promise
    unit: str | Promise
    service: QuotaService | None  # None: enforced by the portal alone
    cloud_name: str | None  # the service's own name for it
    architecture: str | None = None

    @property
    def enforced_by_cloud(self) -> bool:
        return self.service is not None


# In display order. ``per_architecture`` bases can also be limited per architecture.
_BASES: dict[str, Dimension] = {
    d.key: d
    for d in (
        Dimension("instances", "instances", _("Instances"), "", QuotaService.COMPUTE, "instances"),
        Dimension("cores", "cores", _("vCPUs"), "", QuotaService.COMPUTE, "cores"),
        Dimension("ram_mb", "ram_mb", _("RAM"), "MB", QuotaService.COMPUTE, "ram"),
        Dimension("disk_gb", "disk_gb", _("Local disk"), "GB", None, None),
        Dimension("volume_gb", "volume_gb", _("Volume storage"), "GB", QuotaService.VOLUME, "gigabytes"),
        Dimension("floating_ips", "floating_ips", _("Floating IPs"), "", QuotaService.NETWORK, "floatingip"),
    )
}
PER_ARCHITECTURE = ("instances", "cores", "ram_mb", "disk_gb")
# What one VM takes of each compute dimension, by VmRequest / UnmanagedServer field.
VM_FIELDS = {"instances": None, "cores": "vcpus", "ram_mb": "ram_mb", "disk_gb": "disk_gb"}


def vm_need(*, vcpus: int, ram_mb: int, disk_gb: int, instances: int = 1) -> dict[str, int]:
    """What one VM of this size takes of each compute dimension (``instances=0``: what a VM that is
    already counted takes more, as a resize)."""
    return {"instances": instances, "cores": vcpus, "ram_mb": ram_mb, "disk_gb": disk_gb}


def dimension(key: str) -> Dimension:
    """The dimension named ``key``; ValueError for a name Kennel does not know."""
    if key in _BASES:
        return _BASES[key]
    base, _sep, architecture = key.partition(ARCH_SEPARATOR)
    if base in PER_ARCHITECTURE and architecture in Architecture.values:
        parent = _BASES[base]
        return Dimension(
            key=key,
            base=base,
            label=_("%(dimension)s on %(arch)s") % {"dimension": parent.label, "arch": architecture},
            unit=parent.unit,
            service=None,
            cloud_name=None,
            architecture=architecture,
        )
    raise ValueError(f"unknown quota dimension: {key}")


def arch_key(base: str, architecture: str) -> str:
    return f"{base}{ARCH_SEPARATOR}{architecture}"


def base_dimensions() -> list[Dimension]:
    return list(_BASES.values())


def sort_key(key: str) -> tuple[int, str]:
    """Bases in display order, each followed by its architecture limits."""
    d = dimension(key)
    return (list(_BASES).index(d.base), d.architecture or "")


def cloud_dimensions(service: QuotaService) -> list[Dimension]:
    return [d for d in _BASES.values() if d.service == service]
