"""The real cloud: ``CloudGateway`` on openstacksdk. The only module in Kennel that imports it.

One gateway holds one authenticated connection (one token, reused) for the portal's own cloud user,
and a project-scoped connection per project it acts in (servers are created in the team's project so
Nova counts them against the team's quota). The portal's user therefore needs a role on each team's
project; team onboarding assigns it.
"""

from __future__ import annotations

import functools
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, BinaryIO, ParamSpec, TypeVar, cast

import openstack
import openstack.config
import requests
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as os_exceptions
from openstack.compute.v2.hypervisor import Hypervisor as NovaHypervisor
from openstack.compute.v2.server import Server as NovaServer
from openstack.identity.v3._proxy import Proxy as IdentityV3
from openstack.image.v2.image import Image as GlanceImage

from portal.cloud.gateway import (
    QUOTA_DIMENSIONS,
    CloudAccess,
    CloudError,
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
from portal.metrics import cloud_request_observe
from portal.request_ids import request_id_get

P = ParamSpec("P")
R = TypeVar("R")

_TRANSIENT_KEYSTONE = (
    ks_exceptions.ConnectFailure,
    ks_exceptions.ConnectTimeout,
    ks_exceptions.RetriableConnectionFailure,
    ks_exceptions.DiscoveryFailure,
    ks_exceptions.EndpointNotFound,
    ks_exceptions.ServiceUnavailable,
    ks_exceptions.GatewayTimeout,
    ks_exceptions.BadGateway,
)
# Neutron's network quota names against openstacksdk's attribute names.
_NETWORK_QUOTA_ATTRS = {
    "floatingip": "floating_ips",
    "network": "networks",
    "router": "routers",
    "port": "ports",
    "security_group": "security_groups",
}


def _message(error: Exception) -> str:
    details = getattr(error, "details", None)
    return str(details or error)


def translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Turn openstacksdk's and keystoneauth's exceptions into the gateway's four kinds."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except CloudError:
            raise
        except _TRANSIENT_KEYSTONE as error:
            raise CloudUnavailable(f"the cloud cannot be reached: {error}") from error
        except os_exceptions.NotFoundException as error:
            raise CloudNotFound(_message(error)) from error
        except os_exceptions.HttpException as error:
            text = _message(error)
            status = error.status_code or 0
            lowered = text.lower()
            # Nova says "Quota exceeded for cores ..." (403) but "Maximum number of ports exceeded" (403)
            # for Neutron's port quota; Neutron says "Quota exceeded for resources" (409); Cinder 413.
            if "quota exceeded" in lowered or "maximum number of" in lowered or status == 413:
                raise QuotaExceeded(text) from error
            if status >= 500 or status in (408, 429):
                raise CloudUnavailable(f"the cloud failed (HTTP {status}): {text}") from error
            if status == 401:
                raise CloudUnavailable(f"the portal's cloud credentials were refused: {text}") from error
            raise CloudRequestError(text) from error
        except ks_exceptions.Unauthorized as error:
            # Raised while scoping a token to a project: the portal's cloud user holds no role there
            # (onboarding grants it) or its credentials were refused. Retrying will not help.
            raise CloudRequestError(
                "the portal's cloud user may not act in this project "
                f"(no role there, or credentials refused): {error}"
            ) from error
        except ks_exceptions.ClientException as error:
            raise CloudUnavailable(f"the cloud cannot be reached: {error}") from error
        except os_exceptions.SDKException as error:
            raise CloudRequestError(str(error)) from error

    return wrapper


def _console_proxy_check(url: str) -> None:
    """ConsoleUnavailable unless the console proxy behind ``url`` answers: Nova hands out URLs of a
    proxy whether or not one runs, and a dead link is worse than saying so."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConsoleUnavailable(f"the cloud returned a console URL Kennel cannot check: {url}")
    try:
        # The page only; its websocket is the browser's business. A proxy with a certificate of its own
        # CA still counts as answering.
        answer = requests.get(url, timeout=5, verify=False, allow_redirects=True)  # noqa: S501
    except requests.RequestException as error:
        raise ConsoleUnavailable(
            f"the cloud's console proxy at {parts.netloc} does not answer ({type(error).__name__})"
        ) from error
    if answer.status_code >= 400:
        raise ConsoleUnavailable(
            f"the cloud's console proxy at {parts.netloc} answered HTTP {answer.status_code}"
        )


def _read_json(adapter: Any, path: str, microversion: str | None) -> Any:
    """GET ``path`` through a proxy's authenticated adapter and return the body as JSON (raising the
    SDK's HttpException for an error answer). The long listings read this way: an openstacksdk
    Resource per row costs more CPU than the request (bench/reconcile.py)."""
    response = adapter.get(path, microversion=microversion)
    os_exceptions.raise_from_response(response)
    return response.json()


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _utc(value: datetime | None) -> datetime | None:
    """Nova writes some times without a zone (migrations); they are UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _server(s: Any) -> Server:
    flavor = s.flavor or {}
    image = s.image or {}
    fault = s.fault or {}
    return Server(
        id=s.id,
        name=s.name,
        status=s.status,
        task_state=s.task_state,
        project_id=s.project_id,
        host=s.compute_host,
        image_id=image.get("id") if isinstance(image, Mapping) else getattr(image, "id", None),
        flavor_name=flavor.get("original_name") or flavor.get("name") or "",
        vcpus=int(flavor.get("vcpus") or 0),
        ram_mb=int(flavor.get("ram") or 0),
        disk_gb=int(flavor.get("disk") or 0),
        addresses={net: tuple(a["addr"] for a in addrs) for net, addrs in (s.addresses or {}).items()},
        metadata=dict(s.metadata or {}),
        availability_zone=s.availability_zone,
        fault=fault.get("message") if fault else None,
        created_at=_parse_time(s.created_at),
        updated_at=_parse_time(s.updated_at),
        locked=bool(s.is_locked),
    )


def _server_of_json(s: Mapping[str, Any]) -> Server:
    """``_server`` from Nova's JSON as listed, without openstacksdk's Resource: building a Resource
    costs about 5 ms of CPU per server (measured, bench/reconcile.py), a minute for 10,000 servers."""
    flavor = s.get("flavor") or {}
    image = s.get("image") or {}
    fault = s.get("fault") or {}
    return Server(
        id=s["id"],
        name=s.get("name") or "",
        status=s.get("status") or "",
        task_state=s.get("OS-EXT-STS:task_state"),
        project_id=s.get("tenant_id") or "",
        host=s.get("OS-EXT-SRV-ATTR:host"),
        image_id=image.get("id") if isinstance(image, Mapping) else None,
        flavor_name=flavor.get("original_name") or flavor.get("name") or "",
        vcpus=int(flavor.get("vcpus") or 0),
        ram_mb=int(flavor.get("ram") or 0),
        disk_gb=int(flavor.get("disk") or 0),
        addresses={net: tuple(a["addr"] for a in addrs) for net, addrs in (s.get("addresses") or {}).items()},
        metadata=dict(s.get("metadata") or {}),
        availability_zone=s.get("OS-EXT-AZ:availability_zone"),
        fault=fault.get("message") if fault else None,
        created_at=_parse_time(s.get("created")),
        updated_at=_parse_time(s.get("updated")),
        locked=bool(s.get("locked")),
    )


# Image properties openstacksdk lifts out of ``properties`` into attributes of its own; Kennel reads
# them back as properties, as Glance's API shows them.
_IMAGE_ATTRIBUTE_PROPERTIES = (
    "os_distro",
    "os_version",
    "hw_machine_type",
    "hw_architecture",
    "hw_firmware_type",
    "hw_disk_bus",
    "hw_vif_model",
)


def _image(i: Any) -> Image:
    properties = {k: str(v) for k, v in (i.properties or {}).items()}
    for key in _IMAGE_ATTRIBUTE_PROPERTIES:
        value = getattr(i, key, None) if key != "hw_architecture" else properties.get(key)
        if value is not None:
            properties[key] = str(value)
    return Image(
        id=i.id,
        name=i.name or "",
        status=i.status,
        architecture=properties.get("hw_architecture") or i.architecture,
        min_disk_gb=int(i.min_disk or 0),
        min_ram_mb=int(i.min_ram or 0),
        size_bytes=i.size,
        visibility=i.visibility or "",
        properties=properties,
        disk_format=i.disk_format or "",
        checksum=i.checksum or None,
        hash_algo=i.hash_algo or None,
        hash_value=i.hash_value or None,
        virtual_size_bytes=i.virtual_size,
        owner=i.owner or "",
    )


def _service_of(request_kwargs: Mapping[str, Any]) -> str:
    """The service type a keystoneauth request goes to (openstacksdk's proxies name it in the endpoint
    filter); a request without one is keystoneauth's own: a token (unauthenticated) or a discovery."""
    service = (request_kwargs.get("endpoint_filter") or {}).get("service_type")
    if service:
        return str(service)
    return "identity" if request_kwargs.get("authenticated") is False else "discovery"


def _observed(conn: openstack.connection.Connection) -> openstack.connection.Connection:
    """Every HTTP request of ``conn`` (each proxy and keystoneauth's token requests go through its one
    session) is counted by service and status (portal.metrics), and carries the request id of the work
    it is for (portal.request_ids) as ``X-OpenStack-Request-ID``, which Nova, Neutron, Glance and
    Keystone log as the global request id."""
    session = conn.session
    send = session.request

    def request(url: str, method: str, **kwargs: Any) -> requests.Response:
        service = _service_of(kwargs)
        request_id = request_id_get()
        if request_id and not kwargs.get("global_request_id"):
            kwargs["global_request_id"] = request_id
        try:
            response = send(url, method, **kwargs)
        except (ks_exceptions.ClientException, requests.RequestException) as error:
            # An HTTP error raised for its status (raise_exc) still had an answer.
            status = getattr(getattr(error, "response", None), "status_code", None) or getattr(
                error, "http_status", None
            )
            cloud_request_observe(service, status if isinstance(status, int) else None)
            raise
        cloud_request_observe(service, response.status_code)
        return response

    session.request = request  # type: ignore[method-assign,assignment]
    return conn


class OpenStackGateway:
    """``CloudGateway`` against a real OpenStack. Thread-safe; connections are made lazily."""

    def __init__(self, *, cloud: str, config_file: str | None = None, timeout: float = 30) -> None:
        self._cloud = cloud
        self._config_file = config_file
        self._timeout = timeout
        self._lock = threading.Lock()
        self._admin: openstack.connection.Connection | None = None
        self._projects: dict[str, openstack.connection.Connection] = {}

    # --- connections ---------------------------------------------------------------------------------
    @property
    def conn(self) -> openstack.connection.Connection:
        with self._lock:
            if self._admin is None:
                config = openstack.config.OpenStackConfig(
                    config_files=[self._config_file] if self._config_file else None
                )
                region = config.get_one(cloud=self._cloud, api_timeout=self._timeout)
                self._admin = _observed(openstack.connection.Connection(config=region))
            return self._admin

    @property
    def _identity(self) -> IdentityV3:
        # The connection's identity proxy is typed v2-or-v3; Kennel's clouds are Keystone v3.
        return cast(IdentityV3, self.conn.identity)

    def _in_project(self, project_id: str) -> openstack.connection.Connection:
        admin = self.conn
        with self._lock:
            if project_id not in self._projects:
                # By id: connect_as_project() with a string would take it for a project name.
                self._projects[project_id] = _observed(
                    admin.connect_as(project_id=project_id, project_name=None)
                )
            return self._projects[project_id]

    # --- catalog -------------------------------------------------------------------------------------
    @translate_errors
    def list_images(self) -> list[Image]:
        return [_image(i) for i in self.conn.image.images()]

    @translate_errors
    def list_flavors(self) -> list[Flavor]:
        return [
            Flavor(
                id=f.id,
                name=f.name,
                vcpus=f.vcpus,
                ram_mb=f.ram,
                disk_gb=f.disk,
                is_public=bool(f.is_public),
                extra_specs=dict(f.extra_specs or {}),
            )
            for f in self.conn.compute.flavors(details=True, get_extra_specs=True)
        ]

    # --- images (Glance) -----------------------------------------------------------------------------
    @translate_errors
    def get_image(self, image_id: str) -> Image:
        return _image(self.conn.image.get_image(image_id))

    @translate_errors
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
        current = self.get_image(image_id)
        # Glance's JSON patch: "add" sets a property whether or not it exists; "remove" of a property
        # that does not exist is a 409, so only the ones present are removed.
        ops: list[dict[str, Any]] = [
            {"op": "add", "path": f"/{key}", "value": str(value)}
            for key, value in (properties or {}).items()
            if current.properties.get(key) != str(value)
        ]
        ops += [{"op": "remove", "path": f"/{key}"} for key in remove if key in current.properties]
        if min_disk_gb is not None and min_disk_gb != current.min_disk_gb:
            ops.append({"op": "replace", "path": "/min_disk", "value": int(min_disk_gb)})
        if min_ram_mb is not None and min_ram_mb != current.min_ram_mb:
            ops.append({"op": "replace", "path": "/min_ram", "value": int(min_ram_mb)})
        if visibility is not None and visibility != current.visibility:
            ops.append({"op": "replace", "path": "/visibility", "value": visibility})
        if not ops:
            return current
        response = self.conn.image.patch(
            f"images/{image_id}",
            json=ops,
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
        )
        os_exceptions.raise_from_response(response)
        return self.get_image(image_id)

    @translate_errors
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
        # The resource itself, not the proxy's create_image(): that one looks for an image of the same
        # name to reuse and adds checksum properties of its own.
        created = GlanceImage.new(
            name=name,
            disk_format=disk_format,
            container_format="bare",
            visibility=visibility,
            min_disk=min_disk_gb,
            min_ram=min_ram_mb,
            **{key: str(value) for key, value in (properties or {}).items()},
        ).create(self.conn.image)
        return self.get_image(created.id)

    @translate_errors
    def upload_image_data(self, image_id: str, data: BinaryIO, *, size: int) -> None:
        # PUT /v2/images/{id}/file with the file object as the body: requests streams it in blocks
        # (nothing is read into memory whole); the size lets Glance refuse early when it has no room.
        image = self.conn.image.get_image(image_id)
        if image.status != "queued":
            # Glance answers 409 without reading the body and drops the connection, which the next
            # call on the pooled connection would then find closed: refuse before sending anything.
            raise CloudRequestError(f"Image status transition from {image.status} to saving is not allowed")
        response = image.upload(self.conn.image, data=data, size=size)
        if not response.ok:
            # A refused upload leaves the rest of the body unsent on a connection Glance closes.
            self.conn.session.session.close()
            if response.status_code in (400, 409, 413, 415):
                # Glance's reason ("Image failed safety checks", "disk_format qcow2 does not match stream
                # data raw") is the body's last line; the status text alone says nothing useful.
                lines = [line.strip() for line in response.text.splitlines() if line.strip()]
                reason = lines[-1] if lines else response.reason
                raise CloudRequestError(f"Glance refused the data (HTTP {response.status_code}): {reason}")
        os_exceptions.raise_from_response(response)

    @translate_errors
    def delete_image(self, image_id: str) -> None:
        self.conn.image.delete_image(image_id, ignore_missing=False)

    # --- capacity ------------------------------------------------------------------------------------
    @translate_errors
    def list_hypervisors(self) -> list[Hypervisor]:
        # At the SDK's own microversion, like the servers.
        compute = self.conn.compute
        listed = _read_json(compute, "/os-hypervisors/detail", NovaHypervisor._get_microversion(compute))
        return [
            Hypervisor(
                id=str(h["id"]),
                hostname=h["hypervisor_hostname"],
                state=h["state"],
                status=h["status"],
                host_ip=h.get("host_ip"),
                disabled_reason=(h.get("service") or {}).get("disabled_reason"),
            )
            for h in listed["hypervisors"]
        ]

    @translate_errors
    def list_resource_providers(self, *, known: Mapping[str, int] | None = None) -> list[ResourceProvider]:
        placement = self.conn.placement

        def read(path: str, microversion: str) -> Any:
            return _read_json(placement, path, microversion)

        listed = read("/resource_providers", "1.14")["resource_providers"]
        moved = {rp["uuid"] for rp in listed if known is None or known.get(rp["uuid"]) != rp["generation"]}
        # The architecture is a provider's HW_ARCH_* trait. Placement has no bulk read of traits, but it
        # lists the providers that carry one (``required``, 1.18): one listing per architecture in use
        # instead of a traits read per provider.
        architectures: dict[str, str] = {}
        if moved:
            in_use = read("/traits?associated=true&name=startswith:HW_ARCH_", "1.6")["traits"]
            for trait in in_use:
                query = urllib.parse.urlencode({"required": trait})
                for rp in read(f"/resource_providers?{query}", "1.18")["resource_providers"]:
                    architectures[rp["uuid"]] = trait.removeprefix("HW_ARCH_").lower()
        providers = []
        for rp in listed:
            uuid, name, generation = rp["uuid"], rp["name"], rp["generation"]
            if uuid not in moved:
                providers.append(
                    ResourceProvider(
                        id=uuid,
                        name=name,
                        architecture=None,
                        inventories={},
                        generation=generation,
                        detailed=False,
                    )
                )
                continue
            # Inventories and usages have no bulk read in Placement: two reads per provider whose
            # generation moved (every one on the first read).
            usages = read(f"/resource_providers/{uuid}/usages", "1.9")["usages"]
            stock = read(f"/resource_providers/{uuid}/inventories", "1.0")["inventories"]
            inventories = {
                resource_class: Inventory(
                    total=inv["total"],
                    reserved=inv.get("reserved") or 0,
                    allocation_ratio=float(inv.get("allocation_ratio", 1.0)),
                    used=int(usages.get(resource_class, 0)),
                )
                for resource_class, inv in stock.items()
            }
            providers.append(
                ResourceProvider(
                    id=uuid,
                    name=name,
                    architecture=architectures.get(uuid),
                    inventories=inventories,
                    generation=generation,
                )
            )
        return providers

    def _nova_compute(self, host: str) -> Any:
        found = next(iter(self.conn.compute.services(binary="nova-compute", host=host)), None)
        if found is None:
            raise CloudNotFound(f"no nova-compute service on host {host!r}")
        return found

    @staticmethod
    def _compute_service(s: Any) -> ComputeService:
        return ComputeService(
            host=s.host, enabled=s.status == "enabled", up=s.state == "up", disabled_reason=s.disabled_reason
        )

    @translate_errors
    def compute_service(self, host: str) -> ComputeService:
        return self._compute_service(self._nova_compute(host))

    @translate_errors
    def set_compute_service_enabled(
        self, host: str, *, enabled: bool, reason: str | None = None
    ) -> ComputeService:
        service = self._nova_compute(host)
        if enabled:
            self.conn.compute.enable_service(service, host, "nova-compute")
        else:
            self.conn.compute.disable_service(service, host, "nova-compute", disabled_reason=reason)
        return self.compute_service(host)

    @translate_errors
    def list_servers_on_host(self, host: str) -> list[Server]:
        return [
            _server(s) for s in self.conn.compute.servers(details=True, all_projects=True, compute_host=host)
        ]

    @translate_errors
    def live_migrate_server(self, server_id: str, *, host: str | None = None) -> None:
        # force=False: a named host still passes the scheduler's checks (room, architecture).
        self.conn.compute.live_migrate_server(server_id, host=host, force=False, block_migration="auto")

    @translate_errors
    def list_server_migrations(self, server_id: str) -> list[Migration]:
        records = [
            Migration(
                id=str(m.id),
                server_id=m.server_id or server_id,
                status=m.status or "",
                kind=m.migration_type or "",
                source_host=m.source_compute,
                dest_host=m.dest_compute,
                created_at=_utc(_parse_time(m.created_at)),
            )
            for m in self.conn.compute.migrations(instance_uuid=server_id)
        ]
        return sorted(
            records, key=lambda m: (m.created_at is not None, m.created_at, int(m.id)), reverse=True
        )

    # --- servers -------------------------------------------------------------------------------------
    @translate_errors
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
        attrs: dict[str, Any] = {
            "name": name,
            "image_id": image_id,
            "flavor_id": flavor_id,
            "networks": [{"uuid": network_id}] if network_id else "none",
            "metadata": dict(metadata or {}),
        }
        if user_data is not None:
            import base64

            attrs["user_data"] = base64.b64encode(user_data.encode()).decode()
        if key_name:
            attrs["key_name"] = key_name
        try:
            created = self._in_project(project_id).compute.create_server(**attrs)
        except os_exceptions.HttpException as error:
            if network_id and error.status_code in (400, 404) and "network" in _message(error).lower():
                self._network_answers(network_id, error)
            raise
        # No GET here: whoever needs the state asks for it (a build polls anyway).
        return ServerCreated(id=created.id, name=name, project_id=project_id)

    def _network_answers(self, network_id: str, refusal: Exception) -> None:
        """Nova says "Network ... could not be found" while Neutron is away or starting: ask Neutron
        itself. Returns when Neutron confirms the network is gone (the refusal stands); raises
        CloudUnavailable when Neutron cannot answer or has the network (a passing outage, not a refusal)."""
        try:
            self.conn.network.get_network(network_id)
        except os_exceptions.HttpException as error:
            if (error.status_code or 500) < 500:
                return  # gone, or not ours to see: the refusal stands
            raise CloudUnavailable(f"the network service failed: {error}") from refusal
        except (ks_exceptions.ClientException, *_TRANSIENT_KEYSTONE) as error:
            raise CloudUnavailable(f"the network service cannot be reached: {error}") from refusal
        raise CloudUnavailable(f"Nova could not see network {network_id}, which Neutron has: {refusal}")

    @translate_errors
    def get_server(self, server_id: str) -> Server:
        return _server(self.conn.compute.get_server(server_id))

    @translate_errors
    def list_servers(
        self, *, project_id: str | None = None, changes_since: datetime | None = None
    ) -> list[Server]:
        query: dict[str, Any] = {"all_tenants": "True"}
        if project_id:
            query["project_id"] = project_id
        if changes_since is not None:
            # Nova compares with its own UTC ``updated_at``; it then lists deleted servers too.
            query["changes-since"] = changes_since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # Read as JSON through the SDK's authenticated compute adapter, at the microversion the SDK
        # itself would use for servers, following Nova's pages (``servers_links``) to the end.
        compute = self.conn.compute
        microversion = NovaServer._get_microversion(compute)
        servers: list[Server] = []
        url: str | None = "/servers/detail?" + urllib.parse.urlencode(query)
        while url:
            body = _read_json(compute, url, microversion)
            servers += [_server_of_json(s) for s in body.get("servers", ())]
            url = next(
                (link["href"] for link in body.get("servers_links", ()) if link.get("rel") == "next"), None
            )
        return servers

    @translate_errors
    def find_servers_by_metadata(self, *, project_id: str, key: str, value: str) -> list[Server]:
        return [s for s in self.list_servers(project_id=project_id) if s.metadata.get(key) == value]

    @translate_errors
    def server_action(self, server_id: str, action: ServerAction) -> None:
        compute = self.conn.compute
        match ServerAction(action):
            case ServerAction.START:
                compute.start_server(server_id)
            case ServerAction.STOP:
                compute.stop_server(server_id)
            case ServerAction.REBOOT_SOFT:
                compute.reboot_server(server_id, "SOFT")
            case ServerAction.REBOOT_HARD:
                compute.reboot_server(server_id, "HARD")
            case ServerAction.CONFIRM_RESIZE:
                compute.confirm_server_resize(server_id)
            case ServerAction.REVERT_RESIZE:
                compute.revert_server_resize(server_id)
            case ServerAction.LOCK:
                compute.lock_server(server_id)
            case ServerAction.UNLOCK:
                compute.unlock_server(server_id)

    @translate_errors
    def resize_server(self, server_id: str, *, flavor_id: str) -> None:
        self.conn.compute.resize_server(server_id, flavor_id)

    @translate_errors
    def rebuild_server(self, server_id: str, *, image_id: str) -> None:
        self.conn.compute.rebuild_server(server_id, image=image_id)

    @translate_errors
    def create_server_image(self, server_id: str, *, name: str, properties: Mapping[str, str]) -> str:
        # In the server's own project: Glance makes the token's project the image's owner, and a
        # snapshot is the team's image (private to its project), not the portal's.
        project_id = self.conn.compute.get_server(server_id).project_id
        compute = self._in_project(project_id).compute
        image = compute.create_server_image(server_id, name=name, metadata=dict(properties), wait=False)
        return str(image.id)

    @translate_errors
    def server_console_url(self, server_id: str) -> str:
        try:
            console = self.conn.compute.create_console(server_id, console_type="novnc") or {}
        except os_exceptions.HttpException as error:
            # [vnc] enabled = false: "Unavailable console type novnc." (400) or not implemented (501).
            text = _message(error)
            if error.status_code == 501 or "console type" in text.lower() or "not implemented" in text:
                raise ConsoleUnavailable(f"the cloud has no VNC console: {text}") from error
            raise
        if not console.get("url"):
            raise ConsoleUnavailable("the cloud returned no console URL")
        url = str(console["url"])
        _console_proxy_check(url)
        return url

    @translate_errors
    def server_console_output(self, server_id: str, *, lines: int | None = None) -> str:
        answer = self.conn.compute.get_server_console_output(server_id, length=lines) or {}
        return str(answer.get("output") or "")

    @translate_errors
    def delete_server(self, server_id: str) -> None:
        self.conn.compute.delete_server(server_id, ignore_missing=False)

    # --- volumes -------------------------------------------------------------------------------------
    @staticmethod
    def _volume(v: Any) -> Volume:
        attached = next(iter(v.attachments or []), None) or {}
        return Volume(
            id=v.id,
            name=v.name or "",
            project_id=v.project_id or "",
            size_gb=int(v.size or 0),
            status=v.status or "",
            server_id=attached.get("server_id"),
            device=attached.get("device"),
        )

    @translate_errors
    def list_volumes(self, *, project_id: str | None = None) -> list[Volume]:
        query: dict[str, Any] = {"all_projects": True}
        if project_id:
            query["project_id"] = project_id
        return [self._volume(v) for v in self.conn.block_storage.volumes(details=True, **query)]

    @translate_errors
    def create_volume(self, *, project_id: str, name: str, size_gb: int) -> Volume:
        # In the team's project: Cinder counts it against that project's quota.
        created = self._in_project(project_id).block_storage.create_volume(size=size_gb, name=name)
        # Cinder's answer to a create leaves the project out (only an admin's read shows it).
        return replace(self._volume(created), project_id=created.project_id or project_id)

    @translate_errors
    def get_volume(self, volume_id: str) -> Volume:
        return self._volume(self.conn.block_storage.get_volume(volume_id))

    @translate_errors
    def delete_volume(self, volume_id: str) -> None:
        self.conn.block_storage.delete_volume(volume_id, ignore_missing=False)

    @translate_errors
    def attach_volume(self, *, server_id: str, volume_id: str) -> None:
        self.conn.compute.create_volume_attachment(server_id, volume=volume_id)

    @translate_errors
    def detach_volume(self, *, server_id: str, volume_id: str) -> None:
        self.conn.compute.delete_volume_attachment(server_id, volume_id, ignore_missing=False)

    # --- quotas --------------------------------------------------------------------------------------
    @translate_errors
    def services(self) -> frozenset[QuotaService]:
        found = {QuotaService.COMPUTE, QuotaService.NETWORK}
        if self.conn.has_service("block-storage") or self.conn.has_service("volumev3"):
            found.add(QuotaService.VOLUME)
        return frozenset(found)

    @translate_errors
    def get_quotas(self, project_id: str, service: QuotaService) -> dict[str, int]:
        names = QUOTA_DIMENSIONS[QuotaService(service)]
        quota: Any
        if service == QuotaService.NETWORK:
            quota = self.conn.network.get_quota(project_id)
            return {name: int(getattr(quota, _NETWORK_QUOTA_ATTRS[name])) for name in names}
        if service == QuotaService.COMPUTE:
            quota = self.conn.compute.get_quota_set(project_id)
        else:
            quota = self.conn.block_storage.get_quota_set(project_id)
        return {name: int(getattr(quota, name)) for name in names}

    @translate_errors
    def set_quotas(self, project_id: str, service: QuotaService, values: Mapping[str, int]) -> dict[str, int]:
        service = QuotaService(service)
        unknown = set(values) - set(QUOTA_DIMENSIONS[service])
        if unknown:
            raise CloudRequestError(f"unknown {service} quota: {', '.join(sorted(unknown))}")
        if service == QuotaService.COMPUTE:
            self.conn.compute.update_quota_set(project_id, **cast(dict[str, Any], values))
        elif service == QuotaService.NETWORK:
            quota = self.conn.network.get_quota(project_id)
            self.conn.network.update_quota(quota, **{_NETWORK_QUOTA_ATTRS[k]: v for k, v in values.items()})
        else:
            self.conn.block_storage.update_quota_set(project_id, **dict(values))
        return self.get_quotas(project_id, service)

    @translate_errors
    def get_quota_usage(self, project_id: str, service: QuotaService) -> dict[str, int]:
        names = QUOTA_DIMENSIONS[QuotaService(service)]
        quota: Any
        if service == QuotaService.NETWORK:
            quota = self.conn.network.get_quota(project_id, details=True)
            return {name: int(getattr(quota, _NETWORK_QUOTA_ATTRS[name])["used"]) for name in names}
        if service == QuotaService.COMPUTE:
            quota = self.conn.compute.get_quota_set(project_id, usage=True)
        else:
            quota = self.conn.block_storage.get_quota_set(project_id, usage=True)
        return {name: int(quota.usage.get(name, 0)) for name in names}

    @translate_errors
    def get_quotas_with_usage(
        self, project_id: str, service: QuotaService
    ) -> tuple[dict[str, int], dict[str, int]]:
        names = QUOTA_DIMENSIONS[QuotaService(service)]
        quota: Any
        if service == QuotaService.NETWORK:
            quota = self.conn.network.get_quota(project_id, details=True)
            details = {name: getattr(quota, _NETWORK_QUOTA_ATTRS[name]) for name in names}
            return (
                {name: int(detail["limit"]) for name, detail in details.items()},
                {name: int(detail["used"]) for name, detail in details.items()},
            )
        if service == QuotaService.COMPUTE:
            quota = self.conn.compute.get_quota_set(project_id, usage=True)
        else:
            quota = self.conn.block_storage.get_quota_set(project_id, usage=True)
        return (
            {name: int(getattr(quota, name)) for name in names},
            {name: int(quota.usage.get(name, 0)) for name in names},
        )

    # --- identity ------------------------------------------------------------------------------------
    def access_info(self) -> CloudAccess:
        region = self.conn.config  # the parsed clouds.yaml entry; building it calls nothing
        return CloudAccess(
            auth_url=str(region.config["auth"]["auth_url"]),
            region_name=region.get_region_name() or None,
            interface=str(region.get_interface() or "") or None,
            identity_api_version=str(region.get_api_version("identity") or "3"),
        )

    @staticmethod
    def _project(p: Any) -> Project:
        return Project(id=p.id, name=p.name, description=p.description or "", enabled=bool(p.is_enabled))

    @translate_errors
    def create_project(self, *, name: str, description: str = "") -> Project:
        return self._project(
            self._identity.create_project(name=name, description=description, domain_id="default")
        )

    @translate_errors
    def list_projects(self) -> list[Project]:
        return [self._project(p) for p in self._identity.projects()]

    @translate_errors
    def find_project(self, name_or_id: str) -> Project | None:
        p = self._identity.find_project(name_or_id, ignore_missing=True, domain_id="default")
        if p is None:
            return None
        return Project(id=p.id, name=p.name, description=p.description or "", enabled=bool(p.is_enabled))

    @translate_errors
    def delete_project(self, project_id: str) -> None:
        self._identity.delete_project(project_id, ignore_missing=False)
        with self._lock:
            self._projects.pop(project_id, None)

    @translate_errors
    def create_user(
        self,
        *,
        name: str,
        email: str | None = None,
        password: str | None = None,
        default_project_id: str | None = None,
        description: str = "",
    ) -> User:
        attrs: dict[str, Any] = {"name": name, "domain_id": "default"}
        if description:
            attrs["description"] = description
        if email:
            attrs["email"] = email
        if password:
            attrs["password"] = password
        if default_project_id:
            attrs["default_project_id"] = default_project_id
        return self._user(self._identity.create_user(**attrs))

    @translate_errors
    def find_user(self, name_or_id: str) -> User | None:
        u = self._identity.find_user(name_or_id, ignore_missing=True, domain_id="default")
        return None if u is None else self._user(u)

    @translate_errors
    def list_users(self) -> list[User]:
        return [self._user(u) for u in self._identity.users(domain_id="default")]

    @translate_errors
    def set_user_password(self, user_id: str, password: str) -> None:
        self._identity.update_user(user_id, password=password)

    @translate_errors
    def whoami(self) -> User:
        user_id = self.conn.current_user_id
        if user_id is None:
            raise CloudUnavailable("the cloud did not say who the portal's user is")
        return self._user(self._identity.get_user(user_id))

    @staticmethod
    def _user(u: Any) -> User:
        return User(
            id=u.id,
            name=u.name,
            email=u.email,
            default_project_id=u.default_project_id,
            enabled=bool(u.is_enabled),
            description=u.description or "",
        )

    @translate_errors
    def delete_user(self, user_id: str) -> None:
        self._identity.delete_user(user_id, ignore_missing=False)

    def _role(self, role: str) -> Any:
        found = self._identity.find_role(role, ignore_missing=True)
        if found is None:
            raise CloudNotFound(f"no role named {role!r} in the cloud")
        return found

    @translate_errors
    def assign_role(self, *, user_id: str, project_id: str, role: str) -> None:
        self._identity.assign_project_role_to_user(project_id, user_id, self._role(role))

    @translate_errors
    def revoke_role(self, *, user_id: str, project_id: str, role: str) -> None:
        self._identity.unassign_project_role_from_user(project_id, user_id, self._role(role))

    @translate_errors
    def list_role_assignments(self, *, project_id: str) -> list[RoleAssignment]:
        assignments = self._identity.role_assignments(scope_project_id=project_id, include_names=True)
        return [
            RoleAssignment(user_id=a.user["id"], project_id=project_id, role=a.role["name"])
            for a in assignments
            if a.user
        ]

    # --- networks ------------------------------------------------------------------------------------
    @staticmethod
    def _network(n: Any) -> Network:
        return Network(
            id=n.id,
            name=n.name,
            project_id=n.project_id,
            external=bool(n.is_router_external),
            subnet_ids=tuple(n.subnet_ids or ()),
        )

    @translate_errors
    def list_networks(self, *, project_id: str | None = None, external: bool | None = None) -> list[Network]:
        query: dict[str, Any] = {}
        if project_id:
            query["project_id"] = project_id
        if external is not None:
            query["is_router_external"] = external
        return [self._network(n) for n in self.conn.network.networks(**query)]

    @translate_errors
    def create_network(self, *, project_id: str, name: str) -> Network:
        return self._network(self.conn.network.create_network(project_id=project_id, name=name))

    @translate_errors
    def delete_network(self, network_id: str) -> None:
        self.conn.network.delete_network(network_id, ignore_missing=False)

    @translate_errors
    def create_subnet(
        self, *, network_id: str, name: str, cidr: str, dns_nameservers: tuple[str, ...] = ()
    ) -> Subnet:
        network = self.conn.network.get_network(network_id)
        s = self.conn.network.create_subnet(
            network_id=network_id,
            project_id=network.project_id,
            name=name,
            cidr=cidr,
            ip_version=4,
            dns_nameservers=list(dns_nameservers),
        )
        return self._subnet(s)

    @staticmethod
    def _subnet(s: Any) -> Subnet:
        return Subnet(
            id=s.id,
            name=s.name,
            network_id=s.network_id,
            cidr=s.cidr,
            gateway_ip=s.gateway_ip,
            project_id=s.project_id or "",
        )

    @translate_errors
    def list_subnets(self, *, project_id: str | None = None, network_id: str | None = None) -> list[Subnet]:
        query: dict[str, Any] = {}
        if project_id:
            query["project_id"] = project_id
        if network_id:
            query["network_id"] = network_id
        return [self._subnet(s) for s in self.conn.network.subnets(**query)]

    @translate_errors
    def delete_subnet(self, subnet_id: str) -> None:
        self.conn.network.delete_subnet(subnet_id, ignore_missing=False)

    @translate_errors
    def list_routers(self, *, project_id: str | None = None) -> list[Router]:
        query = {"project_id": project_id} if project_id else {}
        return [self._router(r) for r in self.conn.network.routers(**query)]

    @translate_errors
    def list_router_interfaces(self, router_id: str) -> list[str]:
        ports = self.conn.network.ports(device_id=router_id, device_owner="network:router_interface")
        return [ip["subnet_id"] for port in ports for ip in (port.fixed_ips or [])]

    @translate_errors
    def list_ports(self, *, project_id: str | None = None) -> list[Port]:
        query = {"project_id": project_id} if project_id else {}
        return [
            Port(
                id=p.id,
                network_id=p.network_id,
                project_id=p.project_id or "",
                device_owner=p.device_owner or "",
                device_id=p.device_id or "",
            )
            for p in self.conn.network.ports(**query)
        ]

    @staticmethod
    def _router(r: Any) -> Router:
        gateway = r.external_gateway_info or {}
        return Router(
            id=r.id, name=r.name, project_id=r.project_id, external_network_id=gateway.get("network_id")
        )

    @translate_errors
    def create_router(self, *, project_id: str, name: str, external_network_id: str | None) -> Router:
        attrs: dict[str, Any] = {"project_id": project_id, "name": name}
        if external_network_id:
            attrs["external_gateway_info"] = {"network_id": external_network_id}
        return self._router(self.conn.network.create_router(**attrs))

    @translate_errors
    def add_router_interface(self, *, router_id: str, subnet_id: str) -> None:
        self.conn.network.add_interface_to_router(router_id, subnet=subnet_id)

    @translate_errors
    def remove_router_interface(self, *, router_id: str, subnet_id: str) -> None:
        self.conn.network.remove_interface_from_router(router_id, subnet=subnet_id)

    @translate_errors
    def delete_router(self, router_id: str) -> None:
        self.conn.network.delete_router(router_id, ignore_missing=False)

    def _floating_ips(self, ips: Iterable[Any]) -> list[FloatingIp]:
        ips = list(ips)
        port_ids = [ip.port_id for ip in ips if ip.port_id]
        devices = {}
        if port_ids:
            devices = {p.id: p.device_id for p in self.conn.network.ports(id=port_ids)}
        return [
            FloatingIp(
                id=ip.id,
                address=ip.floating_ip_address,
                project_id=ip.project_id,
                network_id=ip.floating_network_id,
                port_id=ip.port_id,
                server_id=devices.get(ip.port_id) if ip.port_id else None,
            )
            for ip in ips
        ]

    @translate_errors
    def list_floating_ips(self, *, project_id: str | None = None) -> list[FloatingIp]:
        query = {"project_id": project_id} if project_id else {}
        return self._floating_ips(self.conn.network.ips(**query))

    @translate_errors
    def create_floating_ip(self, *, project_id: str, external_network_id: str) -> FloatingIp:
        ip = self.conn.network.create_ip(floating_network_id=external_network_id, project_id=project_id)
        return self._floating_ips([ip])[0]

    @translate_errors
    def attach_floating_ip(self, *, floating_ip_id: str, server_id: str) -> FloatingIp:
        port = next(iter(self.conn.network.ports(device_id=server_id)), None)
        if port is None:
            raise CloudRequestError("the server has no network port to attach a floating IP to")
        ip = self.conn.network.update_ip(floating_ip_id, port_id=port.id)
        return self._floating_ips([ip])[0]

    @translate_errors
    def detach_floating_ip(self, *, floating_ip_id: str) -> FloatingIp:
        ip = self.conn.network.update_ip(floating_ip_id, port_id=None)
        return self._floating_ips([ip])[0]

    @translate_errors
    def delete_floating_ip(self, floating_ip_id: str) -> None:
        self.conn.network.delete_ip(floating_ip_id, ignore_missing=False)

    # --- security groups -----------------------------------------------------------------------------
    @staticmethod
    def _rule(r: Any) -> SecurityGroupRule:
        # A group lists its rules as Neutron's dicts; a created rule is openstacksdk's resource (a dict
        # too), which calls ``ethertype`` ``ether_type``.
        get = r.get
        return SecurityGroupRule(
            id=get("id"),
            security_group_id=get("security_group_id"),
            direction=get("direction"),
            ethertype=get("ethertype") or get("ether_type"),
            protocol=get("protocol"),
            port_range_min=get("port_range_min"),
            port_range_max=get("port_range_max"),
            remote_ip_prefix=get("remote_ip_prefix"),
            remote_group_id=get("remote_group_id"),
        )

    @translate_errors
    def list_security_groups(self, *, project_id: str | None = None) -> list[SecurityGroup]:
        query = {"project_id": project_id} if project_id else {}
        return [
            SecurityGroup(
                id=g.id,
                name=g.name,
                project_id=g.project_id or "",
                rules=tuple(self._rule(r) for r in g.security_group_rules or ()),
            )
            for g in self.conn.network.security_groups(**query)
        ]

    @translate_errors
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
        group = self.conn.network.get_security_group(security_group_id)
        rule = self.conn.network.create_security_group_rule(
            security_group_id=security_group_id,
            project_id=group.project_id,  # the group's project, not the portal's own
            direction=direction,
            protocol=protocol,
            port_range_min=port_range_min,
            port_range_max=port_range_max,
            remote_ip_prefix=remote_ip_prefix,
            ether_type=ethertype,
        )
        return self._rule(rule)

    @translate_errors
    def delete_security_group_rule(self, rule_id: str) -> None:
        self.conn.network.delete_security_group_rule(rule_id, ignore_missing=False)

    @translate_errors
    def delete_security_group(self, security_group_id: str) -> None:
        self.conn.network.delete_security_group(security_group_id, ignore_missing=False)
