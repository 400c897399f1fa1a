"""The contract between Kennel and its cloud: typed records, errors, and the gateway's methods.

Kennel talks to OpenStack only through a ``CloudGateway``. ``portal.cloud.openstack`` implements it
with openstacksdk (the one module that imports it); ``portal.cloud.fake`` implements it in memory for
unit tests. ``tests/portal/cloud/test_contract.py`` runs the same suite against both, so the fake
cannot drift from what the real services do.

Errors are sorted by what a caller should do about them:

* ``CloudUnavailable``: transient (connection refused, timeout, HTTP 5xx). Retry later, with backoff.
* ``CloudNotFound``: the thing is gone. A delete is done; anything else is a permanent failure.
* ``QuotaExceeded``: permanent until the quota changes; tell the user which quota.
* ``CloudRequestError``: the cloud refused the request as invalid; permanent, message is the cloud's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import BinaryIO, Protocol


class CloudError(Exception):
    """Anything the cloud said no to. ``str(error)`` is fit to show to a person."""


class CloudUnavailable(CloudError):
    """The cloud could not be reached or failed internally; the same call may succeed later."""


class CloudNotFound(CloudError):
    """The object does not exist (any more)."""


class QuotaExceeded(CloudError):
    """The project's quota does not allow this."""


class CloudRequestError(CloudError):
    """The cloud refused the request (bad input, conflict, no valid host)."""


class ConsoleUnavailable(CloudRequestError):
    """The cloud hands out no console for the server: no console proxy (or none that answers), or
    consoles are turned off. Permanent for this cloud; the message says which."""


class ServerAction(StrEnum):
    START = "start"
    STOP = "stop"
    REBOOT_SOFT = "reboot_soft"
    REBOOT_HARD = "reboot_hard"
    # A resize waits in VERIFY_RESIZE until it is confirmed (the old disk goes) or reverted (back to
    # the old flavor).
    CONFIRM_RESIZE = "confirm_resize"
    REVERT_RESIZE = "revert_resize"
    # Nova's lock: the server refuses changes from anyone but an admin until unlocked.
    LOCK = "lock"
    UNLOCK = "unlock"


class QuotaService(StrEnum):
    COMPUTE = "compute"
    NETWORK = "network"
    VOLUME = "volume"


# The quota dimensions Kennel manages, per service, in each service's own names.
QUOTA_DIMENSIONS: dict[QuotaService, tuple[str, ...]] = {
    QuotaService.COMPUTE: ("instances", "cores", "ram"),
    QuotaService.NETWORK: ("floatingip", "network", "router", "port", "security_group"),
    QuotaService.VOLUME: ("gigabytes", "volumes"),
}


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    status: str
    architecture: str | None  # the image's hw_architecture; None when unset
    min_disk_gb: int
    min_ram_mb: int
    size_bytes: int | None
    visibility: str
    properties: Mapping[str, str] = field(default_factory=dict)  # os_distro, os_version, hw_* ...
    disk_format: str = ""
    # What Glance computed while storing the data (None until it has data): the legacy MD5
    # ``checksum`` and the multihash (``os_hash_algo``, usually sha512, and ``os_hash_value``).
    checksum: str | None = None
    hash_algo: str | None = None
    hash_value: str | None = None
    virtual_size_bytes: int | None = None
    owner: str = ""  # the project that owns it


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    is_public: bool
    extra_specs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerCreated:
    """Nova's answer to a create: the new server's id, nothing about its state yet."""

    id: str
    name: str
    project_id: str


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    status: str  # Nova's: BUILD, ACTIVE, SHUTOFF, REBOOT, HARD_REBOOT, ERROR, DELETED ...
    task_state: str | None  # None once Nova has finished acting on it
    project_id: str
    host: str | None  # compute host; visible to admins only
    image_id: str | None
    flavor_name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    addresses: Mapping[str, tuple[str, ...]]  # network name -> IPs
    metadata: Mapping[str, str]
    availability_zone: str | None
    fault: str | None  # Nova's fault message when status is ERROR
    created_at: datetime | None
    # When Nova last changed the server (any field); what ``changes_since`` compares with.
    updated_at: datetime | None = None
    locked: bool = False  # Nova's lock (microversion 2.9)

    @property
    def deleted(self) -> bool:
        """A deleted server, as only a ``changes_since`` listing shows one."""
        return self.status in ("DELETED", "SOFT_DELETED")

    @property
    def settled(self) -> bool:
        """True when Nova is not in the middle of something (no task_state, not BUILD)."""
        return self.task_state is None and self.status not in ("BUILD", "REBOOT", "HARD_REBOOT")


@dataclass(frozen=True)
class Migration:
    """One of Nova's migration records of a server (a live migration, a cold one, a resize...)."""

    id: str
    server_id: str
    status: str  # Nova's: queued, preparing, running, completed, error, failed, cancelled ...
    kind: str  # live-migration, migration, resize, evacuation
    source_host: str | None
    dest_host: str | None
    created_at: datetime | None

    @property
    def failed(self) -> bool:
        return self.status in ("error", "failed", "cancelled")


@dataclass(frozen=True)
class Inventory:
    total: int
    reserved: int
    allocation_ratio: float
    used: int

    @property
    def capacity(self) -> int:
        """What Placement lets be allocated: (total - reserved) * allocation_ratio."""
        return int((self.total - self.reserved) * self.allocation_ratio)


@dataclass(frozen=True)
class ResourceProvider:
    """A compute node as Placement sees it: inventories (VCPU, MEMORY_MB, DISK_GB) with usage."""

    id: str
    name: str  # the hypervisor host name
    architecture: str | None  # from the HW_ARCH_* trait
    inventories: Mapping[str, Inventory]
    # Placement bumps it on every change to the provider's inventories, traits or allocations.
    generation: int = 0
    # False when the listing skipped the details because the generation was the one given as known:
    # then ``architecture`` is None and ``inventories`` empty, and the caller keeps what it has.
    detailed: bool = True


@dataclass(frozen=True)
class Hypervisor:
    id: str
    hostname: str
    state: str  # up / down
    status: str  # enabled / disabled
    host_ip: str | None
    disabled_reason: str | None = None  # of its nova-compute service


@dataclass(frozen=True)
class ComputeService:
    """A host's nova-compute service: disabled means the scheduler places no new servers there."""

    host: str
    enabled: bool
    up: bool
    disabled_reason: str | None


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    description: str
    enabled: bool


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str | None
    default_project_id: str | None
    enabled: bool
    description: str = ""  # Kennel marks the users it creates here


@dataclass(frozen=True)
class RoleAssignment:
    user_id: str
    project_id: str
    role: str


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    project_id: str
    external: bool
    subnet_ids: tuple[str, ...]


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    project_id: str = ""


@dataclass(frozen=True)
class Router:
    id: str
    name: str
    project_id: str
    external_network_id: str | None


@dataclass(frozen=True)
class FloatingIp:
    id: str
    address: str
    project_id: str
    network_id: str
    port_id: str | None
    server_id: str | None  # the server whose port holds it


@dataclass(frozen=True)
class Volume:
    """A Cinder volume: its size, state and the server it is attached to (one at most here)."""

    id: str
    name: str
    project_id: str
    size_gb: int
    status: str  # creating, available, reserved, attaching, in-use, detaching, deleting, error ...
    server_id: str | None = None
    device: str | None = None  # where the server sees it, e.g. /dev/vdb

    @property
    def settled(self) -> bool:
        """True when Cinder is not in the middle of something."""
        return self.status in ("available", "in-use", "error", "error_deleting", "error_extending")

    @property
    def failed(self) -> bool:
        return self.status.startswith("error")


@dataclass(frozen=True)
class Port:
    id: str
    network_id: str
    project_id: str  # "" for the ports Neutron keeps for itself (router gateways, floating IPs)
    device_owner: str  # compute:<zone>, network:router_interface, network:router_gateway ...
    device_id: str


@dataclass(frozen=True)
class SecurityGroupRule:
    id: str
    security_group_id: str
    direction: str  # ingress / egress
    ethertype: str  # IPv4 / IPv6
    protocol: str | None  # tcp, udp, icmp ...; None: any
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    project_id: str
    rules: tuple[SecurityGroupRule, ...]


@dataclass(frozen=True)
class CloudAccess:
    """Where a person's own ``openstack`` client finds this cloud (no credentials)."""

    auth_url: str
    region_name: str | None
    interface: str | None
    identity_api_version: str


class CloudGateway(Protocol):
    """What Kennel may ask of a cloud. Every method may raise ``CloudUnavailable``."""

    # --- catalog -------------------------------------------------------------------------------------
    def list_images(self) -> list[Image]: ...
    def list_flavors(self) -> list[Flavor]: ...

    # --- images (Glance) -----------------------------------------------------------------------------
    def get_image(self, image_id: str) -> Image:
        """The image; CloudNotFound when it is gone."""
        ...

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
        """Set (add or replace) ``properties``, drop the ``remove`` ones that exist, and change
        min_disk/min_ram and visibility (public, private, shared, community) when given. Returns the
        image as Glance now reports it."""
        ...

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
        """A new image record without data (status ``queued``); container format ``bare``.
        CloudRequestError for a disk format Glance does not take or a reserved property."""
        ...

    def upload_image_data(self, image_id: str, data: BinaryIO, *, size: int) -> None:
        """Stream ``size`` bytes read from ``data`` into a ``queued`` image; Glance stores them,
        computes its checksums and makes the image ``active``. CloudRequestError when the image is
        not queued (409) or the data is not of the image's disk format."""
        ...

    def delete_image(self, image_id: str) -> None:
        """Delete the image; CloudNotFound when there is nothing to delete."""
        ...

    # --- capacity ------------------------------------------------------------------------------------
    def list_hypervisors(self) -> list[Hypervisor]: ...
    def list_resource_providers(self, *, known: Mapping[str, int] | None = None) -> list[ResourceProvider]:
        """Every compute node's inventories and usage, straight from Placement. With ``known``
        (provider id -> generation, from an earlier listing) a provider still at that generation comes
        back without details (``detailed=False``): one call lists them all, and only the providers that
        changed cost the calls for their inventories, usage and traits."""
        ...

    def compute_service(self, host: str) -> ComputeService:
        """The nova-compute service of ``host``; CloudNotFound if the host has none."""
        ...

    def set_compute_service_enabled(
        self, host: str, *, enabled: bool, reason: str | None = None
    ) -> ComputeService:
        """Enable the host for new servers, or disable it (a drain) with a reason."""
        ...

    def list_servers_on_host(self, host: str) -> list[Server]:
        """Every project's servers on ``host``, in one listing."""
        ...

    def live_migrate_server(self, server_id: str, *, host: str | None = None) -> None:
        """Ask Nova to move a running server to another host while it runs; returns at once (the
        server shows ``task_state`` migrating until Nova is done, then its new host). ``host``: the
        target, still checked by the scheduler; None lets the scheduler choose (never a disabled host).
        CloudRequestError when Nova refuses at once (the server is not running, the host is unknown or
        is the server's own); a move the scheduler cannot place fails later: the server stays where
        it is and its migration record (``list_server_migrations``) says ``error``."""
        ...

    def list_server_migrations(self, server_id: str) -> list[Migration]:
        """Nova's migration records of the server, newest first."""
        ...

    # --- servers -------------------------------------------------------------------------------------
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
        """Ask Nova for a server in ``project_id``; returns at once with its id (its state comes from
        ``get_server``: Nova answers a create with little more than the id). Raises QuotaExceeded when
        the project's quota refuses it, CloudRequestError for bad input."""
        ...

    def get_server(self, server_id: str) -> Server:
        """The server; CloudNotFound when it is gone."""
        ...

    def list_servers(
        self, *, project_id: str | None = None, changes_since: datetime | None = None
    ) -> list[Server]:
        """All servers (of every project when ``project_id`` is None), in one listing. With
        ``changes_since`` only the servers Nova changed at or after that time, deleted ones included
        (status ``DELETED``): Nova's cheap way to follow a cloud without listing it whole."""
        ...

    def find_servers_by_metadata(self, *, project_id: str, key: str, value: str) -> list[Server]:
        """Servers of the project whose metadata ``key`` equals ``value`` (idempotent retries)."""
        ...

    def server_action(self, server_id: str, action: ServerAction) -> None: ...

    def resize_server(self, server_id: str, *, flavor_id: str) -> None:
        """Ask Nova to move the server to another flavor; returns at once. The server shows RESIZE,
        then VERIFY_RESIZE with the new flavor until ``server_action`` confirms or reverts it.
        CloudRequestError when Nova refuses (same flavor, locked, not ACTIVE or SHUTOFF)."""
        ...

    def rebuild_server(self, server_id: str, *, image_id: str) -> None:
        """Ask Nova to rebuild the server from ``image_id`` (its disk is replaced, its id, addresses
        and flavor stay); returns at once, the server shows REBUILD until done. CloudRequestError when
        Nova refuses (locked, not ACTIVE/SHUTOFF/ERROR, an image of another architecture or too big)."""
        ...

    def create_server_image(self, server_id: str, *, name: str, properties: Mapping[str, str]) -> str:
        """Ask Nova to snapshot the server into a new Glance image, owned by the server's project and
        private to it, carrying ``properties`` (besides what Nova copies from the server's image);
        returns the image's id at once (the image is ``queued``/``saving`` until ``active``).
        CloudRequestError when Nova refuses (the server is busy or has no host)."""
        ...

    def server_console_url(self, server_id: str) -> str:
        """A short-lived noVNC console URL for the server, once its proxy was seen to answer.
        ConsoleUnavailable when the cloud has no console (or its proxy does not answer);
        CloudRequestError when the server cannot have one now (not ready)."""
        ...

    def server_console_output(self, server_id: str, *, lines: int | None = None) -> str:
        """The server's console output (its last ``lines`` lines; all when None), as Nova's
        ``os-getConsoleOutput`` gives it. CloudRequestError when the server has no host yet."""
        ...

    def delete_server(self, server_id: str) -> None:
        """Ask Nova to delete; CloudNotFound when there is nothing to delete."""
        ...

    # --- volumes (only where ``services()`` has VOLUME) ---------------------------------------------
    def list_volumes(self, *, project_id: str | None = None) -> list[Volume]:
        """Every project's volumes (or one project's), in one listing."""
        ...

    def create_volume(self, *, project_id: str, name: str, size_gb: int) -> Volume:
        """Ask Cinder for an empty volume in ``project_id``; returns at once (status ``creating``).
        Raises QuotaExceeded when the project's volume quota refuses it."""
        ...

    def get_volume(self, volume_id: str) -> Volume:
        """The volume; CloudNotFound when it is gone."""
        ...

    def delete_volume(self, volume_id: str) -> None:
        """Ask Cinder to delete a volume that is not attached; CloudNotFound when it is gone."""
        ...

    def attach_volume(self, *, server_id: str, volume_id: str) -> None:
        """Ask Nova to attach the volume to the server (it becomes ``in-use``); returns at once."""
        ...

    def detach_volume(self, *, server_id: str, volume_id: str) -> None:
        """Ask Nova to detach it (it becomes ``available``); CloudNotFound when it is not attached."""
        ...

    # --- quotas --------------------------------------------------------------------------------------
    def services(self) -> frozenset[QuotaService]:
        """Which quota services this cloud has (block storage is optional)."""
        ...

    def get_quotas(self, project_id: str, service: QuotaService) -> dict[str, int]:
        """The project's limits for ``QUOTA_DIMENSIONS[service]`` (-1 means unlimited)."""
        ...

    def set_quotas(self, project_id: str, service: QuotaService, values: Mapping[str, int]) -> dict[str, int]:
        """Set some of the service's limits; returns all of them as the cloud now reports."""
        ...

    def get_quota_usage(self, project_id: str, service: QuotaService) -> dict[str, int]:
        """What the project holds of each of ``QUOTA_DIMENSIONS[service]``, as the service counts it."""
        ...

    def get_quotas_with_usage(
        self, project_id: str, service: QuotaService
    ) -> tuple[dict[str, int], dict[str, int]]:
        """``get_quotas`` and ``get_quota_usage`` in one call to the service (its quota details)."""
        ...

    # --- identity ------------------------------------------------------------------------------------
    def access_info(self) -> CloudAccess:
        """The identity endpoint, region and interface the portal uses, from its configuration (no
        call to the cloud): what a member's clouds.yaml needs besides their own name and password."""
        ...

    def create_project(self, *, name: str, description: str = "") -> Project: ...
    def find_project(self, name_or_id: str) -> Project | None: ...
    def list_projects(self) -> list[Project]: ...
    def delete_project(self, project_id: str) -> None:
        """Keystone forgets the project and its role assignments; other services' resources of the
        project stay (delete them first, or they are orphans)."""
        ...

    def create_user(
        self,
        *,
        name: str,
        email: str | None = None,
        password: str | None = None,
        default_project_id: str | None = None,
        description: str = "",
    ) -> User:
        """A user in the default domain; CloudRequestError when the name is taken (case-insensitive).
        Without a password nobody can sign in as it until one is set."""
        ...

    def find_user(self, name_or_id: str) -> User | None: ...
    def list_users(self) -> list[User]: ...
    def set_user_password(self, user_id: str, password: str) -> None:
        """Replace the user's password (CloudNotFound when the user is gone)."""
        ...

    def whoami(self) -> User:
        """The cloud user the portal acts as (it needs a role on each team's project)."""
        ...

    def delete_user(self, user_id: str) -> None: ...
    def assign_role(self, *, user_id: str, project_id: str, role: str) -> None: ...
    def revoke_role(self, *, user_id: str, project_id: str, role: str) -> None: ...
    def list_role_assignments(self, *, project_id: str) -> list[RoleAssignment]: ...

    # --- networks ------------------------------------------------------------------------------------
    def list_networks(
        self, *, project_id: str | None = None, external: bool | None = None
    ) -> list[Network]: ...
    def create_network(self, *, project_id: str, name: str) -> Network: ...
    def delete_network(self, network_id: str) -> None: ...
    def create_subnet(
        self, *, network_id: str, name: str, cidr: str, dns_nameservers: tuple[str, ...] = ()
    ) -> Subnet: ...
    def list_subnets(self, *, project_id: str | None = None, network_id: str | None = None) -> list[Subnet]:
        """Subnets of every project (or one project, or one network), in one listing."""
        ...

    def delete_subnet(self, subnet_id: str) -> None:
        """CloudRequestError while a port (a router interface, a server) holds an address in it."""
        ...

    def list_routers(self, *, project_id: str | None = None) -> list[Router]: ...
    def list_router_interfaces(self, router_id: str) -> list[str]:
        """The ids of the subnets the router has an interface on."""
        ...

    def list_ports(self, *, project_id: str | None = None) -> list[Port]: ...
    def create_router(self, *, project_id: str, name: str, external_network_id: str | None) -> Router: ...
    def add_router_interface(self, *, router_id: str, subnet_id: str) -> None: ...
    def remove_router_interface(self, *, router_id: str, subnet_id: str) -> None: ...
    def delete_router(self, router_id: str) -> None: ...
    def list_floating_ips(self, *, project_id: str | None = None) -> list[FloatingIp]: ...
    def create_floating_ip(self, *, project_id: str, external_network_id: str) -> FloatingIp:
        """Allocate an address to the project; QuotaExceeded when its floating-IP quota is used up."""
        ...

    def attach_floating_ip(self, *, floating_ip_id: str, server_id: str) -> FloatingIp: ...
    def detach_floating_ip(self, *, floating_ip_id: str) -> FloatingIp: ...
    def delete_floating_ip(self, floating_ip_id: str) -> None: ...

    # --- security groups -----------------------------------------------------------------------------
    def list_security_groups(self, *, project_id: str | None = None) -> list[SecurityGroup]:
        """Security groups with their rules. Asked for one project, Neutron first makes that project's
        ``default`` group if it has none yet (as it does when the project's first network is made)."""
        ...

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
        """CloudRequestError when the group already has this rule (Neutron's 409) or it is invalid."""
        ...

    def delete_security_group_rule(self, rule_id: str) -> None: ...
    def delete_security_group(self, security_group_id: str) -> None:
        """CloudRequestError while a port uses it."""
        ...
