"""``kennel firewall list|allow|remove`` against a live Kennel with the fake cloud (tasks run eagerly)."""

from __future__ import annotations

import pytest

from onboarding.models import SecurityRule

pytestmark = pytest.mark.django_db(transaction=True)


def neutron_ingress(fake, team) -> set[tuple]:
    return {
        (r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix)
        for g in fake.list_security_groups(project_id=team.openstack_project_id)
        for r in g.rules
        if r.direction == "ingress" and r.remote_ip_prefix
    }


def test_a_lead_allows_a_port_range_lists_it_and_removes_it(
    kennel, logged_in, member, lead, team, fake_cloud, eager_tasks
):
    logged_in(member)
    assert kennel("firewall", "allow", "--team", team.slug, "tcp", "22", "--from", "10.0.0.0/8").code == 5
    logged_in(lead)
    refused = kennel("firewall", "allow", "--team", team.slug, "tcp", "22", "--from", "0.0.0.0/0")
    assert refused.code == 1 and "only an admin" in refused.err
    assert kennel("firewall", "allow", "--team", team.slug, "tcp", "80-x", "--from", "10.0.0.0/8").code == 2
    done = kennel(
        "firewall", "allow", "--team", team.slug, "tcp", "8000-8100", "--from", "192.0.2.0/24", "--wait"
    )
    assert done.code == 0, done.err
    assert "In force: TCP port 8000-8100 from 192.0.2.0/24" in done.out
    assert ("tcp", 8000, 8100, "192.0.2.0/24") in neutron_ingress(fake_cloud, team)
    listed = kennel("firewall", "list", "--team", team.slug)
    assert listed.code == 0 and "8000-8100" in listed.out and "192.0.2.0/24" in listed.out
    (rule,) = [r for r in kennel("firewall", "list", "--json").json() if r["port_min"] == 8000]
    assert rule["state"] == "active" and rule["team"] == team.slug
    assert kennel("firewall", "remove", str(rule["id"])).code == 2  # no terminal, no --yes
    gone = kennel("firewall", "remove", str(rule["id"]), "--yes", "--wait")
    assert gone.code == 0, gone.err
    assert ("tcp", 8000, 8100, "192.0.2.0/24") not in neutron_ingress(fake_cloud, team)
    assert not SecurityRule.objects.filter(pk=rule["id"]).exists()
    assert kennel("firewall", "remove", str(rule["id"]), "--yes").code == 4
