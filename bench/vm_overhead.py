"""Benchmark: Kennel's overhead per VM over a bare openstacksdk create+wait, on the local cloud.

    DATABASE_URL=postgres://kennel@127.0.0.1:15432/kennel_overhead REDIS_URL=redis://127.0.0.1:16379/9 \
        .venv/bin/python bench/vm_overhead.py [N]

Needs the local cloud (make devcloud) and PostgreSQL/Redis (scripts/services.sh start). Builds N VMs
(default 10) one after the other each way, in the same run: bare = openstacksdk create_server, then
get_server every 0.2 s until ACTIVE; Kennel = vm_request_submit (what the web does), then a real
Celery worker builds it, timed until the row says active. Prints per-VM seconds and the overhead.
Target (issue 4): overhead <= 5%.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

import openstack  # noqa: E402
import openstack.config  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from portal.demo import demo_cloud_link, demo_load  # noqa: E402
from portal.models import Team, User  # noqa: E402
from provisioning import services  # noqa: E402
from provisioning.models import CloudFlavor, CloudImage, VmRequest  # noqa: E402
from tests.live import celery_worker  # noqa: E402


def wait(probe, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.2)


def bare(conn, project_id: str, network_id: str, image_id: str, flavor_id: str, n: int) -> list[float]:
    project = conn.connect_as(project_id=project_id, project_name=None)
    times = []
    for i in range(n):
        began = time.monotonic()
        server = project.compute.create_server(
            name=f"bench-bare-{i}", image_id=image_id, flavor_id=flavor_id, networks=[{"uuid": network_id}]
        )
        wait(lambda s=server: conn.compute.get_server(s.id).status == "ACTIVE")
        times.append(time.monotonic() - began)
        conn.compute.delete_server(server.id)
    return times


def kennel(user: User, team: Team, image: CloudImage, flavor: CloudFlavor, n: int) -> list[float]:
    times = []
    for i in range(n):
        began = time.monotonic()
        vm = services.vm_request_submit(
            actor=user,
            team=team,
            name=f"bench-kennel-{int(began)}-{i}",
            image=image,
            flavor=flavor,
            source="bench",
        )
        wait(lambda vm=vm: VmRequest.objects.filter(pk=vm.pk, status=VmRequest.Status.ACTIVE).exists())
        times.append(time.monotonic() - began)
        services.vm_delete_request(actor=user, vm=VmRequest.objects.get(pk=vm.pk), source="bench")
    return times


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("run it on PostgreSQL (see the docstring)")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    call_command("migrate", verbosity=0)
    demo_load()
    problem = demo_cloud_link()
    if problem:
        sys.exit(f"the local cloud is not reachable: {problem}")
    team = Team.objects.get(slug="alpha")
    user = User.objects.get(username="dev1")
    image = CloudImage.objects.get(name="cirros-0.6-x86_64")
    flavor = CloudFlavor.objects.get(name="m1.tiny")
    region = openstack.config.OpenStackConfig(config_files=[settings.OPENSTACK_CONFIG_FILE]).get_one(
        cloud=settings.OPENSTACK_CLOUD
    )
    conn = openstack.connection.Connection(config=region)
    # The same network Kennel puts the team's VMs on, so both ways create a port.
    network = conn.network.find_network("alpha-net", project_id=team.openstack_project_id)
    bare_times = bare(conn, team.openstack_project_id, network.id, image.cloud_id, flavor.cloud_id, n)
    with celery_worker():
        time.sleep(3)  # the worker's start-up is not the portal's per-VM overhead
        kennel_times = kennel(user, team, image, flavor, n)
        time.sleep(10)  # let the worker delete what it built
    b, k = statistics.mean(bare_times), statistics.mean(kennel_times)
    print(f"{n} VMs each way (x86_64, m1.tiny), sequential, same run")
    print(f"  bare openstacksdk create+wait: mean {b:.2f} s  median {statistics.median(bare_times):.2f} s")
    print(f"  Kennel submit -> active:       mean {k:.2f} s  median {statistics.median(kennel_times):.2f} s")
    print(f"  overhead per VM: {k - b:+.2f} s ({(k - b) / b:+.1%})")


if __name__ == "__main__":
    main()
