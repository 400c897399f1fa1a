"""Seed the devcloud with the team's estate, idempotently, from one process.

``kennel-devcloud-seed identity`` creates the service users and the catalog
(run before the computes start); ``kennel-devcloud-seed estate`` waits for the
four computes and then makes sure aggregates, flavors, images, networks,
demo projects and quotas exist. Every step looks before it creates, so a
second run changes nothing. One openstacksdk connection (one token) is used
throughout: each ``openstack`` CLI call would cost ~2 s of imports.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import openstack
from openstack import exceptions

SERVICE_USERS = ("nova", "placement", "glance", "neutron")
CATALOG = {
    # type: (name, url)
    "compute": ("nova", "http://127.0.0.1:8774/v2.1"),
    "placement": ("placement", "http://127.0.0.1:8778"),
    "image": ("glance", "http://127.0.0.1:9292"),
    "network": ("neutron", "http://127.0.0.1:9696"),
}
CINDER_CATALOG = {
    "block-storage": ("cinder", "http://127.0.0.1:8776/v3"),
    "volumev3": ("cinderv3", "http://127.0.0.1:8776/v3"),
}
REGION = "RegionOne"
# A second cloud (the benchmarks') moves every port by the same offset (see control.py).
PORT_OFFSET = int(os.environ.get("DEVCLOUD_PORT_OFFSET", "0"))


def _moved(url: str) -> str:
    return re.sub(r":(\d+)", lambda m: f":{int(m.group(1)) + PORT_OFFSET}", url, count=1)


# project: (member user, private CIDR)
DEMO_PROJECTS = {"alpha": ("alpha-member", "10.10.0.0/24"), "beta": ("beta-member", "10.20.0.0/24")}

AGGREGATES = {"dc1": ("x2", "x3", "x4"), "dc2": ("p1",)}
COMPUTE_HOSTS = ("x2", "x3", "x4", "p1")

FLAVORS = {  # name: (vcpus, ram MiB, disk GB)
    "m1.tiny": (1, 512, 1),
    "m1.small": (1, 2048, 20),
    "m1.medium": (2, 4096, 40),
    "m1.large": (4, 8192, 80),
    "m1.xlarge": (8, 16384, 160),
}

IMAGES = {  # name: properties (min_disk GB, min_ram MiB are Glance fields)
    "cirros-0.6-x86_64": dict(
        hw_architecture="x86_64", os_distro="cirros", os_version="0.6", min_disk=1, min_ram=128
    ),
    "cirros-0.6-ppc64le": dict(
        hw_architecture="ppc64le", os_distro="cirros", os_version="0.6", min_disk=1, min_ram=128
    ),
    "centos-stream-9-x86_64": dict(
        hw_architecture="x86_64", os_distro="centos", os_version="9", min_disk=10, min_ram=1024
    ),
    "centos-stream-9-ppc64le": dict(
        hw_architecture="ppc64le", os_distro="centos", os_version="9", min_disk=10, min_ram=1024
    ),
}

PUBLIC_NET = "public"
PUBLIC_CIDR = "203.0.113.0/24"
PUBLIC_POOL = {"start": "203.0.113.100", "end": "203.0.113.250"}

COMPUTE_QUOTAS = {"instances": 20, "cores": 64, "ram": 131072, "key_pairs": 20, "server_groups": 10}
VOLUME_QUOTAS = {"gigabytes": 500, "volumes": 20, "snapshots": 20}
NETWORK_QUOTAS = {
    "network": 10,
    "subnet": 20,
    "port": 100,
    "router": 3,
    "floatingip": 10,
    "security_group": 20,
    "security_group_rule": 200,
}


def log(msg: str) -> None:
    print(f"seed: {msg}", flush=True)


# --------------------------------------------------------------------------- identity


def ensure_role(conn, name: str):
    return conn.identity.find_role(name) or conn.identity.create_role(name=name)


def ensure_project(conn, name: str, description: str):
    project = conn.identity.find_project(name, domain_id="default")
    if project is None:
        log(f"project {name}")
        project = conn.identity.create_project(name=name, domain_id="default", description=description)
    return project


def ensure_user(conn, name: str, password: str, project) -> object:
    user = conn.identity.find_user(name, domain_id="default")
    if user is None:
        log(f"user {name}")
        user = conn.identity.create_user(
            name=name, password=password, domain_id="default", default_project_id=project.id
        )
    else:
        # The password is the one in this run folder's secrets.json.
        conn.identity.update_user(user, password=password)
    return user


def ensure_grant(conn, project, user, role) -> None:
    if not conn.identity.validate_user_has_project_role(project, user, role):
        conn.identity.assign_project_role_to_user(project, user, role)


def seed_identity(conn, secret: dict[str, str], *, cinder: bool) -> None:
    admin_role = ensure_role(conn, "admin")
    service_role = ensure_role(conn, "service")
    member_role = ensure_role(conn, "member")
    service_project = ensure_project(conn, "service", "OpenStack service users")
    catalog = {**CATALOG, **(CINDER_CATALOG if cinder else {})}
    for name in SERVICE_USERS + (("cinder",) if cinder else ()):
        user = ensure_user(conn, name, secret["service"], service_project)
        # Service tokens need both: admin for the APIs, service for token validation.
        ensure_grant(conn, service_project, user, admin_role)
        ensure_grant(conn, service_project, user, service_role)

    for service_type, (name, url) in catalog.items():
        url = _moved(url)
        service = next(iter(conn.identity.services(type=service_type)), None)
        if service is None:
            log(f"catalog entry {service_type}")
            service = conn.identity.create_service(name=name, type=service_type, enabled=True)
        for interface in ("public", "internal"):
            endpoint = next(iter(conn.identity.endpoints(service_id=service.id, interface=interface)), None)
            if endpoint is None:
                conn.identity.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id=REGION
                )
            elif endpoint.url != url:
                conn.identity.update_endpoint(endpoint, url=url)

    for project_name, (user_name, _cidr) in DEMO_PROJECTS.items():
        project = ensure_project(conn, project_name, f"Demo team {project_name}")
        user = ensure_user(conn, user_name, secret[project_name], project)
        ensure_grant(conn, project, user, member_role)


# --------------------------------------------------------------------------- compute


def _parse_time(value: str) -> datetime.datetime:
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def wait_for_computes(conn, since: float, nova_manage: list[str], timeout: float = 150) -> None:
    """Wait until every compute heartbeats after ``since``, has a Placement inventory and is mapped.

    The scheduler maps new computes to cell1 on a periodic task that can take
    a minute on a fresh database, and until then Nova's hypervisor list leaves
    them out; so a compute that is up but unlisted is mapped here at once.
    """
    since_dt = datetime.datetime.fromtimestamp(since - 1, tz=datetime.UTC)
    deadline = time.monotonic() + timeout
    missing: list[str] = list(COMPUTE_HOSTS)
    while time.monotonic() < deadline:
        fresh = {
            s.host
            for s in conn.compute.services(binary="nova-compute")
            if s.state == "up"
            and s.status == "enabled"
            and s.updated_at
            and _parse_time(s.updated_at) >= since_dt
        }
        providers = {rp.name: rp for rp in conn.placement.resource_providers()}
        missing = []
        for host in COMPUTE_HOSTS:
            provider = providers.get(host)
            inventories = conn.placement.resource_provider_inventories(provider) if provider else []
            has_inventory = any(True for _ in inventories)
            if host not in fresh or not has_inventory:
                missing.append(host)
        if not missing:
            listed = {h.name for h in conn.compute.hypervisors()}
            if listed >= set(COMPUTE_HOSTS):
                return
            log(f"mapping computes to cell1: {', '.join(sorted(set(COMPUTE_HOSTS) - listed))}")
            subprocess.run([*nova_manage, "cell_v2", "discover_hosts"], check=True, capture_output=True)
            continue
        time.sleep(1)
    raise SystemExit(
        f"computes not ready after {timeout:.0f} s: {', '.join(missing)} (see var/devcloud/log/)"
    )


def ensure_aggregates(conn) -> None:
    for name, hosts in AGGREGATES.items():
        aggregate = next((a for a in conn.compute.aggregates() if a.name == name), None)
        if aggregate is None:
            log(f"aggregate {name} (availability zone {name})")
            aggregate = conn.compute.create_aggregate(name=name, availability_zone=name)
        if (aggregate.metadata or {}).get("datacenter") != name:
            conn.compute.set_aggregate_metadata(aggregate, {"datacenter": name})
        for host in hosts:
            if host in (aggregate.hosts or []):
                continue
            # The scheduler maps new computes to the cell every few seconds;
            # until then Nova answers 404 for the host.
            deadline = time.monotonic() + 60
            while True:
                try:
                    aggregate = conn.compute.add_host_to_aggregate(aggregate, host)
                    log(f"host {host} -> aggregate {name}")
                    break
                except exceptions.NotFoundException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)


def ensure_flavors(conn) -> None:
    existing = {f.name for f in conn.compute.flavors(is_public=None)}
    for name, (vcpus, ram, disk) in FLAVORS.items():
        if name not in existing:
            log(f"flavor {name}")
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)


def ensure_images(conn) -> None:
    existing = {i.name for i in conn.image.images()}
    for name, props in IMAGES.items():
        if name in existing:
            continue
        log(f"image {name}")
        props = dict(props)
        # The fake driver never reads the bits: a few KiB that differ per image.
        data = hashlib.sha256(name.encode()).digest() * 512
        image = conn.image.create_image(
            name=name,
            disk_format="raw",
            container_format="bare",
            visibility="public",
            min_disk=props.pop("min_disk"),
            min_ram=props.pop("min_ram"),
            data=data,
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            **props,
        )
        # create_image hands back the record from before the upload finished.
        conn.image.wait_for_status(image, "active", failures=["killed", "deleted"], wait=120)


# --------------------------------------------------------------------------- network


def ensure_public_network(conn, admin_project_id: str):
    net = conn.network.find_network(PUBLIC_NET)
    if net is None:
        log("external network public")
        net = conn.network.create_network(
            name=PUBLIC_NET,
            is_router_external=True,
            provider_network_type="flat",
            provider_physical_network="public",
            project_id=admin_project_id,
        )
    if not list(conn.network.subnets(network_id=net.id)):
        conn.network.create_subnet(
            name="public-subnet",
            network_id=net.id,
            ip_version=4,
            cidr=PUBLIC_CIDR,
            gateway_ip="203.0.113.1",
            allocation_pools=[PUBLIC_POOL],
            is_dhcp_enabled=False,
        )
    return net


def ensure_project_network(conn, project, cidr: str, public_net) -> None:
    name = project.name
    net = conn.network.find_network(f"{name}-net", project_id=project.id)
    if net is None:
        log(f"network {name}-net")
        net = conn.network.create_network(name=f"{name}-net", project_id=project.id)
    subnet = next(iter(conn.network.subnets(network_id=net.id)), None)
    if subnet is None:
        subnet = conn.network.create_subnet(
            name=f"{name}-subnet",
            network_id=net.id,
            project_id=project.id,
            ip_version=4,
            cidr=cidr,
            dns_nameservers=["192.0.2.53"],
        )
    router = conn.network.find_router(f"{name}-router", project_id=project.id)
    if router is None:
        log(f"router {name}-router")
        router = conn.network.create_router(
            name=f"{name}-router",
            project_id=project.id,
            external_gateway_info={"network_id": public_net.id},
        )
    ports = conn.network.ports(device_id=router.id, network_id=net.id)
    if not any(p for p in ports):
        conn.network.add_interface_to_router(router, subnet_id=subnet.id)


def ensure_quotas(conn, project) -> None:
    current = conn.compute.get_quota_set(project)
    if any(getattr(current, k) != v for k, v in COMPUTE_QUOTAS.items()):
        conn.compute.update_quota_set(project, **COMPUTE_QUOTAS)
    quota = conn.network.get_quota(project.id)
    if any(
        getattr(
            quota,
            {
                "floatingip": "floating_ips",
                "network": "networks",
                "subnet": "subnets",
                "port": "ports",
                "router": "routers",
                "security_group": "security_groups",
                "security_group_rule": "security_group_rules",
            }[k],
        )
        != v
        for k, v in NETWORK_QUOTAS.items()
    ):
        conn.network.update_quota(
            project.id,
            **{
                "floating_ips": NETWORK_QUOTAS["floatingip"],
                "networks": NETWORK_QUOTAS["network"],
                "subnets": NETWORK_QUOTAS["subnet"],
                "ports": NETWORK_QUOTAS["port"],
                "routers": NETWORK_QUOTAS["router"],
                "security_groups": NETWORK_QUOTAS["security_group"],
                "security_group_rules": NETWORK_QUOTAS["security_group_rule"],
            },
        )


def ensure_block_storage(conn, projects) -> None:
    """The one volume type, on Cinder's fake backend, and the demo projects' volume quotas."""
    deadline = time.monotonic() + 60
    while not any(s.state == "up" for s in conn.block_storage.services(binary="cinder-volume")):
        if time.monotonic() > deadline:
            raise SystemExit("cinder-volume is not up after 60 s (see var/devcloud/log/cinder-volume.log)")
        time.sleep(1)
    if conn.block_storage.find_type("fake") is None:
        log("volume type fake")
        conn.block_storage.create_type(name="fake", extra_specs={"volume_backend_name": "fake"})
    for project in projects:
        current = conn.block_storage.get_quota_set(project)
        if any(getattr(current, k) != v for k, v in VOLUME_QUOTAS.items()):
            conn.block_storage.update_quota_set(project, **VOLUME_QUOTAS)


def seed_estate(conn, since: float, *, nova_manage: list[str], cinder: bool, wait_only: bool) -> None:
    wait_for_computes(conn, since, nova_manage)
    if wait_only:
        return
    ensure_aggregates(conn)
    ensure_flavors(conn)
    ensure_images(conn)
    admin_project = conn.identity.find_project("admin", domain_id="default")
    public_net = ensure_public_network(conn, admin_project.id)
    projects = []
    for project_name, (_user, cidr) in DEMO_PROJECTS.items():
        project = conn.identity.find_project(project_name, domain_id="default")
        ensure_project_network(conn, project, cidr, public_net)
        ensure_quotas(conn, project)
        projects.append(project)
    if cinder:
        ensure_block_storage(conn, projects)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("identity", "estate"))
    parser.add_argument("--secrets", required=True, help="var/devcloud/secrets.json")
    parser.add_argument(
        "--computes-since",
        type=float,
        default=0.0,
        help="epoch seconds: computes must have reported after this",
    )
    parser.add_argument("--nova-conf", help="nova.conf for nova-manage (estate phase)")
    parser.add_argument(
        "--wait-only", action="store_true", help="only wait for the computes: the estate is seeded already"
    )
    parser.add_argument("--cinder", action="store_true", help="Cinder runs too (DEVCLOUD_CINDER=1)")
    args = parser.parse_args(argv)
    with open(args.secrets) as f:
        secret = json.load(f)
    started = time.monotonic()
    conn = openstack.connect(cloud="kennel-admin")
    if args.phase == "identity":
        seed_identity(conn, secret, cinder=args.cinder)
    else:
        nova_manage = [str(Path(sys.executable).parent / "nova-manage"), "--config-file", args.nova_conf]
        seed_estate(
            conn, args.computes_since, nova_manage=nova_manage, cinder=args.cinder, wait_only=args.wait_only
        )
    log(f"{args.phase} done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
