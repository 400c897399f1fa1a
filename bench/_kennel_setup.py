"""Prepare Kennel's database for the HTTP benchmarks against the benchmark cloud (not a benchmark).

Run by ``bench/run.py`` (through ``bench/_stack.py``) with the bench's DATABASE_URL, REDIS_URL and the
benchmark cloud's clouds.yaml in the environment. Idempotent: migrates; makes the bench's people (an
admin, a manager, developers in Team Bench, whose lead is ``bench-dev-00``); links Team Bench to the
cloud's ``bench`` project; mirrors the catalog, hosts and quotas; and records the bench project's
servers as Kennel's VMs (as if Kennel had built them: rows with their server ids, owned by the
developers in turn) so the VM pages list all 1,000, then one complete reconcile mirrors their state.

    .venv/bin/python -m bench._kennel_setup PASSWORD
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kennel.settings")

DEVELOPERS = 20
ADMIN, MANAGER = "bench-admin", "bench-manager"


def developer(i: int) -> str:
    return f"bench-dev-{i:02d}"


def main(password: str) -> None:
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.utils import timezone

    from catalog.services import image_offer_set
    from portal.cloud.gateway import CloudError
    from portal.models import Membership, Role, Team, User
    from portal.services import team_link_project
    from provisioning.models import CloudFlavor, CloudImage, VmRequest
    from provisioning.services import catalog_refresh, hosts_mirror_refresh, vm_reconcile
    from quotas.services import quota_sync

    began = time.monotonic()
    call_command("migrate", verbosity=0)
    hashed = make_password(password)
    people = [(ADMIN, Role.ADMIN), (MANAGER, Role.MANAGER)] + [
        (developer(i), Role.DEVELOPER) for i in range(DEVELOPERS)
    ]
    for username, role in people:
        User.objects.update_or_create(username=username, defaults={"role": role, "password": hashed})
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Team Bench"})
    for i in range(DEVELOPERS):
        Membership.objects.get_or_create(
            user=User.objects.get(username=developer(i)),
            team=team,
            defaults={"level": Membership.Level.LEAD if i == 0 else Membership.Level.MEMBER},
        )
    if not team.openstack_project_id:
        team_link_project(actor=None, team=team, project="bench")
        team.refresh_from_db()
    catalog_refresh()
    hosts_mirror_refresh()
    quota_sync()
    for image in CloudImage.objects.filter(display_name=""):
        image_offer_set(actor=None, image=image, offered=True, display_name=image.name)

    # The bench project's servers as Kennel's VMs (their state, host and addresses come from the reconcile).
    import openstack

    conn = openstack.connect(cloud=os.environ.get("OS_CLOUD", "kennel-admin"))
    servers = list(
        conn.compute.servers(details=True, all_projects=True, project_id=team.openstack_project_id)
    )
    known = set(VmRequest.objects.exclude(server_id="").values_list("server_id", flat=True))
    owners = list(User.objects.filter(username__startswith="bench-dev-").order_by("username"))
    flavors = {f.name: f for f in CloudFlavor.objects.all()}  # Nova shows a server's flavor by name
    images = {i.cloud_id: i for i in CloudImage.objects.all()}
    now = timezone.now()
    rows = []
    for n, server in enumerate(s for s in servers if s.id not in known):
        flavor = flavors.get(server.flavor.name)
        image = images.get(server.image.id)
        rows.append(
            VmRequest(
                team=team,
                owner=owners[n % len(owners)],
                name=server.name,
                architecture=image.architecture if image else "x86_64",
                image=image,
                image_name=image.name if image else "",
                flavor=flavor,
                flavor_name=flavor.name if flavor else server.flavor.name,
                vcpus=flavor.vcpus if flavor else 1,
                ram_mb=flavor.ram_mb if flavor else 512,
                disk_gb=flavor.disk_gb if flavor else 1,
                status=VmRequest.Status.ACTIVE,
                server_id=server.id,
                expires_at=now + timezone.timedelta(days=30),
            )
        )
    VmRequest.objects.bulk_create(rows, batch_size=500)
    counts = None
    for _attempt in range(3):  # a cloud busy making servers may let one listing time out
        try:
            counts = vm_reconcile(full=True)
            break
        except CloudError as error:
            print(f"kennel: reconcile failed ({error}); trying again", flush=True)
    print(
        f"kennel: {len(servers)} bench servers ({len(rows)} newly recorded as VMs), reconcile {counts}, "
        f"{VmRequest.objects.exclude(status=VmRequest.Status.DELETED).count()} VMs; "
        f"set up in {time.monotonic() - began:.1f} s",
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1])
