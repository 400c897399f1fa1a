"""``kennel fip list|release`` against a live Kennel with the fake cloud (tasks run eagerly)."""

from __future__ import annotations

import pytest

from provisioning import floating_ips

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_lead_lists_the_teams_floating_ips_and_releases_an_unused_one(
    kennel, logged_in, member, lead, team, fake_cloud, eager_tasks
):
    public = fake_cloud.list_networks(external=True)[0]
    spare = fake_cloud.create_floating_ip(project_id=team.openstack_project_id, external_network_id=public.id)
    floating_ips.floating_ips_refresh()
    logged_in(member)
    listed = kennel("fip", "list", "--team", team.slug)
    assert listed.code == 0 and spare.address in listed.out and "unused" in listed.out
    assert [f["address"] for f in kennel("fip", "list", "--unused", "--json").json()] == [spare.address]
    refused = kennel("fip", "release", spare.address, "--yes")
    assert refused.code == 5, refused.err
    assert kennel("fip", "release", spare.address).code == 2  # no terminal, no --yes
    logged_in(lead)
    done = kennel("fip", "release", spare.address, "--yes", "--wait")
    assert done.code == 0, done.err
    assert f"{spare.address} is released." in done.out
    assert spare.id not in {f.id for f in fake_cloud.list_floating_ips()}
    assert kennel("fip", "release", spare.address, "--yes").code == 4
