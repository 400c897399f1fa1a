"""An in-memory ``CloudGateway`` that behaves like Kennel's local OpenStack ("devcloud"), for unit tests.

A new ``FakeCloud()`` holds the estate ``devcloud/run start`` seeds: compute hosts x2, x3, x4 (x86_64,
zone dc1) and p1 (ppc64le, zone dc2) with the same Placement inventories and overcommit, the same
flavors and images, the external network ``public`` (203.0.113.0/24, floating pool .100 to .250), the
projects ``admin``, ``service``, ``alpha`` and ``beta`` (each demo team with its network, router and
raised quotas), Keystone's bootstrap roles and users. ``tests/portal/cloud/test_contract.py`` runs the
same tests against this class and the real cloud.

What it models, in the services' own words (messages are theirs, so a test sees what a person would):

* Nova: quota checks at create (instances, cores, ram; ports when a network is asked for), image and
  flavor checks, scheduling like ImagePropertiesFilter + Placement (an image's ``hw_architecture``,
  x86_64 when unset, picks the hosts; a host needs free capacity ``(total - reserved) * ratio - used``;
  the emptiest host wins, like Nova's spreading weighers), "No valid host was found." faults, the
  vm_state/task_state checks behind start, stop and reboot, and allocations freed on delete.
* Neutron: networks, subnets (IPv4, as the real gateway creates them), routers with gateway and
  interface ports, floating IPs from the external subnet's pool, which reach a server only through a
  router between its subnet and the external network; ports and addresses are checked like Neutron
  checks them ("still in use", quotas).
* Keystone: projects, users (names unique per domain regardless of case, as on MariaDB; found by
  exact name or id, as openstacksdk does), role assignments; ids are 32 hex digits like Keystone's.

Time. The fake never waits. Nova's asynchronous work is a sequence of steps — BUILD/scheduling →
BUILD/spawning on a host (Placement allocations and the port made) → ACTIVE; powering-off → SHUTOFF;
powering-on → ACTIVE; rebooting → ACTIVE; deleting → gone. With ``auto_advance`` (the default) each
read of a server (``get_server``, ``list_servers``, ``find_servers_by_metadata``) first moves every
server it reads one step, so a polling loop sees the real sequence, only faster: ``create_server``
returns BUILD, the first read shows BUILD with its host, the second ACTIVE. ``tick()`` moves servers one
step and ``settle()`` until nothing is in progress; with ``auto_advance=False`` only they move time,
so a test can look at the states in between.

Outages. ``fake.available = False`` makes every gateway call raise ``CloudUnavailable`` (connection
refused) until it is set back; ``fail_next(method, error)`` makes the next call of one method raise
``error`` — before doing anything, or with ``after=True`` after it took effect (the answer was lost on
the way back: the case idempotent retries exist for). The cloud itself keeps working during an outage:
``tick()`` and ``settle()`` are not gateway calls and are never refused.

Every method is safe to call from several threads (one lock), and every record returned is a frozen
dataclass of ``portal.cloud.gateway`` holding copies, never the fake's own state.
"""

from __future__ import annotations

import base64
import collections
import functools
import hashlib
import ipaddress
import itertools
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Concatenate, ParamSpec, TypeVar

from portal.cloud.gateway import (
    QUOTA_DIMENSIONS,
    CloudAccess,
    CloudGateway,
    CloudNotFound,
    CloudRequestError,
    CloudUnavailable,
    ComputeService,
    ConsoleUnavailable,
    Flavor,
    FloatingIp,
    Hypervisor,
    Image,
    Inventory,
    Migration,
    Network,
    Port,
    Project,
    QuotaExceeded,
    QuotaService,
    ResourceProvider,
    RoleAssignment,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Server,
    ServerAction,
    ServerCreated,
    Subnet,
    User,
    Volume,
)

# --- the devcloud's estate (devcloud/src/kennel_devcloud/control.py and seed.py) --------------------


@dataclass(frozen=True)
class ComputeHost:
    """A compute node as the devcloud runs it: its hardware and what Placement is told about it."""

    name: str
    architecture: str
    availability_zone: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    reserved_memory_mb: int = 4096  # control.RESERVED_HOST_MEMORY_MB
    cpu_allocation_ratio: float = 16.0
    ram_allocation_ratio: float = 1.2
    disk_allocation_ratio: float = 1.0


@dataclass(frozen=True)
class ImageSpec:
    """An image as the devcloud uploads it (Glance's min_disk/min_ram plus its properties)."""

    name: str
    architecture: str | None
    os_distro: str
    os_version: str
    min_disk_gb: int
    min_ram_mb: int


DEVCLOUD_HOSTS: tuple[ComputeHost, ...] = (
    ComputeHost("x2", "x86_64", "dc1", vcpus=32, memory_mb=262144, disk_gb=1800),
    ComputeHost("x3", "x86_64", "dc1", vcpus=32, memory_mb=262144, disk_gb=1800),
    ComputeHost("x4", "x86_64", "dc1", vcpus=32, memory_mb=262144, disk_gb=1800),
    # A Power8 with SMT8: 20 cores of 8 threads.
    ComputeHost("p1", "ppc64le", "dc2", vcpus=160, memory_mb=524288, disk_gb=1800),
)

DEVCLOUD_FLAVORS: Mapping[str, tuple[int, int, int]] = {  # name: (vcpus, ram MiB, disk GB)
    "m1.tiny": (1, 512, 1),
    "m1.small": (1, 2048, 20),
    "m1.medium": (2, 4096, 40),
    "m1.large": (4, 8192, 80),
    "m1.xlarge": (8, 16384, 160),
}

DEVCLOUD_IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("cirros-0.6-x86_64", "x86_64", "cirros", "0.6", min_disk_gb=1, min_ram_mb=128),
    ImageSpec("cirros-0.6-ppc64le", "ppc64le", "cirros", "0.6", min_disk_gb=1, min_ram_mb=128),
    ImageSpec("centos-stream-9-x86_64", "x86_64", "centos", "9", min_disk_gb=10, min_ram_mb=1024),
    ImageSpec("centos-stream-9-ppc64le", "ppc64le", "centos", "9", min_disk_gb=10, min_ram_mb=1024),
)

PUBLIC_NETWORK = "public"
PUBLIC_CIDR = "203.0.113.0/24"
PUBLIC_GATEWAY = "203.0.113.1"
PUBLIC_POOL = ("203.0.113.100", "203.0.113.250")

# Demo team: (member user, private CIDR). Each gets <team>-net, <team>-subnet and <team>-router.
DEMO_TEAMS: Mapping[str, tuple[str, str]] = {
    "alpha": ("alpha-member", "10.10.0.0/24"),
    "beta": ("beta-member", "10.20.0.0/24"),
}
DEMO_DNS = "192.0.2.53"

# Nova's, Neutron's and Cinder's defaults for a project nobody has set quotas for. Neutron's "subnet"
# is enforced but is not one of the dimensions Kennel manages, so it is never reported.
DEFAULT_QUOTAS: Mapping[QuotaService, Mapping[str, int]] = {
    QuotaService.COMPUTE: {"instances": 10, "cores": 20, "ram": 51200},
    QuotaService.NETWORK: {
        "floatingip": 50,
        "network": 100,
        "subnet": 100,
        "router": 10,
        "port": 500,
        "security_group": 10,
    },
    QuotaService.VOLUME: {"gigabytes": 1000, "volumes": 10},
}
# What the seed sets for each demo team.
DEMO_QUOTAS: Mapping[QuotaService, Mapping[str, int]] = {
    QuotaService.COMPUTE: {"instances": 20, "cores": 64, "ram": 131072},
    QuotaService.NETWORK: {
        "floatingip": 10,
        "network": 10,
        "subnet": 20,
        "router": 3,
        "port": 100,
        "security_group": 20,
    },
    QuotaService.VOLUME: {"gigabytes": 500, "volumes": 20},  # when Cinder runs (DEVCLOUD_CINDER=1)
}

# keystone-manage bootstrap makes the first five; the seed adds nothing new.
ROLES = ("admin", "manager", "member", "reader", "service")
SERVICE_USERS = ("nova", "placement", "glance", "neutron")

# Cinder's states a volume rests in; the others move on at the next step.
_VOLUME_SETTLED = ("available", "in-use")

_ENDPOINTS = {
    "identity": "http://127.0.0.1:5000/v3",
    "compute": "http://127.0.0.1:8774/v2.1",
    "placement": "http://127.0.0.1:8778",
    "image": "http://127.0.0.1:9292",
    "network": "http://127.0.0.1:9696",
    "volume": "http://127.0.0.1:8776/v3",
}

# Nova's schema for server metadata keys and its limit on (base64) user data.
_METADATA_KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
_USER_DATA_MAX = 65535

# What Nova's fake virt driver answers for every server's console output (nova/virt/fake.py).
FAKE_CONSOLE_OUTPUT = "FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE"

# vm_state/task_state → the status Nova's API shows (nova/api/openstack/common.py, _STATE_MAP).
_STATUS = {
    "building": "BUILD",
    "active": "ACTIVE",
    "stopped": "SHUTOFF",
    "error": "ERROR",
    "resized": "VERIFY_RESIZE",
}
_ACTIVE_TASK_STATUS = {"rebooting": "REBOOT", "rebooting_hard": "HARD_REBOOT", "migrating": "MIGRATING"}
# Task states that show as their own status whatever the vm_state (active or stopped).
_TASK_STATUS = {
    "resize_prep": "RESIZE",
    "resize_reverting": "REVERT_RESIZE",
    "rebuilding": "REBUILD",
}
# Task states in which Nova accepts a hard reboot (task_states.ALLOW_REBOOT, the ones the fake has).
_HARD_REBOOT_TASKS = (None, "rebooting", "rebooting_hard")

P = ParamSpec("P")
R = TypeVar("R")
_R = TypeVar("_R", Project, User)


def _keystone_id() -> str:
    return uuid.uuid4().hex


def _uuid() -> str:
    return str(uuid.uuid4())


# --- the fake's own, mutable state ---------------------------------------------------------------


@dataclass
class _Host:
    spec: ComputeHost
    id: str = field(default_factory=_uuid)  # the compute node's uuid: hypervisor id = provider id
    enabled: bool = True  # nova-compute service status; a disabled host gets no new servers
    disabled_reason: str | None = None
    up: bool = True  # nova-compute reports in (False: forced down, or the process is gone)
    # Placement's provider generation: bumped whenever the usage it reports changes (see
    # FakeCloud._generation), however the fake's state changed.
    generation: int = 1
    reported_usage: dict[str, int] = field(default_factory=dict)

    def inventories(self) -> dict[str, tuple[int, int, float]]:
        """Per resource class: (total, reserved, allocation ratio), as nova-compute reports them."""
        s = self.spec
        return {
            "VCPU": (s.vcpus, 0, s.cpu_allocation_ratio),
            "MEMORY_MB": (s.memory_mb, s.reserved_memory_mb, s.ram_allocation_ratio),
            "DISK_GB": (s.disk_gb, 0, s.disk_allocation_ratio),
        }


# What Nova bumps ``updated_at`` for when it changes (instance.save() of any of these).
_TRACKED = frozenset(
    {"name", "vm_state", "task_state", "host", "flavor", "fault", "availability_zone", "image", "metadata"}
)


@dataclass
class _Server:
    id: str
    seq: int  # creation order: Nova lists the newest first
    name: str
    project_id: str
    image: Image
    flavor: Flavor
    network_id: str | None
    metadata: dict[str, str]
    created_at: datetime
    vm_state: str = "building"
    task_state: str | None = "scheduling"
    host: str | None = None
    availability_zone: str | None = None
    fault: str | None = None
    launched: bool = False
    allocation: dict[str, int] = field(default_factory=dict)  # what Placement holds for it on ``host``
    migrating_to: str | None = None  # the target of the live migration under way
    locked: bool = False
    # A resize waiting for confirm or revert: the old flavor, host and vm_state, whose allocation
    # Placement still holds on the old host (the migration's).
    resize_target: Flavor | None = None
    resized_from: tuple[Flavor, str | None, dict[str, int], str] | None = None
    snapshot_image_id: str | None = None  # the image a snapshot under way uploads into
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False, compare=False)
    updated_at: datetime | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        # Like Nova's instance.save(): any change to what the API shows moves ``updated_at``, whoever
        # makes it (the fake's steps, actions, a test's outside change).
        known = self.__dict__
        if name in _TRACKED and name in known and known[name] != value and "clock" in known:
            object.__setattr__(self, "updated_at", known["clock"]())
        object.__setattr__(self, name, value)


@dataclass
class _Migration:
    id: int
    server_id: str
    status: str
    source_host: str | None
    dest_host: str | None
    created_at: datetime
    kind: str = "live-migration"


@dataclass
class _Port:
    id: str
    network_id: str
    subnet_id: str | None
    ip: str | None
    project_id: str  # "" for the ports Neutron owns itself (router gateway, floating IP)
    device_id: str
    device_owner: str  # compute:<zone>, network:router_interface, network:router_gateway, network:floatingip
    security_group_ids: list[str] = field(default_factory=list)  # a server's ports: its project's default


@dataclass
class _SecurityGroup:
    id: str
    name: str
    project_id: str
    rules: dict[str, SecurityGroupRule] = field(default_factory=dict)


@dataclass
class _Network:
    id: str
    name: str
    project_id: str
    external: bool
    subnet_ids: list[str] = field(default_factory=list)


@dataclass
class _Subnet:
    id: str
    name: str
    network_id: str
    project_id: str
    cidr: ipaddress.IPv4Network
    gateway_ip: str | None
    pool: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]  # first and last address handed out
    dns_nameservers: tuple[str, ...]


@dataclass
class _Router:
    id: str
    name: str
    project_id: str
    external_network_id: str | None


@dataclass
class _FloatingIp:
    id: str
    address: str
    project_id: str
    network_id: str
    own_port_id: str  # the port on the external network that holds the address
    port_id: str | None = None  # the server port it is associated with


@dataclass
class _Volume:
    id: str
    name: str
    project_id: str
    size_gb: int
    status: str  # creating -> available; attaching -> in-use; detaching -> available; deleting -> gone
    server_id: str | None = None
    device: str | None = None


@dataclass
class _Failure:
    error: Exception
    after: bool


def _gateway_call(
    service: str,
) -> Callable[[Callable[Concatenate[FakeCloud, P], R]], Callable[Concatenate[FakeCloud, P], R]]:
    """Mark a ``CloudGateway`` method of ``service``: one call at a time, through the outage switches."""

    def decorate(method: Callable[Concatenate[FakeCloud, P], R]) -> Callable[Concatenate[FakeCloud, P], R]:
        name = method.__name__

        @functools.wraps(method)
        def call(self: FakeCloud, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with self._lock:
                self.calls[name] += 1
                if not self.available:
                    raise CloudUnavailable(
                        f"the cloud cannot be reached: Unable to establish connection to "
                        f"{_ENDPOINTS[service]}: [Errno 111] Connection refused"
                    )
                queued = self._failures.get(name)
                failure = queued.popleft() if queued else None
                if failure is not None and not failure.after:
                    raise failure.error
                result = method(self, *args, **kwargs)
                if failure is not None:
                    raise failure.error
                return result

        return call

    return decorate


class FakeCloud:
    """The devcloud in memory; see the module docstring for what it models and how time passes."""

    def __init__(
        self,
        *,
        hosts: Iterable[ComputeHost] = DEVCLOUD_HOSTS,
        flavors: Mapping[str, tuple[int, int, int]] = DEVCLOUD_FLAVORS,
        images: Iterable[ImageSpec] = DEVCLOUD_IMAGES,
        block_storage: bool = False,
        portal_user: str | None = "admin",
        keypairs: Iterable[str] = (),
        auto_advance: bool = True,
    ) -> None:
        """The devcloud's estate, or other hosts, flavors and images for a test that needs them.

        ``block_storage``: whether Cinder runs (the devcloud's only with ``DEVCLOUD_CINDER=1``).
        ``portal_user``: the Keystone user the gateway acts as; like the real gateway, it can create
        servers only in projects where that user holds a role (None: anywhere). ``keypairs``: the names
        of the Nova key pairs that exist. ``auto_advance``: whether reads move time (module docstring).
        """
        self.available = True
        self.auto_advance = auto_advance
        # Whether a console proxy answers (the devcloud runs nova-novncproxy); False: a cloud without.
        self.console_proxy = True
        self._lock = threading.RLock()
        self._failures: dict[str, collections.deque[_Failure]] = {}
        # How often each gateway method was called (refused calls included): what a test counts to
        # show that a path spares the cloud a request.
        self.calls: collections.Counter[str] = collections.Counter()
        self._seq = itertools.count()
        self._block_storage = block_storage
        self._portal_user = portal_user
        self._keypairs = frozenset(keypairs)

        self._hosts = {spec.name: _Host(spec) for spec in hosts}
        self._flavors = {
            flavor.id: flavor
            for flavor in (
                Flavor(id=_uuid(), name=name, vcpus=v, ram_mb=r, disk_gb=d, is_public=True)
                for name, (v, r, d) in flavors.items()
            )
        }
        self._images = {image.id: image for image in map(_glance_image, images)}
        self._servers: dict[str, _Server] = {}
        # Deleted servers as a ``changes_since`` listing shows them (Nova keeps soft-deleted rows).
        self._deleted_servers: dict[str, Server] = {}
        # The cloud's clock (Nova's ``updated_at``); a test may set it to place changes in time.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._migrations: list[_Migration] = []

        self._projects: dict[str, Project] = {}
        self._users: dict[str, User] = {}
        self._assignments: dict[tuple[str, str, str], None] = {}  # (user, project, role), in order made
        self._quotas: dict[str, dict[QuotaService, dict[str, int]]] = {}

        self._volumes: dict[str, _Volume] = {}
        self._networks: dict[str, _Network] = {}
        self._subnets: dict[str, _Subnet] = {}
        self._ports: dict[str, _Port] = {}
        self._routers: dict[str, _Router] = {}
        self._floating_ips: dict[str, _FloatingIp] = {}
        self._security_groups: dict[str, _SecurityGroup] = {}
        self._passwords: dict[str, str] = {}  # user id -> the password last set (see password_of)

        self._seed_estate()

    # --- the fake's own knobs (not part of CloudGateway) ---------------------------------------------
    def fail_next(self, method: str, error: Exception | None = None, *, after: bool = False) -> None:
        """Make the next call of ``method`` raise ``error`` (by default a timeout, ``CloudUnavailable``).

        With ``after=True`` the call first takes effect, as when the cloud did the work and the answer
        was lost. Several failures for one method are used up in the order they were queued."""
        if method.startswith("_") or not callable(getattr(CloudGateway, method, None)):
            raise ValueError(f"{method!r} is not a CloudGateway method")
        if error is None:
            error = CloudUnavailable(f"the cloud cannot be reached: {method} timed out (injected)")
        with self._lock:
            self._failures.setdefault(method, collections.deque()).append(_Failure(error, after))

    def tick(self, server_id: str | None = None) -> None:
        """Move every server (or the one given) one step along whatever Nova is doing to it."""
        with self._lock:
            if server_id is not None:
                if server_id not in self._servers:
                    raise KeyError(f"the fake has no server {server_id}")
                self._step(self._servers[server_id])
                return
            for server in self._servers_in_order():
                self._step(server)
            for volume in list(self._volumes.values()):
                self._volume_step(volume)

    # --- changes made outside Kennel (an operator's own openstack client), for tests ----------------
    def rename_server(self, server_id: str, name: str) -> None:
        with self._lock:
            self._servers[server_id].name = name

    def resize_server_outside(self, server_id: str, flavor_name: str) -> None:
        """An operator's resize, confirmed at once: the new flavor, and Placement's allocation with it."""
        with self._lock:
            server = self._servers[server_id]
            server.flavor = next(f for f in self._flavors.values() if f.name == flavor_name)
            if server.allocation:
                server.allocation = {
                    "VCPU": server.flavor.vcpus,
                    "MEMORY_MB": server.flavor.ram_mb,
                    "DISK_GB": server.flavor.disk_gb,
                }

    def set_host_up(self, host: str, up: bool) -> None:
        """nova-compute on ``host`` stops (or starts again) reporting: Nova shows the host down."""
        with self._lock:
            self._hosts[host].up = up

    def remove_host(self, host: str) -> None:
        """The host's compute service deleted: Nova and Placement forget it."""
        with self._lock:
            del self._hosts[host]

    def remove_flavor(self, name: str) -> None:
        with self._lock:
            del self._flavors[next(f.id for f in self._flavors.values() if f.name == name)]

    def password_of(self, user_id: str) -> str | None:
        """The password last set for the user through the gateway (what Keystone would check)."""
        with self._lock:
            return self._passwords.get(user_id)

    def settle(self) -> None:
        """Move time on until no server is in the middle of anything."""
        with self._lock:
            for _ in range(10):  # no sequence of the fake's takes more than three steps
                if all(s.task_state is None for s in self._servers.values()) and all(
                    v.status in _VOLUME_SETTLED for v in self._volumes.values()
                ):
                    return
                self.tick()
            raise AssertionError("FakeCloud: a server never settled; its step is missing from _step()")

    # --- catalog -------------------------------------------------------------------------------------
    @_gateway_call("image")
    def list_images(self) -> list[Image]:
        return [replace(i, properties=dict(i.properties)) for i in self._images.values()]

    @_gateway_call("compute")
    def list_flavors(self) -> list[Flavor]:
        return [replace(f, extra_specs=dict(f.extra_specs)) for f in self._flavors.values()]

    # --- images (Glance) -----------------------------------------------------------------------------
    def _glance(self, image_id: str) -> Image:
        if image_id not in self._images:
            raise CloudNotFound(f"No image found with ID {image_id}")
        return self._images[image_id]

    @_gateway_call("image")
    def get_image(self, image_id: str) -> Image:
        image = self._glance(image_id)
        return replace(image, properties=dict(image.properties))

    @_gateway_call("image")
    def update_image(
        self,
        image_id: str,
        *,
        properties: Mapping[str, str] | None = None,
        remove: Iterable[str] = (),
        min_disk_gb: int | None = None,
        min_ram_mb: int | None = None,
        visibility: str | None = None,
    ) -> Image:
        image = self._glance(image_id)
        _check_image_properties(properties or {})
        if visibility is not None and visibility not in ("public", "private", "shared", "community"):
            raise CloudRequestError(f"Invalid visibility value: {visibility}")
        merged = {**image.properties, **{k: str(v) for k, v in (properties or {}).items()}}
        for key in remove:
            merged.pop(key, None)
        for name, value in (("min_disk", min_disk_gb), ("min_ram", min_ram_mb)):
            if value is not None and value < 0:
                raise CloudRequestError(f"Invalid value '{value}' for parameter '{name}': must be >= 0")
        updated = replace(
            image,
            properties=merged,
            architecture=merged.get("hw_architecture"),
            min_disk_gb=image.min_disk_gb if min_disk_gb is None else min_disk_gb,
            min_ram_mb=image.min_ram_mb if min_ram_mb is None else min_ram_mb,
            visibility=image.visibility if visibility is None else visibility,
        )
        self._images[image_id] = updated
        return replace(updated, properties=dict(merged))

    @_gateway_call("image")
    def create_image(
        self,
        *,
        name: str,
        disk_format: str,
        visibility: str = "public",
        min_disk_gb: int = 0,
        min_ram_mb: int = 0,
        properties: Mapping[str, str] | None = None,
    ) -> Image:
        if disk_format not in GLANCE_DISK_FORMATS:
            raise CloudRequestError(
                f"Invalid value '{disk_format}' for parameter 'disk_format': Valid values are: "
                + ", ".join(GLANCE_DISK_FORMATS)
            )
        props = {k: str(v) for k, v in (properties or {}).items()}
        _check_image_properties(props)
        image = Image(
            id=_uuid(),
            name=name,
            status="queued",
            architecture=props.get("hw_architecture"),
            min_disk_gb=min_disk_gb,
            min_ram_mb=min_ram_mb,
            size_bytes=None,
            visibility=visibility,
            properties=props,
            disk_format=disk_format,
        )
        self._images[image.id] = image
        return replace(image, properties=dict(props))

    @_gateway_call("image")
    def upload_image_data(self, image_id: str, data: BinaryIO, *, size: int) -> None:
        image = self._glance(image_id)
        if image.status != "queued":
            raise CloudRequestError(f"Image status transition from {image.status} to saving is not allowed")
        md5, sha512, read, head = hashlib.md5(usedforsecurity=False), hashlib.sha512(), 0, b""
        while chunk := data.read(65536):  # Glance reads the body in blocks, as the real one does
            if len(head) < 512:
                head += chunk[: 512 - len(head)]
            md5.update(chunk)
            sha512.update(chunk)
            read += len(chunk)
        found = _sniff_disk_format(head)
        if image.disk_format in ("qcow2", "vmdk", "vdi") and found != image.disk_format:
            # Glance's format inspector refuses data that is not what the image says it is.
            raise CloudRequestError(
                f"Glance refused the data (HTTP 415): Image disk_format {image.disk_format} "
                f"does not match stream data {found or 'raw'}"
            )
        if found is None and not _mbr_is_safe(head):
            # oslo.utils' GPT/MBR safety check: a boot signature needs a sane partition table.
            raise CloudRequestError("Glance refused the data (HTTP 415): Image failed safety checks")
        virtual = int.from_bytes(head[24:32], "big") if found == "qcow2" and len(head) >= 32 else read
        self._images[image_id] = replace(
            image,
            status="active",
            size_bytes=read,
            checksum=md5.hexdigest(),
            hash_algo="sha512",
            hash_value=sha512.hexdigest(),
            virtual_size_bytes=virtual,
            properties={**image.properties, "stores": "fs"},
        )

    @_gateway_call("image")
    def delete_image(self, image_id: str) -> None:
        self._glance(image_id)
        del self._images[image_id]

    # --- capacity ------------------------------------------------------------------------------------
    @_gateway_call("compute")
    def list_hypervisors(self) -> list[Hypervisor]:
        return [
            Hypervisor(
                id=h.id,
                hostname=h.spec.name,
                state="up" if h.up else "down",
                status="enabled" if h.enabled else "disabled",
                host_ip="127.0.0.1",
                disabled_reason=h.disabled_reason,
            )
            for h in self._hosts.values()
        ]

    def _host(self, host: str) -> _Host:
        if host not in self._hosts:
            raise CloudNotFound(f"no nova-compute service on host {host!r}")
        return self._hosts[host]

    @_gateway_call("compute")
    def compute_service(self, host: str) -> ComputeService:
        h = self._host(host)
        return ComputeService(host=host, enabled=h.enabled, up=h.up, disabled_reason=h.disabled_reason)

    @_gateway_call("compute")
    def set_compute_service_enabled(
        self, host: str, *, enabled: bool, reason: str | None = None
    ) -> ComputeService:
        h = self._host(host)
        h.enabled, h.disabled_reason = enabled, (None if enabled else reason)
        return self.compute_service(host)

    @_gateway_call("compute")
    def list_servers_on_host(self, host: str) -> list[Server]:
        self._host(host)
        return [
            self._server_record(s)
            for s in sorted(self._servers.values(), key=lambda s: -s.seq)
            if s.host == host
        ]

    @_gateway_call("placement")
    def list_resource_providers(self, *, known: Mapping[str, int] | None = None) -> list[ResourceProvider]:
        providers = []
        for host in self._hosts.values():
            generation = self._generation(host)
            if known is not None and known.get(host.id) == generation:
                providers.append(
                    ResourceProvider(
                        id=host.id,
                        name=host.spec.name,
                        architecture=None,
                        inventories={},
                        generation=generation,
                        detailed=False,
                    )
                )
                continue
            used = self._used(host.spec.name)
            inventories = {
                rc: Inventory(total=total, reserved=reserved, allocation_ratio=ratio, used=used[rc])
                for rc, (total, reserved, ratio) in host.inventories().items()
            }
            providers.append(
                ResourceProvider(
                    id=host.id,
                    name=host.spec.name,
                    architecture=host.spec.architecture,
                    inventories=inventories,
                    generation=generation,
                )
            )
        return providers

    def _generation(self, host: _Host) -> int:
        used = self._used(host.spec.name)
        if used != host.reported_usage:
            host.generation += 1
            host.reported_usage = used
        return host.generation

    @_gateway_call("compute")
    def live_migrate_server(self, server_id: str, *, host: str | None = None) -> None:
        server = self._server(server_id)
        if host is not None and host not in self._hosts:
            raise CloudRequestError(f"Compute host {host} could not be found.")
        self._check_state(server, "os-migrateLive", vm_states=("active",), needs_host=True)
        if host == server.host:
            raise CloudRequestError(f"Unable to migrate instance ({server.id}) to current host ({host}).")
        migration = _Migration(
            id=len(self._migrations) + 1,
            server_id=server.id,
            status="error",
            source_host=server.host,
            dest_host=None,
            created_at=self.clock().replace(microsecond=0),
        )
        self._migrations.append(migration)
        # The conductor schedules at once (Nova answers 400 when nothing fits): the image's
        # architecture, an enabled host other than the source, room for the flavor; a named host
        # must pass the same checks.
        wanted = server.image.architecture or "x86_64"
        candidates = [
            h
            for h in self._hosts.values()
            if h.enabled
            and h.spec.name != server.host
            and h.spec.architecture == wanted
            and (host is None or h.spec.name == host)
            and self._fits(h, server)
        ]
        if not candidates:
            raise CloudRequestError("No valid host was found. There are not enough hosts available.")
        target = max(candidates, key=lambda h: self._free(h)["MEMORY_MB"])
        migration.status, migration.dest_host = "running", target.spec.name
        server.task_state, server.migrating_to = "migrating", target.spec.name

    @_gateway_call("compute")
    def list_server_migrations(self, server_id: str) -> list[Migration]:
        return [
            Migration(
                id=str(m.id),
                server_id=m.server_id,
                status=m.status,
                kind=m.kind,
                source_host=m.source_host,
                dest_host=m.dest_host,
                created_at=m.created_at,
            )
            for m in reversed(self._migrations)
            if m.server_id == server_id
        ]

    # --- servers -------------------------------------------------------------------------------------
    @_gateway_call("compute")
    def create_server(
        self,
        *,
        project_id: str,
        name: str,
        image_id: str,
        flavor_id: str,
        network_id: str | None = None,
        user_data: str | None = None,
        key_name: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ServerCreated:
        self._require_portal_role(project_id)
        metadata = dict(metadata or {})
        _check_server_input(name, metadata, user_data)
        flavor = self._flavors.get(flavor_id)
        if flavor is None:
            raise CloudRequestError(f"Flavor {flavor_id} could not be found.")
        image = self._images.get(image_id)
        if image is None:
            raise CloudRequestError("Can not find requested image")
        if image.status != "active":
            raise CloudRequestError(f"Image {image_id} is not active.")
        if key_name is not None and key_name not in self._keypairs:
            raise CloudRequestError("Invalid key_name provided.")
        if flavor.ram_mb < image.min_ram_mb:
            raise CloudRequestError("Flavor's memory is too small for requested image.")
        if flavor.disk_gb < image.min_disk_gb:
            raise CloudRequestError(
                "Flavor's disk is smaller than the minimum size specified in image metadata. "
                f"Flavor disk is {flavor.disk_gb * 1024**3} bytes, minimum size is "
                f"{image.min_disk_gb * 1024**3} bytes."
            )
        if network_id is not None:
            self._check_bootable_network(project_id, network_id)
        self._check_instance_quota(project_id, flavor)

        server = _Server(
            id=_uuid(),
            seq=next(self._seq),
            name=name,
            project_id=project_id,
            image=image,
            flavor=flavor,
            network_id=network_id,
            metadata=metadata,
            created_at=self.clock().replace(microsecond=0),
            clock=lambda: self.clock(),
            updated_at=self.clock(),
        )
        self._servers[server.id] = server
        return ServerCreated(id=server.id, name=server.name, project_id=server.project_id)

    @_gateway_call("compute")
    def get_server(self, server_id: str) -> Server:
        server = self._server(server_id)
        if self.auto_advance:
            self._step(server)
            server = self._server(server_id)  # a deletion may have just finished
        return self._server_record(server)

    @_gateway_call("compute")
    def list_servers(
        self, *, project_id: str | None = None, changes_since: datetime | None = None
    ) -> list[Server]:
        servers = [self._server_record(s) for s in self._read_servers(project_id)]
        if changes_since is None:
            return servers
        # Nova compares whole seconds (the query's timestamp has no fraction).
        since = changes_since.replace(microsecond=0)
        deleted = [
            s for s in self._deleted_servers.values() if project_id is None or s.project_id == project_id
        ]
        return [s for s in [*servers, *deleted] if s.updated_at is not None and s.updated_at >= since]

    @_gateway_call("compute")
    def find_servers_by_metadata(self, *, project_id: str, key: str, value: str) -> list[Server]:
        return [
            self._server_record(s) for s in self._read_servers(project_id) if s.metadata.get(key) == value
        ]

    @_gateway_call("compute")
    def server_action(self, server_id: str, action: ServerAction) -> None:
        server = self._server(server_id)
        match ServerAction(action):
            case ServerAction.START:
                self._check_state(server, "start", vm_states=("stopped",), needs_host=True)
                server.task_state = "powering-on"
            case ServerAction.STOP:
                self._check_state(server, "stop", vm_states=("active", "error"), needs_host=True)
                server.task_state = "powering-off"
            case ServerAction.REBOOT_SOFT:
                self._check_state(server, "reboot", vm_states=("active",))
                server.task_state = "rebooting"
            case ServerAction.REBOOT_HARD:
                self._check_state(
                    server, "reboot", vm_states=("active", "stopped", "error"), task_states=_HARD_REBOOT_TASKS
                )
                server.task_state = "rebooting_hard"
            case ServerAction.CONFIRM_RESIZE:
                self._check_state(server, "confirmResize", vm_states=("resized",))
                server.task_state = "resize_confirming"
            case ServerAction.REVERT_RESIZE:
                self._check_state(server, "revertResize", vm_states=("resized",))
                server.task_state = "resize_reverting"
            case ServerAction.LOCK:
                server.locked = True
            case ServerAction.UNLOCK:
                server.locked = False

    @_gateway_call("compute")
    def resize_server(self, server_id: str, *, flavor_id: str) -> None:
        server = self._server(server_id)
        flavor = self._flavors.get(flavor_id)
        if flavor is None:
            raise CloudRequestError(f"Flavor {flavor_id} could not be found.")
        self._check_state(server, "resize", vm_states=("active", "stopped"), needs_host=True)
        if flavor.id == server.flavor.id:
            raise CloudRequestError("When resizing, instances must change flavor!")
        limits = self._limits(server.project_id, QuotaService.COMPUTE)
        in_use = self._compute_usage(server.project_id)
        deltas = {"cores": flavor.vcpus - server.flavor.vcpus, "ram": flavor.ram_mb - server.flavor.ram_mb}
        overs = sorted(
            r for r, n in deltas.items() if n > 0 and limits[r] != -1 and in_use[r] + n > limits[r]
        )
        if overs:
            raise QuotaExceeded(f"Quota exceeded for {', '.join(overs)}: Requested {deltas[overs[0]]}")
        self._migrations.append(
            _Migration(
                id=len(self._migrations) + 1,
                server_id=server.id,
                status="pre-migrating",
                source_host=server.host,
                dest_host=None,
                created_at=self.clock().replace(microsecond=0),
                kind="resize",
            )
        )
        server.resize_target, server.task_state = flavor, "resize_prep"

    @_gateway_call("compute")
    def rebuild_server(self, server_id: str, *, image_id: str) -> None:
        server = self._server(server_id)
        image = self._images.get(image_id)
        if image is None:
            raise CloudRequestError(f"Image {image_id} could not be found.")
        if image.status != "active":
            raise CloudRequestError(f"Image {image_id} is not active.")
        self._check_state(server, "rebuild", vm_states=("active", "stopped", "error"))
        if server.flavor.disk_gb < image.min_disk_gb:
            raise CloudRequestError("Flavor's disk is too small for requested image.")
        if server.flavor.ram_mb < image.min_ram_mb:
            raise CloudRequestError("Flavor's memory is too small for requested image.")
        server.image, server.task_state = image, "rebuilding"

    @_gateway_call("compute")
    def create_server_image(self, server_id: str, *, name: str, properties: Mapping[str, str]) -> str:
        server = self._server(server_id)
        self._check_state(server, "createImage", vm_states=("active", "stopped"), needs_host=True)
        _check_image_properties(properties)
        # Nova copies the server's image properties (minus Glance's own) and adds its own.
        inherited = {k: v for k, v in server.image.properties.items() if k != "stores"}
        props = {
            **inherited,
            "base_image_ref": server.image.id,
            "image_type": "snapshot",
            "owner_project_name": next(
                (p.name for p in self._projects.values() if p.id == server.project_id), ""
            ),
            **{k: str(v) for k, v in properties.items()},
        }
        image = Image(
            id=_uuid(),
            name=name,
            status="queued",
            architecture=props.get("hw_architecture"),
            min_disk_gb=max(server.flavor.disk_gb, server.image.min_disk_gb),
            min_ram_mb=server.image.min_ram_mb,
            size_bytes=None,
            visibility="shared",
            properties=props,
            disk_format=server.image.disk_format,
            owner=server.project_id,
        )
        self._images[image.id] = image
        server.task_state, server.snapshot_image_id = "image_snapshot", image.id
        return image.id

    @_gateway_call("compute")
    def server_console_url(self, server_id: str) -> str:
        server = self._server(server_id)
        if server.vm_state != "active":
            raise CloudRequestError(f"Instance {server_id} is not ready")
        if not self.console_proxy:
            raise ConsoleUnavailable("the cloud's console proxy at 127.0.0.1:6080 does not answer")
        return f"http://127.0.0.1:6080/vnc_auto.html?path=%3Ftoken%3D{_uuid()}"

    @_gateway_call("compute")
    def server_console_output(self, server_id: str, *, lines: int | None = None) -> str:
        server = self._server(server_id)
        if server.host is None:  # Nova's check_instance_host
            raise CloudRequestError(f"Instance {server_id} is not ready")
        output = FAKE_CONSOLE_OUTPUT.splitlines()
        return "\n".join(output if lines is None else output[-lines:] if lines > 0 else [])

    @_gateway_call("compute")
    def delete_server(self, server_id: str) -> None:
        # Nova accepts a delete in any state; the instance goes once the compute host is done with it.
        self._server(server_id).task_state = "deleting"

    # --- volumes (Cinder, with ``block_storage``) ----------------------------------------------------
    def _volume_record(self, volume: _Volume) -> Volume:
        return Volume(
            id=volume.id, name=volume.name, project_id=volume.project_id, size_gb=volume.size_gb,
            status=volume.status, server_id=volume.server_id, device=volume.device,
        )  # fmt: skip

    def _volume(self, volume_id: str) -> _Volume:
        if not self._block_storage:
            raise CloudRequestError("this cloud has no block storage (volume) service")
        volume = self._volumes.get(volume_id)
        if volume is None:
            raise CloudNotFound(f"Volume {volume_id} could not be found.")
        return volume

    def _volume_step(self, volume: _Volume) -> None:
        match volume.status:
            case "creating" | "detaching":
                volume.status, volume.server_id, volume.device = "available", None, None
            case "attaching":
                volume.status = "in-use"
            case "deleting":
                del self._volumes[volume.id]

    @_gateway_call("volume")
    def list_volumes(self, *, project_id: str | None = None) -> list[Volume]:
        if not self._block_storage:
            raise CloudRequestError("this cloud has no block storage (volume) service")
        if self.auto_advance:
            for volume in list(self._volumes.values()):
                self._volume_step(volume)
        return [
            self._volume_record(v)
            for v in self._volumes.values()
            if project_id is None or v.project_id == project_id
        ]

    @_gateway_call("volume")
    def create_volume(self, *, project_id: str, name: str, size_gb: int) -> Volume:
        self._check_quota_target(project_id, QuotaService.VOLUME)
        if size_gb < 1:
            raise CloudRequestError(
                f"Invalid input received: Volume size '{size_gb}' must be an integer and greater than 0."
            )
        limits, used = (
            self._limits(project_id, QuotaService.VOLUME),
            self._quota_usage(project_id, QuotaService.VOLUME),
        )
        if limits["volumes"] != -1 and used["volumes"] + 1 > limits["volumes"]:
            raise QuotaExceeded(
                f"Maximum number of volumes allowed ({limits['volumes']}) exceeded for quota 'volumes'."
            )
        if limits["gigabytes"] != -1 and used["gigabytes"] + size_gb > limits["gigabytes"]:
            raise QuotaExceeded(
                "Requested volume or snapshot exceeds allowed gigabytes quota. "
                f"Requested {size_gb}G, quota is {limits['gigabytes']}G and "
                f"{used['gigabytes']}G has been consumed."
            )
        volume = _Volume(id=_uuid(), name=name, project_id=project_id, size_gb=size_gb, status="creating")
        self._volumes[volume.id] = volume
        return self._volume_record(volume)

    @_gateway_call("volume")
    def get_volume(self, volume_id: str) -> Volume:
        volume = self._volume(volume_id)
        if self.auto_advance:
            self._volume_step(volume)
            if volume.id not in self._volumes:
                raise CloudNotFound(f"Volume {volume_id} could not be found.")
        return self._volume_record(volume)

    @_gateway_call("volume")
    def delete_volume(self, volume_id: str) -> None:
        volume = self._volume(volume_id)
        if volume.status not in ("available", "error") or volume.server_id:
            raise CloudRequestError(
                "Invalid volume: Volume status must be available or error or error_restoring or "
                "error_extending or error_managing and must not be migrating, attached, belong to a group, "
                "have snapshots, awaiting a transfer, or be disassociated from snapshots after volume "
                "transfer."
            )
        volume.status = "deleting"

    @_gateway_call("compute")
    def attach_volume(self, *, server_id: str, volume_id: str) -> None:
        server = self._server(server_id)
        volume = self._volume(volume_id)
        if volume.status != "available":
            raise CloudRequestError(f"Invalid volume: volume {volume_id} status must be available")
        if volume.project_id != server.project_id:
            raise CloudNotFound(f"Volume {volume_id} could not be found.")
        taken = {v.device for v in self._volumes.values() if v.server_id == server_id}
        # Nova names it: the devcloud's fake virt driver says /dev/sdb (libvirt with virtio: /dev/vdb).
        device = next(f"/dev/sd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/sd{c}" not in taken)
        volume.status, volume.server_id, volume.device = "attaching", server_id, device

    @_gateway_call("compute")
    def detach_volume(self, *, server_id: str, volume_id: str) -> None:
        self._server(server_id)
        volume = self._volume(volume_id)
        if volume.server_id != server_id or volume.status != "in-use":
            raise CloudNotFound(f"Volume {volume_id} is not attached to {server_id}")
        volume.status = "detaching"

    # --- quotas --------------------------------------------------------------------------------------
    @_gateway_call("identity")
    def services(self) -> frozenset[QuotaService]:
        found = {QuotaService.COMPUTE, QuotaService.NETWORK}
        if self._block_storage:
            found.add(QuotaService.VOLUME)
        return frozenset(found)

    @_gateway_call("compute")
    def get_quotas(self, project_id: str, service: QuotaService) -> dict[str, int]:
        return self._quota_limits(project_id, service)

    def _quota_limits(self, project_id: str, service: QuotaService) -> dict[str, int]:
        service = QuotaService(service)
        self._check_quota_target(project_id, service)
        limits = self._limits(project_id, service)
        return {name: limits[name] for name in QUOTA_DIMENSIONS[service]}

    @_gateway_call("compute")
    def set_quotas(self, project_id: str, service: QuotaService, values: Mapping[str, int]) -> dict[str, int]:
        service = QuotaService(service)
        unknown = set(values) - set(QUOTA_DIMENSIONS[service])
        if unknown:
            raise CloudRequestError(f"unknown {service} quota: {', '.join(sorted(unknown))}")
        self._check_quota_target(project_id, service)
        for name, value in values.items():
            if value < -1:
                raise CloudRequestError(
                    f"Invalid input for field/attribute {name}. Value: {value}. "
                    f"{value} is less than the minimum of -1"
                )
        if service == QuotaService.COMPUTE:
            # Nova refuses a limit below what is in use; Neutron and Cinder do not check by default.
            in_use = self._compute_usage(project_id)
            for name, value in values.items():
                if value != -1 and value < in_use[name]:
                    raise CloudRequestError(
                        f"Quota limit {value} for {name} must be greater than or equal to already used "
                        f"and reserved {in_use[name]}."
                    )
        self._quotas.setdefault(project_id, {}).setdefault(service, {}).update(values)
        limits = self._limits(project_id, service)
        return {name: limits[name] for name in QUOTA_DIMENSIONS[service]}

    @_gateway_call("compute")
    def get_quota_usage(self, project_id: str, service: QuotaService) -> dict[str, int]:
        return self._quota_usage(project_id, service)

    def _quota_usage(self, project_id: str, service: QuotaService) -> dict[str, int]:
        service = QuotaService(service)
        self._check_quota_target(project_id, service)
        if service == QuotaService.COMPUTE:
            return self._compute_usage(project_id)
        if service == QuotaService.NETWORK:

            def count(items: Iterable[Any]) -> int:
                return sum(item.project_id == project_id for item in items)

            return {
                "floatingip": count(self._floating_ips.values()),
                "network": count(self._networks.values()),
                "router": count(self._routers.values()),
                "port": count(self._ports.values()),
                # Neutron gives every project its "default" group on first use.
                "security_group": 1,
            }
        mine = [v for v in self._volumes.values() if v.project_id == project_id]
        return {"gigabytes": sum(v.size_gb for v in mine), "volumes": len(mine)}

    @_gateway_call("compute")
    def get_quotas_with_usage(
        self, project_id: str, service: QuotaService
    ) -> tuple[dict[str, int], dict[str, int]]:
        return self._quota_limits(project_id, service), self._quota_usage(project_id, service)

    # --- identity ------------------------------------------------------------------------------------
    @_gateway_call("identity")
    def access_info(self) -> CloudAccess:
        return CloudAccess(
            auth_url=_ENDPOINTS["identity"],
            region_name="RegionOne",
            interface="public",
            identity_api_version="3",
        )

    @_gateway_call("identity")
    def create_project(self, *, name: str, description: str = "") -> Project:
        return self._add_project(name, description)

    @_gateway_call("identity")
    def list_projects(self) -> list[Project]:
        return list(self._projects.values())

    @_gateway_call("identity")
    def find_project(self, name_or_id: str) -> Project | None:
        return self._find_by_name_or_id(self._projects, name_or_id)

    @_gateway_call("identity")
    def delete_project(self, project_id: str) -> None:
        # Keystone forgets the project and its role assignments; Nova's and Neutron's resources of the
        # project stay where they are, as on the real cloud.
        if self._projects.pop(project_id, None) is None:
            raise CloudNotFound(f"Could not find project: {project_id}.")
        for key in [k for k in self._assignments if k[1] == project_id]:
            del self._assignments[key]

    @_gateway_call("identity")
    def create_user(
        self,
        *,
        name: str,
        email: str | None = None,
        password: str | None = None,
        default_project_id: str | None = None,
        description: str = "",
    ) -> User:
        user = self._add_user(
            name, email=email, default_project_id=default_project_id, description=description
        )
        if password:
            self._passwords[user.id] = password
        return user

    @_gateway_call("identity")
    def find_user(self, name_or_id: str) -> User | None:
        return self._find_by_name_or_id(self._users, name_or_id)

    @_gateway_call("identity")
    def list_users(self) -> list[User]:
        return list(self._users.values())

    @_gateway_call("identity")
    def set_user_password(self, user_id: str, password: str) -> None:
        if user_id not in self._users:
            raise CloudNotFound(f"Could not find user: {user_id}.")
        if not password:
            raise CloudRequestError("Invalid input for field 'password': '' is too short")
        self._passwords[user_id] = password

    @_gateway_call("identity")
    def whoami(self) -> User:
        user = self._find_by_name_or_id(self._users, self._portal_user or "admin")
        if user is None:
            raise CloudRequestError("the portal's cloud user does not exist")
        return user

    @_gateway_call("identity")
    def delete_user(self, user_id: str) -> None:
        if self._users.pop(user_id, None) is None:
            raise CloudNotFound(f"Could not find user: {user_id}.")
        self._passwords.pop(user_id, None)
        for key in [k for k in self._assignments if k[0] == user_id]:
            del self._assignments[key]

    @_gateway_call("identity")
    def assign_role(self, *, user_id: str, project_id: str, role: str) -> None:
        self._check_grant(user_id, project_id, role)
        self._assignments[(user_id, project_id, role)] = None  # a second grant changes nothing

    @_gateway_call("identity")
    def revoke_role(self, *, user_id: str, project_id: str, role: str) -> None:
        self._check_grant(user_id, project_id, role)
        if (user_id, project_id, role) not in self._assignments:
            raise CloudNotFound(
                f"Could not find role assignment with role: {role}, user or group: {user_id}, "
                f"project, domain, or system: {project_id}."
            )
        del self._assignments[(user_id, project_id, role)]

    @_gateway_call("identity")
    def list_role_assignments(self, *, project_id: str) -> list[RoleAssignment]:
        return [
            RoleAssignment(user_id=user, project_id=project, role=role)
            for user, project, role in self._assignments
            if project == project_id
        ]

    # --- networks ------------------------------------------------------------------------------------
    @_gateway_call("network")
    def list_networks(self, *, project_id: str | None = None, external: bool | None = None) -> list[Network]:
        return [
            self._network_record(n)
            for n in self._networks.values()
            if (project_id is None or n.project_id == project_id)
            and (external is None or n.external == external)
        ]

    @_gateway_call("network")
    def create_network(self, *, project_id: str, name: str) -> Network:
        self._check_network_quota(
            project_id, "network", sum(n.project_id == project_id for n in self._networks.values())
        )
        return self._network_record(self._add_network(project_id, name))

    @_gateway_call("network")
    def delete_network(self, network_id: str) -> None:
        network = self._network(network_id)
        if any(p.network_id == network_id for p in self._ports.values()):
            raise CloudRequestError(
                f"Unable to complete operation on network {network_id}. "
                "There are one or more ports still in use on the network."
            )
        for subnet_id in network.subnet_ids:
            del self._subnets[subnet_id]
        del self._networks[network_id]

    @_gateway_call("network")
    def create_subnet(
        self, *, network_id: str, name: str, cidr: str, dns_nameservers: tuple[str, ...] = ()
    ) -> Subnet:
        network = self._network(network_id)
        subnet = self._add_subnet(network, name, cidr, tuple(dns_nameservers))
        return self._subnet_record(subnet)

    @_gateway_call("network")
    def list_subnets(self, *, project_id: str | None = None, network_id: str | None = None) -> list[Subnet]:
        return [
            self._subnet_record(s)
            for s in self._subnets.values()
            if (project_id is None or s.project_id == project_id)
            and (network_id is None or s.network_id == network_id)
        ]

    @_gateway_call("network")
    def delete_subnet(self, subnet_id: str) -> None:
        subnet = self._subnet(subnet_id)
        if any(p.subnet_id == subnet.id for p in self._ports.values()):
            raise CloudRequestError(
                f"Unable to complete operation on subnet {subnet.id}: "
                "One or more ports have an IP allocation from this subnet."
            )
        self._networks[subnet.network_id].subnet_ids.remove(subnet.id)
        del self._subnets[subnet.id]

    @_gateway_call("network")
    def list_routers(self, *, project_id: str | None = None) -> list[Router]:
        return [
            self._router_record(r)
            for r in self._routers.values()
            if project_id is None or r.project_id == project_id
        ]

    @_gateway_call("network")
    def list_router_interfaces(self, router_id: str) -> list[str]:
        return [
            p.subnet_id
            for p in self._router_ports(router_id, "network:router_interface")
            if p.subnet_id is not None
        ]

    @_gateway_call("network")
    def list_ports(self, *, project_id: str | None = None) -> list[Port]:
        return [
            Port(
                id=p.id,
                network_id=p.network_id,
                project_id=p.project_id,
                device_owner=p.device_owner,
                device_id=p.device_id,
            )
            for p in self._ports.values()
            if project_id is None or p.project_id == project_id
        ]

    @_gateway_call("network")
    def create_router(self, *, project_id: str, name: str, external_network_id: str | None) -> Router:
        self._check_network_quota(
            project_id, "router", sum(r.project_id == project_id for r in self._routers.values())
        )
        return self._router_record(self._add_router(project_id, name, external_network_id))

    @_gateway_call("network")
    def add_router_interface(self, *, router_id: str, subnet_id: str) -> None:
        self._add_router_interface(self._router(router_id), self._subnet(subnet_id))

    @_gateway_call("network")
    def remove_router_interface(self, *, router_id: str, subnet_id: str) -> None:
        router, subnet = self._router(router_id), self._subnet(subnet_id)
        port = next(
            (
                p
                for p in self._router_ports(router.id, "network:router_interface")
                if p.subnet_id == subnet.id
            ),
            None,
        )
        if port is None:
            raise CloudNotFound(f"Router {router.id} has no interface on subnet {subnet.id}")
        if any(
            f.network_id == router.external_network_id and self._ports[f.port_id].subnet_id == subnet.id
            for f in self._floating_ips.values()
            if f.port_id is not None
        ):
            raise CloudRequestError(
                f"Router interface for subnet {subnet.id} on router {router.id} cannot be deleted, "
                "as it is required by one or more floating IPs."
            )
        del self._ports[port.id]

    @_gateway_call("network")
    def delete_router(self, router_id: str) -> None:
        router = self._router(router_id)
        if self._router_ports(router.id, "network:router_interface"):
            raise CloudRequestError(f"Router {router.id} still has ports")
        for port in self._router_ports(router.id, "network:router_gateway"):
            del self._ports[port.id]
        del self._routers[router.id]

    @_gateway_call("network")
    def list_floating_ips(self, *, project_id: str | None = None) -> list[FloatingIp]:
        return [
            self._floating_ip_record(f)
            for f in self._floating_ips.values()
            if project_id is None or f.project_id == project_id
        ]

    @_gateway_call("network")
    def create_floating_ip(self, *, project_id: str, external_network_id: str) -> FloatingIp:
        self._check_network_quota(
            project_id, "floatingip", sum(f.project_id == project_id for f in self._floating_ips.values())
        )
        network = self._network(external_network_id)
        if not network.external:
            raise CloudRequestError(
                f"Bad floatingip request: Network {network.id} is not a valid external network."
            )
        if not network.subnet_ids:
            raise CloudRequestError(
                f"Bad floatingip request: Network {network.id} does not contain any IPv4 subnet."
            )
        fip_id = _uuid()
        port = self._add_port(network, project_id="", device_id=fip_id, device_owner="network:floatingip")
        fip = _FloatingIp(
            id=fip_id, address=str(port.ip), project_id=project_id, network_id=network.id, own_port_id=port.id
        )
        self._floating_ips[fip.id] = fip
        return self._floating_ip_record(fip)

    @_gateway_call("network")
    def attach_floating_ip(self, *, floating_ip_id: str, server_id: str) -> FloatingIp:
        fip = self._floating_ip(floating_ip_id)
        port = next(
            (
                p
                for p in self._ports.values()
                if p.device_id == server_id and p.device_owner.startswith("compute:")
            ),
            None,
        )
        if port is None:
            # What the real gateway says when Neutron lists no port for the server (or no server).
            raise CloudRequestError("the server has no network port to attach a floating IP to")
        if not self._reaches(port, fip.network_id):
            # Neutron answers 404 here, so the real gateway raises CloudNotFound too.
            raise CloudNotFound(
                f"External network {fip.network_id} is not reachable from subnet {port.subnet_id}.  "
                f"Therefore, cannot associate Port {port.id} with a Floating IP."
            )
        other = next(
            (
                f
                for f in self._floating_ips.values()
                if f.port_id == port.id and f.network_id == fip.network_id and f.id != fip.id
            ),
            None,
        )
        if other is not None:
            raise CloudRequestError(
                f"Cannot associate floating IP {fip.address} ({fip.id}) with port {port.id} using fixed IP "
                f"{port.ip}, as that fixed IP already has a floating IP on external network {fip.network_id}."
            )
        fip.port_id = port.id
        return self._floating_ip_record(fip)

    @_gateway_call("network")
    def detach_floating_ip(self, *, floating_ip_id: str) -> FloatingIp:
        fip = self._floating_ip(floating_ip_id)
        fip.port_id = None
        return self._floating_ip_record(fip)

    @_gateway_call("network")
    def delete_floating_ip(self, floating_ip_id: str) -> None:
        fip = self._floating_ip(floating_ip_id)
        del self._ports[fip.own_port_id]
        del self._floating_ips[fip.id]

    # --- security groups -----------------------------------------------------------------------------
    @_gateway_call("network")
    def list_security_groups(self, *, project_id: str | None = None) -> list[SecurityGroup]:
        if project_id is not None:
            self._default_security_group(project_id)
        return [
            SecurityGroup(id=g.id, name=g.name, project_id=g.project_id, rules=tuple(g.rules.values()))
            for g in self._security_groups.values()
            if project_id is None or g.project_id == project_id
        ]

    @_gateway_call("network")
    def create_security_group_rule(
        self,
        *,
        security_group_id: str,
        direction: str,
        protocol: str | None,
        port_range_min: int | None = None,
        port_range_max: int | None = None,
        remote_ip_prefix: str | None = None,
        ethertype: str = "IPv4",
    ) -> SecurityGroupRule:
        group = self._security_group(security_group_id)
        if direction not in ("ingress", "egress"):
            raise CloudRequestError(
                f"Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress']."
            )
        if port_range_min is not None and port_range_max is not None and port_range_min > port_range_max:
            raise CloudRequestError("For TCP/UDP protocols, port_range_min must be <= port_range_max")
        if remote_ip_prefix is not None:
            try:
                remote_ip_prefix = str(ipaddress.ip_network(remote_ip_prefix, strict=False))
            except ValueError as error:
                raise CloudRequestError(
                    f"Invalid input for remote_ip_prefix. Reason: '{remote_ip_prefix}' is not a valid IP "
                    "prefix."
                ) from error
        rule = SecurityGroupRule(
            id=_uuid(),
            security_group_id=group.id,
            direction=direction,
            ethertype=ethertype,
            protocol=protocol,
            port_range_min=port_range_min,
            port_range_max=port_range_max,
            remote_ip_prefix=remote_ip_prefix,
            remote_group_id=None,
        )
        same = next((r for r in group.rules.values() if replace(r, id=rule.id) == rule), None)
        if same is not None:
            raise CloudRequestError(f"Security group rule already exists. Rule id is {same.id}.")
        group.rules[rule.id] = rule
        return rule

    @_gateway_call("network")
    def delete_security_group_rule(self, rule_id: str) -> None:
        group = next((g for g in self._security_groups.values() if rule_id in g.rules), None)
        if group is None:
            raise CloudNotFound(f"Security group rule {rule_id} could not be found.")
        del group.rules[rule_id]

    @_gateway_call("network")
    def delete_security_group(self, security_group_id: str) -> None:
        group = self._security_group(security_group_id)
        if any(group.id in p.security_group_ids for p in self._ports.values()):
            raise CloudRequestError(f"Security Group {group.id} in use.")
        del self._security_groups[group.id]

    # --- seeding -------------------------------------------------------------------------------------
    def _seed_estate(self) -> None:
        """What keystone-manage bootstrap and the devcloud seed leave behind."""
        admin = self._add_project("admin", "Bootstrap project for initializing the cloud.")
        service = self._add_project("service", "OpenStack service users")
        admin_user = self._add_user("admin")
        self._assignments[(admin_user.id, admin.id, "admin")] = None
        for name in SERVICE_USERS + (("cinder",) if self._block_storage else ()):
            user = self._add_user(name, default_project_id=service.id)
            self._assignments[(user.id, service.id, "admin")] = None
            self._assignments[(user.id, service.id, "service")] = None

        public = self._add_network(admin.id, PUBLIC_NETWORK, external=True)
        self._add_subnet(
            public, "public-subnet", PUBLIC_CIDR, (), gateway_ip=PUBLIC_GATEWAY, pool=PUBLIC_POOL
        )

        for team, (member, cidr) in DEMO_TEAMS.items():
            project = self._add_project(team, f"Demo team {team}")
            user = self._add_user(member, default_project_id=project.id)
            self._assignments[(user.id, project.id, "member")] = None
            network = self._add_network(project.id, f"{team}-net")
            subnet = self._add_subnet(network, f"{team}-subnet", cidr, (DEMO_DNS,))
            router = self._add_router(project.id, f"{team}-router", public.id)
            self._add_router_interface(router, subnet)
            self._quotas[project.id] = {kind: dict(limits) for kind, limits in DEMO_QUOTAS.items()}

    # --- servers: time, scheduling, checks -----------------------------------------------------------
    def _servers_in_order(self, project_id: str | None = None) -> list[_Server]:
        servers = [s for s in self._servers.values() if project_id is None or s.project_id == project_id]
        return sorted(servers, key=lambda s: s.seq, reverse=True)

    def _read_servers(self, project_id: str | None) -> list[_Server]:
        """The servers a listing shows, each moved one step first when time runs by itself."""
        if self.auto_advance:
            for server in self._servers_in_order(project_id):
                self._step(server)
        return self._servers_in_order(project_id)

    def _step(self, server: _Server) -> None:
        match (server.vm_state, server.task_state):
            case (_, "deleting"):
                self._destroy(server)
            case ("building", "scheduling"):
                self._schedule(server)
            case ("building", "spawning"):
                server.vm_state, server.task_state, server.launched = "active", None, True
            case (_, "powering-off"):
                server.vm_state, server.task_state = "stopped", None
            case (_, "powering-on" | "rebooting" | "rebooting_hard"):
                server.vm_state, server.task_state = "active", None
            case (_, "resize_prep"):
                self._resize_step(server)
            case (_, "resize_confirming"):
                assert server.resized_from is not None
                server.vm_state, server.task_state = server.resized_from[3], None
                server.resized_from = None
            case (_, "resize_reverting"):
                assert server.resized_from is not None
                flavor, host, allocation, vm_state = server.resized_from
                server.flavor, server.host, server.allocation = flavor, host, allocation
                server.vm_state, server.task_state, server.resized_from = vm_state, None, None
            case (_, "rebuilding"):
                server.task_state = None
            case (_, "image_snapshot"):
                server.task_state = None
                image_id, server.snapshot_image_id = server.snapshot_image_id, None
                if image_id in self._images:  # the devcloud's driver uploads a stand-in disk
                    data = hashlib.sha256(image_id.encode()).digest() * 64
                    self._images[image_id] = replace(
                        self._images[image_id],
                        status="active",
                        size_bytes=len(data),
                        checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                        hash_algo="sha512",
                        hash_value=hashlib.sha512(data).hexdigest(),
                        virtual_size_bytes=len(data),
                    )
            case (_, "migrating"):
                # The allocation moves with the server; its ports follow it (same networks).
                server.host, server.migrating_to, server.task_state = server.migrating_to, None, None
                target = self._hosts[server.host or ""]
                server.availability_zone = target.spec.availability_zone
                for m in self._migrations:
                    if m.server_id == server.id and m.status == "running":
                        m.status = "completed"

    def _resize_step(self, server: _Server) -> None:
        """The conductor schedules the new flavor on another host of the architecture (Nova's
        allow_resize_to_same_host is off); none: the server stays as it was, the migration failed."""
        flavor = server.resize_target
        assert flavor is not None
        migration = next(m for m in reversed(self._migrations) if m.server_id == server.id)
        wanted = server.image.architecture or "x86_64"
        probe = replace(server, flavor=flavor, allocation={}, clock=server.clock)
        candidates = [
            h
            for h in self._hosts.values()
            if h.enabled
            and h.spec.name != server.host
            and h.spec.architecture == wanted
            and self._fits(h, probe)
        ]
        server.resize_target = None
        if not candidates:
            server.task_state = None
            migration.status = "error"
            return
        target = max(candidates, key=lambda h: self._free(h)["MEMORY_MB"])
        server.resized_from = (server.flavor, server.host, dict(server.allocation), server.vm_state)
        server.flavor, server.host = flavor, target.spec.name
        server.availability_zone = target.spec.availability_zone
        server.allocation = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram_mb, "DISK_GB": flavor.disk_gb}
        server.vm_state, server.task_state = "resized", None
        migration.status, migration.dest_host = "finished", target.spec.name

    def _schedule(self, server: _Server) -> None:
        host, reason = self._pick_host(server)
        if host is None:
            server.vm_state, server.task_state = "error", None
            server.fault = f"No valid host was found. {reason}"
            return
        server.host = host.spec.name
        server.availability_zone = host.spec.availability_zone
        server.allocation = {
            "VCPU": server.flavor.vcpus,
            "MEMORY_MB": server.flavor.ram_mb,
            "DISK_GB": server.flavor.disk_gb,
        }
        server.task_state = "spawning"
        if server.network_id is None:
            return
        # nova-compute asks Neutron for the port once the server has a host.
        network = self._networks.get(server.network_id)
        try:
            if network is None:
                raise CloudRequestError(f"Network {server.network_id} could not be found.")
            self._add_port(
                network,
                project_id=server.project_id,
                device_id=server.id,
                device_owner=f"compute:{server.availability_zone}",
            )
        except CloudRequestError as error:
            server.vm_state, server.task_state, server.allocation = "error", None, {}
            server.fault = f"Build of instance {server.id} aborted: {error}"

    def _pick_host(self, server: _Server) -> tuple[_Host | None, str]:
        """Placement's candidates, ImagePropertiesFilter, then Nova's spreading weighers."""
        image_arch = server.image.architecture
        wanted = image_arch or "x86_64"  # [filter_scheduler] image_properties_default_architecture
        # ComputeFilter: a disabled nova-compute service takes no new servers.
        fitting = [h for h in self._hosts.values() if h.enabled and self._fits(h, server)]
        candidates = [h for h in fitting if h.spec.architecture == wanted]
        if not candidates:
            # With hw_architecture set, the image_metadata_prefilter asks Placement for the HW_ARCH trait
            # and Placement finds nothing ("" reason); otherwise the filter empties the list.
            reason = "" if image_arch or not fitting else "There are not enough hosts available."
            return None, reason
        free = {h.spec.name: self._free(h) for h in candidates}
        weights = dict.fromkeys(free, 0.0)
        for rc in ("MEMORY_MB", "VCPU", "DISK_GB"):
            values = [f[rc] for f in free.values()]
            low, high = min(values), max(values)
            for name, f in free.items():
                weights[name] += (f[rc] - low) / (high - low) if high > low else 0.0
        best = max(candidates, key=lambda h: weights[h.spec.name])  # ties: the first host, as listed
        return best, ""

    def _fits(self, host: _Host, server: _Server) -> bool:
        used = self._used(host.spec.name)
        request = {
            "VCPU": server.flavor.vcpus,
            "MEMORY_MB": server.flavor.ram_mb,
            "DISK_GB": server.flavor.disk_gb,
        }
        for rc, (total, reserved, ratio) in host.inventories().items():
            amount = request[rc]
            # max_unit is the inventory's total: one allocation may not exceed the host.
            if amount and (amount > total or used[rc] + amount > int((total - reserved) * ratio)):
                return False
        return True

    def _free(self, host: _Host) -> dict[str, int]:
        used = self._used(host.spec.name)
        return {
            rc: int((total - reserved) * ratio) - used[rc]
            for rc, (total, reserved, ratio) in host.inventories().items()
        }

    def _used(self, host_name: str) -> dict[str, int]:
        used = dict.fromkeys(("VCPU", "MEMORY_MB", "DISK_GB"), 0)
        for server in self._servers.values():
            if server.host == host_name:
                for rc, amount in server.allocation.items():
                    used[rc] += amount
            if server.resized_from is not None and server.resized_from[1] == host_name:
                for rc, amount in server.resized_from[2].items():
                    used[rc] += amount
        return used

    def _destroy(self, server: _Server) -> None:
        """What finishing a delete does: the port goes (and with it any floating IP's association),
        then the allocations, then the instance (which a ``changes_since`` listing still shows)."""
        self._deleted_servers[server.id] = replace(
            self._server_record(server), status="DELETED", task_state=None, updated_at=self.clock()
        )
        for port in [p for p in self._ports.values() if p.device_id == server.id]:
            for fip in self._floating_ips.values():
                if fip.port_id == port.id:
                    fip.port_id = None
            del self._ports[port.id]
        for volume in self._volumes.values():  # Nova detaches a deleted server's volumes
            if volume.server_id == server.id:
                volume.status, volume.server_id, volume.device = "available", None, None
        del self._servers[server.id]

    def _server(self, server_id: str) -> _Server:
        server = self._servers.get(server_id)
        if server is None:
            raise CloudNotFound(f"Instance {server_id} could not be found.")
        return server

    def _check_state(
        self,
        server: _Server,
        action: str,
        *,
        vm_states: tuple[str, ...],
        task_states: tuple[str | None, ...] = (None,),
        needs_host: bool = False,
    ) -> None:
        """Nova's check_instance_host and check_instance_state, with the API's wording."""
        if needs_host and server.host is None:
            raise CloudRequestError(f"Instance {server.id} is not ready")
        for attr, state, allowed in (
            ("vm_state", server.vm_state, server.vm_state in vm_states),
            ("task_state", server.task_state, server.task_state in task_states),
            ("launched_at", None, server.launched),
        ):
            if not allowed:
                raise CloudRequestError(
                    f"Cannot '{action}' instance {server.id} while it is in {attr} {state}"
                )

    def _require_portal_role(self, project_id: str) -> None:
        """The real gateway acts in a project through a token scoped to it, which Keystone refuses
        unless the portal's user holds a role there (team onboarding grants it)."""
        if self._portal_user is None:
            return
        user = self._find_by_name_or_id(self._users, self._portal_user)
        if user is not None and any(u == user.id and p == project_id for u, p, _ in self._assignments):
            return
        raise CloudRequestError(
            f"The request you have made requires authentication: the portal's cloud user "
            f"{self._portal_user!r} holds no role on project {project_id}."
        )

    def _check_bootable_network(self, project_id: str, network_id: str) -> None:
        network = self._networks.get(network_id)
        if network is None:
            raise CloudRequestError(f"Network {network_id} could not be found.")
        if not network.subnet_ids:
            raise CloudRequestError(f"Network {network_id} requires a subnet in order to boot instances on.")
        limit = self._limits(project_id, QuotaService.NETWORK)["port"]
        if limit != -1 and self._port_count(project_id) + 1 > limit:
            raise QuotaExceeded("Maximum number of ports exceeded")

    def _check_instance_quota(self, project_id: str, flavor: Flavor) -> None:
        limits = self._limits(project_id, QuotaService.COMPUTE)
        in_use = self._compute_usage(project_id)
        wanted = {"instances": 1, "cores": flavor.vcpus, "ram": flavor.ram_mb}
        overs = sorted(r for r, n in wanted.items() if limits[r] != -1 and in_use[r] + n > limits[r])
        if overs:
            # nova.exception.TooManyInstances, with Nova's joining of several resources.
            def joined(values: Iterable[object]) -> str:
                return ", ".join(str(v) for v in values)

            raise QuotaExceeded(
                f"Quota exceeded for {joined(overs)}: Requested {joined(wanted[r] for r in overs)}, "
                f"but already used {joined(in_use[r] for r in overs)} of {joined(limits[r] for r in overs)} "
                f"{joined(overs)}"
            )

    def _compute_usage(self, project_id: str) -> dict[str, int]:
        # Nova counts every instance that is not deleted, in ERROR or not.
        servers = [s for s in self._servers.values() if s.project_id == project_id]
        return {
            "instances": len(servers),
            "cores": sum(s.flavor.vcpus for s in servers),
            "ram": sum(s.flavor.ram_mb for s in servers),
        }

    def _server_record(self, server: _Server) -> Server:
        if server.task_state in _TASK_STATUS:
            status = _TASK_STATUS[server.task_state]
        elif server.vm_state == "active":
            status = _ACTIVE_TASK_STATUS.get(server.task_state or "", "ACTIVE")
        else:
            status = _STATUS[server.vm_state]
        return Server(
            id=server.id,
            name=server.name,
            status=status,
            task_state=server.task_state,
            project_id=server.project_id,
            host=server.host,
            image_id=server.image.id,
            flavor_name=server.flavor.name,
            vcpus=server.flavor.vcpus,
            ram_mb=server.flavor.ram_mb,
            disk_gb=server.flavor.disk_gb,
            addresses=self._addresses(server),
            metadata=dict(server.metadata),
            availability_zone=server.availability_zone,
            fault=server.fault,
            created_at=server.created_at,
            updated_at=server.updated_at,
            locked=server.locked,
        )

    def _addresses(self, server: _Server) -> dict[str, tuple[str, ...]]:
        """Network name → fixed IP, then floating IPs, as Nova's network info cache shows them."""
        addresses: dict[str, tuple[str, ...]] = {}
        for port in self._ports.values():
            if port.device_id != server.id or port.ip is None:
                continue
            floating = tuple(f.address for f in self._floating_ips.values() if f.port_id == port.id)
            name = self._networks[port.network_id].name
            addresses[name] = (*addresses.get(name, ()), port.ip, *floating)
        return addresses

    # --- quotas --------------------------------------------------------------------------------------
    def _limits(self, project_id: str, service: QuotaService) -> dict[str, int]:
        return {**DEFAULT_QUOTAS[service], **self._quotas.get(project_id, {}).get(service, {})}

    def _check_quota_target(self, project_id: str, service: QuotaService) -> None:
        if service == QuotaService.VOLUME and not self._block_storage:
            raise CloudRequestError("this cloud has no block storage (volume) service")
        # Nova asks Keystone whether the project exists; Neutron keeps quotas for any project id.
        if service == QuotaService.COMPUTE and project_id not in self._projects:
            raise CloudRequestError(f"Project ID {project_id} is not a valid project.")

    def _check_network_quota(self, project_id: str, resource: str, in_use: int) -> None:
        limit = self._limits(project_id, QuotaService.NETWORK)[resource]
        if limit != -1 and in_use + 1 > limit:
            raise QuotaExceeded(f"Quota exceeded for resources: ['{resource}'].")

    def _port_count(self, project_id: str) -> int:
        return sum(p.project_id == project_id for p in self._ports.values())

    # --- identity ------------------------------------------------------------------------------------
    def _add_project(self, name: str, description: str) -> Project:
        _check_keystone_name(name, max_length=64)
        self._check_unique_name(self._projects.values(), name, "project")
        project = Project(id=_keystone_id(), name=name, description=description, enabled=True)
        self._projects[project.id] = project
        return project

    def _add_user(
        self,
        name: str,
        *,
        email: str | None = None,
        default_project_id: str | None = None,
        description: str = "",
    ) -> User:
        _check_keystone_name(name, max_length=255)
        self._check_unique_name(self._users.values(), name, "user")
        user = User(
            id=_keystone_id(),
            name=name,
            email=email,
            default_project_id=default_project_id,
            enabled=True,
            description=description,
        )
        self._users[user.id] = user
        return user

    @staticmethod
    def _check_unique_name(existing: Iterable[Project | User], name: str, kind: str) -> None:
        # The devcloud's MariaDB compares names without regard to case (utf8mb4_general_ci).
        if any(e.name.casefold() == name.casefold() for e in existing):
            raise CloudRequestError(
                f"Conflict occurred attempting to store {kind} - Duplicate entry found with name {name} "
                "at domain ID default."
            )

    @staticmethod
    def _find_by_name_or_id(records: Mapping[str, _R], name_or_id: str) -> _R | None:
        # openstacksdk's find_*: by id, then the one whose name is exactly this.
        if name_or_id in records:
            return records[name_or_id]
        return next((r for r in records.values() if r.name == name_or_id), None)

    def _check_grant(self, user_id: str, project_id: str, role: str) -> None:
        if role not in ROLES:
            raise CloudNotFound(f"no role named {role!r} in the cloud")
        if user_id not in self._users:
            raise CloudNotFound(f"Could not find user: {user_id}.")
        if project_id not in self._projects:
            raise CloudNotFound(f"Could not find project: {project_id}.")

    # --- networks ------------------------------------------------------------------------------------
    def _add_network(self, project_id: str, name: str, *, external: bool = False) -> _Network:
        network = _Network(id=_uuid(), name=name, project_id=project_id, external=external)
        self._networks[network.id] = network
        self._default_security_group(project_id)  # Neutron makes it with the project's first network
        return network

    def _default_security_group(self, project_id: str) -> _SecurityGroup:
        """The project's ``default`` group, made as Neutron makes it: egress anywhere, ingress only from
        members of the group, for IPv4 and IPv6."""
        found = next(
            (g for g in self._security_groups.values() if g.project_id == project_id and g.name == "default"),
            None,
        )
        if found is not None:
            return found
        group = _SecurityGroup(id=_uuid(), name="default", project_id=project_id)
        for direction in ("egress", "ingress"):
            for ethertype in ("IPv4", "IPv6"):
                rule = SecurityGroupRule(
                    id=_uuid(),
                    security_group_id=group.id,
                    direction=direction,
                    ethertype=ethertype,
                    protocol=None,
                    port_range_min=None,
                    port_range_max=None,
                    remote_ip_prefix=None,
                    remote_group_id=group.id if direction == "ingress" else None,
                )
                group.rules[rule.id] = rule
        self._security_groups[group.id] = group
        return group

    def _security_group(self, security_group_id: str) -> _SecurityGroup:
        group = self._security_groups.get(security_group_id)
        if group is None:
            raise CloudNotFound(f"Security group {security_group_id} could not be found.")
        return group

    def _add_subnet(
        self,
        network: _Network,
        name: str,
        cidr: str,
        dns_nameservers: tuple[str, ...],
        *,
        gateway_ip: str | None = None,
        pool: tuple[str, str] | None = None,
    ) -> _Subnet:
        try:
            parsed = ipaddress.ip_network(cidr, strict=False)
        except ValueError as error:
            raise CloudRequestError(
                f"Invalid input for operation: {cidr} is not in a CIDR format."
            ) from error
        if not isinstance(parsed, ipaddress.IPv4Network):
            # The real gateway creates IPv4 subnets only.
            raise CloudRequestError(
                f"Invalid input for operation: cidr '{cidr}' does not match the ip_version '4'."
            )
        if parsed.prefixlen == 0:
            raise CloudRequestError("Invalid input for operation: 0 is not allowed as CIDR prefix length.")
        for server in dns_nameservers:
            try:
                ipaddress.ip_address(server)
            except ValueError as error:
                raise CloudRequestError(
                    f"Invalid input for dns_nameservers. Reason: '{server}' is not a valid nameserver."
                ) from error
        if len(set(dns_nameservers)) != len(dns_nameservers):
            raise CloudRequestError("Invalid input for dns_nameservers. Reason: Duplicate nameserver.")
        in_use = sum(s.project_id == network.project_id for s in self._subnets.values())
        self._check_network_quota(network.project_id, "subnet", in_use)
        if any(self._subnets[s].cidr.overlaps(parsed) for s in network.subnet_ids):
            raise CloudRequestError(
                f"Invalid input for operation: Requested subnet with cidr: {cidr} for network: "
                f"{network.id} overlaps with another subnet."
            )
        hosts = (parsed.network_address + 1, parsed.broadcast_address - 1)
        gateway = gateway_ip or (str(hosts[0]) if hosts[0] <= hosts[1] else None)
        if pool is not None:
            first, last = ipaddress.IPv4Address(pool[0]), ipaddress.IPv4Address(pool[1])
        elif gateway == str(hosts[0]):
            first, last = hosts[0] + 1, hosts[1]
        else:
            first, last = hosts
        subnet = _Subnet(
            id=_uuid(),
            name=name,
            network_id=network.id,
            project_id=network.project_id,
            cidr=parsed,
            gateway_ip=gateway,
            pool=(first, last),
            dns_nameservers=dns_nameservers,
        )
        self._subnets[subnet.id] = subnet
        network.subnet_ids.append(subnet.id)
        return subnet

    def _add_port(self, network: _Network, *, project_id: str, device_id: str, device_owner: str) -> _Port:
        """A port with the lowest free address of the network's first subnet that has one."""
        for subnet_id in network.subnet_ids:
            subnet = self._subnets[subnet_id]
            taken = {p.ip for p in self._ports.values() if p.subnet_id == subnet_id}
            first, last = subnet.pool
            address = next(
                (
                    str(a)
                    for a in _address_range(first, last)
                    if str(a) not in taken and str(a) != subnet.gateway_ip
                ),
                None,
            )
            if address is not None:
                return self._put_port(network, subnet, address, project_id, device_id, device_owner)
        if network.subnet_ids:
            raise CloudRequestError(f"No more IP addresses available on network {network.id}.")
        return self._put_port(network, None, None, project_id, device_id, device_owner)

    def _put_port(
        self,
        network: _Network,
        subnet: _Subnet | None,
        address: str | None,
        project_id: str,
        device_id: str,
        device_owner: str,
    ) -> _Port:
        port = _Port(
            id=_uuid(),
            network_id=network.id,
            subnet_id=subnet.id if subnet else None,
            ip=address,
            project_id=project_id,
            device_id=device_id,
            device_owner=device_owner,
        )
        if device_owner.startswith("compute:"):
            port.security_group_ids.append(self._default_security_group(project_id).id)
        self._ports[port.id] = port
        return port

    def _add_router(self, project_id: str, name: str, external_network_id: str | None) -> _Router:
        router = _Router(
            id=_uuid(), name=name, project_id=project_id, external_network_id=external_network_id
        )
        if external_network_id is not None:
            network = self._network(external_network_id)
            if not network.external:
                raise CloudRequestError(
                    f"Bad router request: Network {external_network_id} is not an external network."
                )
            self._add_port(network, project_id="", device_id=router.id, device_owner="network:router_gateway")
        self._routers[router.id] = router
        return router

    def _add_router_interface(self, router: _Router, subnet: _Subnet) -> None:
        if subnet.gateway_ip is None:
            raise CloudRequestError("Bad router request: Subnet for router interface must have a gateway IP.")
        attached = [self._subnets[p.subnet_id] for p in self._router_ports(router.id) if p.subnet_id]
        for other in attached:
            if other.id == subnet.id:
                raise CloudRequestError(
                    f"Bad router request: Router already has a port on subnet {subnet.id}."
                )
            if other.cidr.overlaps(subnet.cidr):
                raise CloudRequestError(
                    f"Bad router request: Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr "
                    f"{other.cidr} of subnet {other.id}."
                )
        if any(p.subnet_id == subnet.id and p.ip == subnet.gateway_ip for p in self._ports.values()):
            raise CloudRequestError(
                f"Unable to complete operation for network {subnet.network_id}. "
                f"The IP address {subnet.gateway_ip} is in use."
            )
        self._check_network_quota(subnet.project_id, "port", self._port_count(subnet.project_id))
        self._put_port(
            self._networks[subnet.network_id],
            subnet,
            subnet.gateway_ip,
            subnet.project_id,
            router.id,
            "network:router_interface",
        )

    def _router_ports(self, router_id: str, device_owner: str | None = None) -> list[_Port]:
        return [
            p
            for p in self._ports.values()
            if p.device_id == router_id and (device_owner is None or p.device_owner == device_owner)
        ]

    def _reaches(self, port: _Port, external_network_id: str) -> bool:
        """Whether a router joins the port's subnet to the external network (Neutron's FIP rule)."""
        return any(
            router.external_network_id == external_network_id
            and any(
                p.subnet_id == port.subnet_id
                for p in self._router_ports(router.id, "network:router_interface")
            )
            for router in self._routers.values()
        )

    def _network(self, network_id: str) -> _Network:
        network = self._networks.get(network_id)
        if network is None:
            raise CloudNotFound(f"Network {network_id} could not be found.")
        return network

    def _subnet(self, subnet_id: str) -> _Subnet:
        subnet = self._subnets.get(subnet_id)
        if subnet is None:
            raise CloudNotFound(f"Subnet {subnet_id} could not be found.")
        return subnet

    def _router(self, router_id: str) -> _Router:
        router = self._routers.get(router_id)
        if router is None:
            raise CloudNotFound(f"Router {router_id} could not be found")
        return router

    def _floating_ip(self, floating_ip_id: str) -> _FloatingIp:
        fip = self._floating_ips.get(floating_ip_id)
        if fip is None:
            raise CloudNotFound(f"Floating IP {floating_ip_id} could not be found")
        return fip

    @staticmethod
    def _network_record(network: _Network) -> Network:
        return Network(
            id=network.id,
            name=network.name,
            project_id=network.project_id,
            external=network.external,
            subnet_ids=tuple(network.subnet_ids),
        )

    @staticmethod
    def _subnet_record(subnet: _Subnet) -> Subnet:
        return Subnet(
            id=subnet.id,
            name=subnet.name,
            network_id=subnet.network_id,
            cidr=str(subnet.cidr),
            gateway_ip=subnet.gateway_ip,
            project_id=subnet.project_id,
        )

    @staticmethod
    def _router_record(router: _Router) -> Router:
        return Router(
            id=router.id,
            name=router.name,
            project_id=router.project_id,
            external_network_id=router.external_network_id,
        )

    def _floating_ip_record(self, fip: _FloatingIp) -> FloatingIp:
        port = self._ports.get(fip.port_id) if fip.port_id else None
        return FloatingIp(
            id=fip.id,
            address=fip.address,
            project_id=fip.project_id,
            network_id=fip.network_id,
            port_id=fip.port_id,
            server_id=port.device_id if port else None,
        )


def _address_range(
    first: ipaddress.IPv4Address, last: ipaddress.IPv4Address
) -> Iterable[ipaddress.IPv4Address]:
    address = first
    while address <= last:
        yield address
        address += 1


def _glance_image(spec: ImageSpec) -> Image:
    """An image as Glance reports what the devcloud seed uploaded (with openstacksdk's checksums)."""
    data = hashlib.sha256(spec.name.encode()).digest() * 512  # the seed's stand-in bits
    properties = {
        "os_distro": spec.os_distro,
        "os_version": spec.os_version,
        "owner_specified.openstack.md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "owner_specified.openstack.sha256": hashlib.sha256(data).hexdigest(),
        "owner_specified.openstack.object": f"images/{spec.name}",
    }
    if spec.architecture:
        properties["hw_architecture"] = spec.architecture
    return Image(
        id=_uuid(),
        name=spec.name,
        status="active",
        architecture=spec.architecture,
        min_disk_gb=spec.min_disk_gb,
        min_ram_mb=spec.min_ram_mb,
        size_bytes=len(data),
        visibility="public",
        properties={**properties, "stores": "fs"},
        disk_format="raw",
        checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        hash_algo="sha512",
        hash_value=hashlib.sha512(data).hexdigest(),
        virtual_size_bytes=len(data),
    )


GLANCE_DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
# Attributes Glance keeps for itself: setting one as a property is refused ("... is read-only").
_GLANCE_RESERVED = frozenset(
    {"id", "status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size", "created_at",
     "updated_at", "owner", "locations", "direct_url", "file", "schema", "self", "stores"}
)  # fmt: skip


def _check_image_properties(properties: Mapping[str, str]) -> None:
    for key in properties:
        if key in _GLANCE_RESERVED:
            raise CloudRequestError(f"Attribute '{key}' is read-only.")


def _sniff_disk_format(head: bytes) -> str | None:
    """The disk format the first bytes announce, as Glance's format inspector tells them apart."""
    if head[:4] == b"QFI\xfb":
        return "qcow2"
    if head[:4] == b"KDMV" or head.startswith(b"# Disk DescriptorFile"):
        return "vmdk"
    if len(head) >= 68 and head[64:68] == b"\x7f\x10\xda\xbe":
        return "vdi"
    return None


def _mbr_is_safe(head: bytes) -> bool:
    """What oslo.utils' MBR safety check asks of data with a boot signature (FAT boot sectors
    aside): boot flags 0x00 or 0x80 and at least one partition."""
    if len(head) < 512 or head[510:512] != b"\x55\xaa" or (head[0x10] == 2 and head[0x15] == 0xF8):
        return True
    entries = [head[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    return all(e[0] in (0x00, 0x80) for e in entries) and any(e[4] for e in entries)


def _check_server_input(name: str, metadata: Mapping[str, str], user_data: str | None) -> None:
    """Nova's request schema for what Kennel sends."""
    if not 1 <= len(name) <= 255 or name != name.strip() or not name.isprintable():
        raise CloudRequestError(
            f"Invalid input for field/attribute name. Value: {name}. "
            "printable characters. Can not start or end with whitespace."
        )
    for key, value in metadata.items():
        if not _METADATA_KEY.match(key):
            raise CloudRequestError(
                f"Invalid input for field/attribute metadata. Value: {dict(metadata)}. "
                f"Additional properties are not allowed ('{key}' was unexpected)"
            )
        if not isinstance(value, str) or len(value) > 255:
            raise CloudRequestError(
                f"Invalid input for field/attribute {key}. Value: {value}. must be a string of at most 255"
            )
    if user_data is not None:
        encoded = len(base64.b64encode(user_data.encode()))  # the gateway sends it base64-encoded
        if encoded > _USER_DATA_MAX:
            raise CloudRequestError(
                f"Invalid input for field/attribute user_data. Value: ({encoded} characters of base64) "
                f"is too long: at most {_USER_DATA_MAX}"
            )


def _check_keystone_name(name: str, *, max_length: int) -> None:
    if not 1 <= len(name) <= max_length:
        raise CloudRequestError(
            f"Invalid input for field 'name': {name!r} must be 1 to {max_length} characters"
        )


if TYPE_CHECKING:
    # mypy checks here that the fake has every method of the contract, with the same signatures.
    _conforms: CloudGateway = FakeCloud()
