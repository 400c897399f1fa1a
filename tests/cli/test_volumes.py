"""``kennel volume ...`` against a live Kennel with the fake cloud with Cinder (tasks run eagerly)."""

from __future__ import annotations

import pytest

from provisioning.models import Volume
from tests.provisioning.test_services import build, submit

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_creates_attaches_detaches_and_deletes_a_volume(
    kennel, logged_in, member, outsider, team, fake_cloud_with_volumes, eager_tasks
):
    vm = build(submit(member, team, name="web1"))
    logged_in(member)
    made = kennel("volume", "create", "data", "--team", team.slug, "--size", "5", "--wait")
    assert made.code == 0, made.err
    assert made.out.strip() == "data is available."
    listed = kennel("volume", "list")
    assert listed.code == 0 and "data" in listed.out and "5 GB" in listed.out and "available" in listed.out
    attached = kennel("volume", "attach", "data", "web1", "--wait")
    assert attached.code == 0, attached.err
    assert attached.out.strip() == "data is attached (web1 /dev/sdb)."
    assert Volume.objects.get(name="data").vm_id == vm.pk
    refused = kennel("volume", "delete", "data", "--yes")
    assert refused.code != 0 and "detach it first" in refused.err
    assert kennel("volume", "delete", "data").code == 2  # no terminal, no --yes
    assert kennel("volume", "detach", "data", "--wait", "--json").json()["status"] == "available"
    gone = kennel("volume", "delete", "data", "--yes", "--wait")
    assert gone.code == 0 and gone.out.strip() == "data is deleted.", gone.err
    assert fake_cloud_with_volumes.list_volumes(project_id=team.openstack_project_id) == []
    too_big = kennel("volume", "create", "big", "--team", team.slug, "--size", "100000")
    assert too_big.code != 0 and "size_gb" in too_big.err
    logged_in(outsider)
    assert kennel("volume", "list").out.strip() == "No volumes."
    assert kennel("volume", "detach", "data").code == 4
