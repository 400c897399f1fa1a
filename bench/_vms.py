"""Building VMs on the benchmark cloud both ways, bare openstacksdk and through Kennel (a helper, not a
benchmark: no ``main``). ``bench/vm_overhead.py`` (one at a time) and ``bench/provision_load.py`` (50 at
once) share the set-up, the bare create and the reading of a request's history here.

Import it after ``django.setup()``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openstack
import openstack.config
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from kennel.demo import demo_cloud_link, demo_load
from portal.models import Team, User
from provisioning.models import CloudFlavor, CloudImage, VmRequest


@dataclass
class Bench:
    """What both ways build with: team alpha's x86_64 cirros on m1.tiny, on alpha-net."""

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


def bench_setup() -> Bench:
    """Migrate, load the demo, link it to the cloud (``OS_CLIENT_CONFIG_FILE``: the benchmark cloud
    under ``make bench``) and open the bare connections. Exits when the cloud is not reachable."""
    if connection.vendor != "postgresql":
        sys.exit("run it on PostgreSQL (see the docstring)")
    call_command("migrate", verbosity=0)
    demo_load()
    problem = demo_cloud_link()
    if problem:
        sys.exit(f"the local cloud is not reachable: {problem}")
    team = Team.objects.get(slug="alpha")
    region = openstack.config.OpenStackConfig(config_files=[settings.OPENSTACK_CONFIG_FILE]).get_one(
        cloud=settings.OPENSTACK_CLOUD
    )
    conn = openstack.connection.Connection(config=region)
    # The same network Kennel puts the team's VMs on, so both ways create a port.
    network = conn.network.find_network("alpha-net", project_id=team.openstack_project_id)
    return Bench(
        team=team,
        user=User.objects.get(username="dev1"),
        image=CloudImage.objects.get(name="cirros-0.6-x86_64"),
        flavor=CloudFlavor.objects.get(name="m1.tiny"),
        conn=conn,
        project=conn.connect_as(project_id=team.openstack_project_id, project_name=None),
        network_id=network.id,
    )


def wait(probe: Callable[[], bool], what: str, *, timeout: float, period: float) -> None:
    """Call ``probe`` every ``period`` seconds until it is true; exit after ``timeout``. A connection
    the loaded cloud drops now and then is retried, not fatal."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if probe():
                return
        except openstack.exceptions.SDKException as error:
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
