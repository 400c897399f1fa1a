"""Building VMs on the benchmark cloud both ways, bare openstacksdk and through Kennel (a helper, not a
benchmark: no ``main``). ``bench/vm_overhead.py`` (one at a time) and ``bench/provision_load.py`` (50 at
once) share the set-up, the bare create and the reading of a request's history here.

Both build in a project of their own, ``bench-vms`` (Kennel's Team Bench VMs), with no instance, core,
RAM or port limit, made here on first use. Not in team alpha's project: the local cloud's seed owns
alpha's quota (20 instances) and sets it back whenever the cloud is seeded again, and the test suite
changes it on the shared cloud, so a run that lifted alpha's quota for itself could lose the lift
mid-run (it did: 20 of 50 became active). One run at a time holds ``var/benchcloud/vms.lock``.

Import it after ``django.setup()``.
"""

from __future__ import annotations

import fcntl
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import keystoneauth1.exceptions
import openstack
import openstack.config
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from bench import _benchcloud
from kennel.demo import demo_cloud_link, demo_load
from portal.models import Membership, Team, User
from portal.services import team_link_project
from provisioning.models import CloudFlavor, CloudImage, VmRequest
from quotas.services import quota_sync

# What a loaded cloud throws now and then (a reset connection to Nova's API): retried, not fatal.
CLOUD_HICCUPS = (openstack.exceptions.SDKException, keystoneauth1.exceptions.ClientException)
PROJECT = "bench-vms"  # Kennel's team has the same slug: its VMs go on the network <slug>-net
CIDR = "10.98.0.0/24"


@dataclass
class Bench:
    """What both ways build with: x86_64 cirros on m1.tiny, on bench-vms-net, in the bench-vms project."""

    team: Team
    user: User
    image: CloudImage
    flavor: CloudFlavor
    conn: Any  # openstack.connection.Connection, as the cloud admin
    project: Any  # the same, scoped to the team's project (a bare create lands where Kennel's does)
    network_id: str

    def bare_create(self, name: str) -> Any:
        """One ``create_server`` as a bare openstacksdk user would call it (returns the server)."""
        return self.project.compute.create_server(
            name=name,
            image_id=self.image.cloud_id,
            flavor_id=self.flavor.cloud_id,
            networks=[{"uuid": self.network_id}],
        )


@contextmanager
def bench_cloud_vms() -> Iterator[Bench]:
    """Migrate, load the demo (its people and catalog), link it to the cloud (``OS_CLIENT_CONFIG_FILE``:
    the benchmark cloud under ``make bench``), make the bench-vms project and team when missing, and
    open the bare connections; held by one run at a time. Exits when the cloud is not reachable."""
    if connection.vendor != "postgresql":
        sys.exit("run it on PostgreSQL (see the docstring)")
    call_command("migrate", verbosity=0)
    demo_load()
    problem = demo_cloud_link()
    if problem:
        sys.exit(f"the local cloud is not reachable: {problem}")
    region = openstack.config.OpenStackConfig(config_files=[settings.OPENSTACK_CONFIG_FILE]).get_one(
        cloud=settings.OPENSTACK_CLOUD
    )
    conn = openstack.connection.Connection(config=region)
    _benchcloud.CLOUD_ROOT.mkdir(parents=True, exist_ok=True)
    with (_benchcloud.CLOUD_ROOT / "vms.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        project_id, network_id = _ensure_project(conn)
        team, _ = Team.objects.get_or_create(slug=PROJECT, defaults={"name": "Team Bench VMs"})
        team_link_project(actor=None, team=team, project=PROJECT)
        user = User.objects.get(username="dev1")
        Membership.objects.get_or_create(user=user, team=team, defaults={"level": Membership.Level.LEAD})
        quota_sync(team_ids=[team.pk])  # no limits: Kennel's mirror says so before the first request
        yield Bench(
            team=team,
            user=user,
            image=CloudImage.objects.get(name="cirros-0.6-x86_64"),
            flavor=CloudFlavor.objects.get(name="m1.tiny"),
            conn=conn,
            project=conn.connect_as(project_id=project_id, project_name=None),
            network_id=network_id,
        )


def _ensure_project(conn: Any) -> tuple[str, str]:
    """The bench-vms project (no instance, core, RAM or port limit, no server left from an earlier
    run) and its network: (ids)."""
    project = conn.identity.find_project(PROJECT, domain_id="default") or conn.identity.create_project(
        name=PROJECT, domain_id="default", description="make bench: VMs built by vm_overhead, provision_load"
    )
    conn.compute.update_quota_set(project, instances=-1, cores=-1, ram=-1)
    conn.network.update_quota(conn.network.get_quota(project.id), ports=-1)
    # A run that was stopped may have left servers: the project is the benchmark's, so they go.
    leftovers = [server.id for server in conn.compute.servers(all_projects=True, project_id=project.id)]
    for server_id in leftovers:
        conn.compute.delete_server(server_id, ignore_missing=True)
    if leftovers:
        print(f"  deleting {len(leftovers)} servers an earlier run left in {PROJECT}")
        wait(
            lambda: not list(conn.compute.servers(all_projects=True, project_id=project.id)),
            "the leftovers' deletion",
            timeout=900,
            period=2,
        )
    network = conn.network.find_network(f"{PROJECT}-net", project_id=project.id)
    if network is None:
        network = conn.network.create_network(name=f"{PROJECT}-net", project_id=project.id)
    if next(iter(conn.network.subnets(network_id=network.id)), None) is None:
        conn.network.create_subnet(
            name=f"{PROJECT}-subnet", network_id=network.id, project_id=project.id, ip_version=4, cidr=CIDR
        )
    return project.id, network.id


def wait(probe: Callable[[], bool], what: str, *, timeout: float, period: float) -> None:
    """Call ``probe`` every ``period`` seconds until it is true; exit after ``timeout``. A connection
    the loaded cloud drops now and then is retried, not fatal."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except CLOUD_HICCUPS as error:
            print(f"  (retrying after: {error})")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(period)


def kennel_timings(vm: VmRequest) -> tuple[float, float | None] | None:
    """(seconds from the request's creation until its history says active, until the cloud accepted
    the create, when the history has that step), or None when it is not active. Timed by the request's
    own history (the clock the worker writes), not by a benchmark's polling of the row: its poll
    period is not the portal's latency."""
    active = vm.events.filter(status=VmRequest.Status.ACTIVE).order_by("at").first()
    if vm.status != VmRequest.Status.ACTIVE or active is None:
        return None
    accepted = vm.events.filter(status=VmRequest.Status.BUILDING).order_by("at").first()
    return (
        (active.at - vm.created_at).total_seconds(),
        None if accepted is None else (accepted.at - vm.created_at).total_seconds(),
    )
