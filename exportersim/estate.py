"""What the emulator serves: the demo's physical servers and the VMs of the local cloud.

Hosts are named as their node exporter's ``instance`` label would be after the usual relabelling: the
host name without its port (``x2``). X3 and P1 run hot (CPU around 92%); the others do not. A VM is
idle (CPU well below 1%, a trickle of network) when its name says ``idle``, busy when it says ``busy``,
and otherwise by a fixed hash of its Nova id, about one in four: :func:`vm_is_idle` is the rule, and the
tests use it to know which VMs Kennel must flag.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from exportersim.load import Wave, unit

GIB = 1024**3


@dataclass(frozen=True)
class HostSpec:
    name: str  # the instance label: "x2"
    cpus: int
    memory_bytes: int
    cpu_busy: float  # average busy fraction of all CPUs
    memory_used: float  # average used fraction of memory
    compute: bool  # runs nova-compute, so a libvirt exporter too
    root_bytes: int = 480 * 10**9
    instances_bytes: int = 0  # /var/lib/nova/instances, on compute hosts
    network_bps: float = 2e6  # bytes per second received (transmit is 60% of it)

    @property
    def hot(self) -> bool:
        return self.cpu_busy >= 0.85


_R740 = {"cpus": 48, "memory_bytes": 384 * GIB}
_S822LC = {"cpus": 160, "memory_bytes": 256 * GIB}  # 20 cores, SMT8

DEMO_HOSTS: tuple[HostSpec, ...] = (
    HostSpec("x1", **_R740, cpu_busy=0.30, memory_used=0.55, compute=False, network_bps=8e6),
    HostSpec("x2", **_R740, cpu_busy=0.35, memory_used=0.50, compute=True, instances_bytes=3_840 * 10**9),
    HostSpec("x3", **_R740, cpu_busy=0.92, memory_used=0.82, compute=True, instances_bytes=3_840 * 10**9),
    HostSpec("x4", **_R740, cpu_busy=0.15, memory_used=0.30, compute=True, instances_bytes=3_840 * 10**9),
    HostSpec("x5", **_R740, cpu_busy=0.22, memory_used=0.40, compute=False, network_bps=5e5),
    HostSpec("p1", **_S822LC, cpu_busy=0.91, memory_used=0.75, compute=True, instances_bytes=1_920 * 10**9),
    HostSpec("p2", **_S822LC, cpu_busy=0.40, memory_used=0.45, compute=False, network_bps=1e6),
)


@dataclass(frozen=True)
class VmSpec:
    uuid: str  # Nova's server id; libvirt's domain UUID is the same
    domain: str  # libvirt's domain name: Nova's instance_name, "instance-0000002a"
    name: str
    host: str  # the compute host's name, as the hosts above: "x2"
    vcpus: int
    ram_mb: int
    disk_gb: int


def vm_is_idle(vm: VmSpec) -> bool:
    """The emulator's rule: which VMs do (almost) nothing."""
    lowered = vm.name.lower()
    if "idle" in lowered:
        return True
    if "busy" in lowered:
        return False
    return unit(vm.uuid, "idle") < 0.25


@dataclass(frozen=True)
class VmLoad:
    cpu: Wave  # busy fraction of all its vCPUs
    memory: Wave  # used fraction of its RAM
    read: Wave  # disk bytes per second
    write: Wave
    receive: Wave  # network bytes per second
    transmit: Wave


def vm_load(vm: VmSpec) -> VmLoad:
    u = vm.uuid
    if vm_is_idle(vm):
        return VmLoad(
            cpu=Wave.of(u, 0.004, 0.5, "cpu"),
            memory=Wave.of(u, 0.25, 0.02, "mem"),
            read=Wave.of(u, 200.0, 0.5, "rd"),
            write=Wave.of(u, 600.0, 0.5, "wr"),
            receive=Wave.of(u, 150.0, 0.5, "rx"),
            transmit=Wave.of(u, 90.0, 0.5, "tx"),
        )
    scale = unit(u, "scale")
    return VmLoad(
        cpu=Wave.of(u, 0.10 + 0.70 * scale, 0.4, "cpu"),
        memory=Wave.of(u, 0.40 + 0.45 * scale, 0.1, "mem"),
        read=Wave.of(u, 5e4 + 5e6 * scale, 0.6, "rd"),
        write=Wave.of(u, 5e4 + 3e6 * scale, 0.6, "wr"),
        receive=Wave.of(u, 2e4 + 2e6 * scale, 0.6, "rx"),
        transmit=Wave.of(u, 1e4 + 1e6 * scale, 0.6, "tx"),
    )


def vms_from_file(path: Path) -> list[VmSpec]:
    """VMs described as a JSON list of VmSpec fields (the benchmark's 2,000, the tests' fixed set)."""
    return [VmSpec(**item) for item in json.loads(path.read_text())]


def vms_to_file(path: Path, vms: list[VmSpec]) -> None:
    path.write_text(json.dumps([asdict(vm) for vm in vms]))


def vms_from_cloud() -> list[VmSpec]:
    """The running servers of every project of the cloud named by OS_CLOUD (clouds.yaml from
    OS_CLIENT_CONFIG_FILE), as the libvirt exporters on their hosts would see them: only running
    domains are listed by libvirt."""
    import openstack  # the emulator is test and demo infrastructure: it asks the cloud itself

    conn = openstack.connect(cloud=os.environ.get("OS_CLOUD", "kennel-admin"))
    try:
        vms = []
        for server in conn.compute.servers(details=True, all_projects=True):
            if server.status != "ACTIVE" or not server.compute_host:
                continue
            flavor = server.flavor or {}
            vms.append(
                VmSpec(
                    uuid=server.id,
                    domain=server.instance_name or f"instance-{int(unit(server.id) * 2**32):08x}",
                    name=server.name or "",
                    host=server.compute_host.split(".")[0].lower(),
                    vcpus=int(flavor.get("vcpus") or 1),
                    ram_mb=int(flavor.get("ram") or 512),
                    disk_gb=int(flavor.get("disk") or 1),
                )
            )
        return vms
    finally:
        conn.close()


class VmSource:
    """The VMs to serve, re-read at most every ``refresh`` seconds; a failed read keeps the last list
    (the cloud being away leaves the exporters serving what they had, as libvirt would)."""

    def __init__(self, read: Callable[[], list[VmSpec]], refresh: float = 30.0) -> None:
        self.read = read
        self.refresh = refresh
        self._vms: list[VmSpec] = []
        self._at = -1e18
        self.error = ""

    def vms(self) -> list[VmSpec]:
        now = time.monotonic()
        if now - self._at >= self.refresh:
            self._at = now
            try:
                self._vms = self.read()
                self.error = ""
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"
        return self._vms
