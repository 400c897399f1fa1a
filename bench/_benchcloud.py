"""The benchmarks' own cloud: a second devcloud under ``var/benchcloud`` with its ports moved by
``PORT_OFFSET``, seeded with a ``bench`` project of 1,000 servers (not a benchmark itself: no ``main``
that ``make bench`` would pick up; ``bench/run.py`` drives it).

The shared devcloud (``var/devcloud``) belongs to the test suite: 1,000 servers there would break it.
This one is started by ``make bench``, keeps its servers between runs (creating 1,000 takes ~15 min
here; deleting them ~12 min) and creates only the ones missing.

    .venv/bin/python -m bench._benchcloud start     # start the cloud (installs on first use)
    .venv/bin/python -m bench._benchcloud seed      # the bench project and its servers (idempotent)
    .venv/bin/python -m bench._benchcloud stop
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOUD_ROOT = Path(os.environ.get("BENCH_CLOUD_ROOT", ROOT / "var" / "benchcloud"))
PORT_OFFSET = int(os.environ.get("BENCH_CLOUD_PORT_OFFSET", "100"))
KEYSTONE_URL = f"http://127.0.0.1:{5000 + PORT_OFFSET}/v3"
CLOUDS_YAML = CLOUD_ROOT / "clouds.yaml"
SERVERS = int(os.environ.get("BENCH_SERVERS", "1000"))
PROJECT = "bench"
USER = "bench-admin"  # admin role in the bench project: Horizon's project and admin pages both see all
NETWORK, CIDR = "bench-net", "10.99.0.0/21"
FLAVOR = "m1.tiny"
IMAGES = ("cirros-0.6-x86_64", "cirros-0.6-x86_64", "cirros-0.6-x86_64", "cirros-0.6-ppc64le")
BATCH = 20  # servers per create call
# Each server gets a port on bench-net; BENCH_SERVER_PORTS=0 makes them without (about twice as fast to
# create on a busy machine: Neutron is the cloud's busiest service while servers are made).
WITH_PORTS = os.environ.get("BENCH_SERVER_PORTS", "1") != "0"
IN_FLIGHT = 40  # servers building at once at most (Nova's conductor and computes are single processes)


def cloud_env() -> dict[str, str]:
    """The environment ``devcloud/run`` needs for this cloud (it borrows the shared cloud's venv when
    there is one, saving a 450 MB install)."""
    env = {
        **os.environ,
        "DEVCLOUD_ROOT": str(CLOUD_ROOT),
        "DEVCLOUD_PORT_OFFSET": str(PORT_OFFSET),
    }
    env.pop("DEVCLOUD_CINDER", None)
    lent = Path(os.environ.get("BENCH_CLOUD_VENV", ROOT / "var" / "devcloud" / "venv"))
    if (lent / "bin" / "kennel-devcloud-nova-control").exists():
        env["DEVCLOUD_VENV"] = str(lent)
    return env


def devcloud(command: str) -> int:
    return subprocess.call([str(ROOT / "devcloud" / "run"), command], env=cloud_env())


def credentials() -> dict[str, str]:
    """The bench user's password, made once per cloud folder."""
    path = CLOUD_ROOT / "bench-user.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {"username": USER, "password": secrets.token_hex(12), "project": PROJECT}
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def connect(*, as_bench: bool = False):  # -> openstack.connection.Connection
    import openstack
    import openstack.config

    if not as_bench:
        config = openstack.config.OpenStackConfig(config_files=[str(CLOUDS_YAML)])
        region = config.get_one(cloud="kennel-admin")
        return openstack.connection.Connection(config=region)
    user = credentials()
    # Only these arguments: with OS_CLOUD / OS_CLIENT_CONFIG_FILE in the environment (bench/run.py sets
    # them for Kennel) the SDK would mix the admin cloud's settings in, and Keystone answers 401.
    return openstack.connect(
        load_yaml_config=False,
        load_envvars=False,
        auth_url=KEYSTONE_URL,
        username=user["username"],
        password=user["password"],
        project_name=user["project"],
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
        identity_api_version="3",
    )


def ensure_project() -> None:
    """The bench project, its admin user, unlimited quotas and one network big enough for 1,000 ports."""
    conn = connect()
    user = credentials()
    project = conn.identity.find_project(PROJECT, domain_id="default") or conn.identity.create_project(
        name=PROJECT, domain_id="default", description="make bench: 1,000 servers"
    )
    found = conn.identity.find_user(USER, domain_id="default")
    if found is None:
        found = conn.identity.create_user(
            name=USER, password=user["password"], domain_id="default", default_project_id=project.id
        )
    for role_name in ("admin", "member"):
        role = conn.identity.find_role(role_name)
        if not conn.identity.validate_user_has_project_role(project, found, role):
            conn.identity.assign_project_role_to_user(project, found, role)
    conn.compute.update_quota_set(project, instances=-1, cores=-1, ram=-1)
    quota = conn.network.get_quota(project.id)
    conn.network.update_quota(quota, ports=-1, networks=-1, subnets=-1)
    if conn.network.find_network(NETWORK, project_id=project.id) is None:
        net = conn.network.create_network(name=NETWORK, project_id=project.id)
        conn.network.create_subnet(
            network_id=net.id, project_id=project.id, ip_version=4, cidr=CIDR, name=f"{NETWORK}-v4"
        )


def seed_servers(total: int = SERVERS) -> None:
    """Create the bench project's missing servers through Nova's API, on one connection (one token), in
    batches of BATCH servers per create call (Nova's multiple create: ``bench-bNNNN-1`` … ``-BATCH``),
    with at most IN_FLIGHT building at once; then wait until none is building. Servers in ERROR are
    deleted and made again. One seeder at a time (a lock file): a second one waits, then counts again."""
    CLOUD_ROOT.mkdir(parents=True, exist_ok=True)
    with (CLOUD_ROOT / "seed.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for attempt in range(5):  # a cloud this busy drops a connection now and then: count again
            try:
                _seed_servers(total)
                return
            except openstack_errors() as error:
                print(f"benchcloud: {error}; trying again ({attempt + 1})", flush=True)
                time.sleep(10)
        _seed_servers(total)


def openstack_errors() -> tuple[type[Exception], ...]:
    from keystoneauth1.exceptions import ClientException
    from openstack.exceptions import SDKException

    return (ClientException, SDKException)


def _seed_servers(total: int) -> None:
    ensure_project()
    conn = connect(as_bench=True)
    # Light listings (ids and names; the ERROR ones apart): a detailed one of 1,000 servers is slow.
    servers = list(conn.compute.servers(details=False))
    broken = list(conn.compute.servers(details=False, status="ERROR"))
    for server in broken:
        conn.compute.delete_server(server)
    have = len(servers) - len(broken)
    print(
        f"benchcloud: {have} servers exist, {max(0, total - have)} to create ({len(broken)} in ERROR deleted)"
    )
    if have >= total:
        return
    flavor = conn.compute.find_flavor(FLAVOR)
    images = [conn.image.find_image(name) for name in IMAGES]
    net = conn.network.find_network(NETWORK)
    began, made, batch = time.monotonic(), 0, int(time.time()) % 100_000
    while have + made < total:
        while sum(1 for _ in conn.compute.servers(status="BUILD")) >= IN_FLIGHT:
            time.sleep(2)
        count = min(BATCH, total - have - made)
        conn.compute.create_server(
            name=f"bench-b{batch:05d}",
            flavor_id=flavor.id,
            image_id=images[batch % len(images)].id,
            networks=[{"uuid": net.id}] if WITH_PORTS else "none",
            min_count=count,
            max_count=count,
        )
        made += count
        batch += 1
        rate = made / (time.monotonic() - began)
        print(f"benchcloud: asked for {made}/{total - have} ({rate:.2f}/s)", flush=True)
    while any(True for _ in conn.compute.servers(status="BUILD")):
        time.sleep(3)
    took = time.monotonic() - began
    states = Counter(s.status for s in conn.compute.servers())
    print(
        f"benchcloud: {made} servers made in {took:.0f} s ({made / took:.2f}/s); now {dict(states)}",
        flush=True,
    )


def server_count() -> tuple[int, int]:
    """(active, total) servers of the bench project."""
    conn = connect(as_bench=True)
    servers = list(conn.compute.servers(details=False, all_projects=False))
    active = sum(1 for _ in conn.compute.servers(status="ACTIVE"))
    return active, len(servers)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "seed"
    if command in ("start", "stop", "status"):
        sys.exit(devcloud(command))
    if command == "seed":
        seed_servers(int(sys.argv[2]) if len(sys.argv) > 2 else SERVERS)
    else:
        sys.exit(f"usage: {sys.argv[0]} start|stop|status|seed [N]")
