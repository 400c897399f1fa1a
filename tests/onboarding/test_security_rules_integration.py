"""Security group rules against the real local Neutron, with a real Celery worker: a lead's rule is made
in the alpha project's default group and removed again, each followed to the end; a rule made behind
Kennel's back is mirrored in plain words and forgotten once removed."""

from __future__ import annotations

import random
import time

import pytest

from onboarding import security_rules as sr
from onboarding.models import SecurityRule
from tests.fixtures.local_cloud import admin_connection
from tests.live import celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def neutron_ingress(conn, project_id: str) -> dict[tuple, str]:
    (default,) = list(conn.network.security_groups(project_id=project_id, name="default"))
    return {
        (r["protocol"], r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"]): r["id"]
        for r in default.security_group_rules
        if r["direction"] == "ingress"
    }


def test_a_leads_rule_is_made_in_neutron_and_removed_again(lead, linked_team):
    conn = admin_connection()
    project = linked_team.openstack_project_id
    port = random.randint(40000, 49999)  # the alpha project is shared with other tests
    wanted = ("tcp", port, port + 9, "198.51.100.0/24")
    with celery_worker():
        started = time.monotonic()
        rule = sr.security_rule_add(
            actor=lead,
            team=linked_team,
            protocol="tcp",
            port_min=port,
            port_max=port + 9,
            remote_cidr="198.51.100.0/24",
            source="test",
        )

        def state():
            return SecurityRule.objects.filter(pk=rule.pk).values_list("state", "error").first()

        try:
            done = eventually(
                state, lambda s: s[0] != "adding", timeout=60, what="the worker adding the rule"
            )
            added = time.monotonic() - started
            assert done == ("active", ""), done
            rule.refresh_from_db()
            assert neutron_ingress(conn, project)[wanted] == rule.cloud_id
            assert rule.describe() == f"TCP port {port}-{port + 9} from 198.51.100.0/24"

            # The worker is warm now: a second rule, ICMP from the same network, timed alone.
            started = time.monotonic()
            ping = sr.security_rule_add(
                actor=lead, team=linked_team, protocol="icmp", remote_cidr="198.51.100.0/24", source="test"
            )
            eventually(
                lambda: SecurityRule.objects.get(pk=ping.pk).state,
                lambda s: s == "active",
                timeout=60,
                what="the worker adding the ICMP rule",
            )
            warm = time.monotonic() - started
            assert ("icmp", None, None, "198.51.100.0/24") in neutron_ingress(conn, project)

            started = time.monotonic()
            sr.security_rule_remove(actor=lead, rule=rule, source="test")
            eventually(state, lambda s: s is None, timeout=60, what="the worker removing the rule")
            removed = time.monotonic() - started
            sr.security_rule_remove(actor=lead, rule=ping, source="test")
            eventually(
                lambda: SecurityRule.objects.filter(pk=ping.pk).exists(),
                lambda s: not s,
                timeout=60,
                what="the worker removing the ICMP rule",
            )
        finally:
            for key in (wanted, ("icmp", None, None, "198.51.100.0/24")):
                leftover = neutron_ingress(conn, project).get(key)
                if leftover:
                    conn.network.delete_security_group_rule(leftover)
        print(
            f"\nsecurity group rule (real Neutron, real worker): first add {added:.1f} s (worker starting), "
            f"add {warm:.1f} s, remove {removed:.1f} s"
        )
    assert wanted not in neutron_ingress(conn, project)
    assert ("icmp", None, None, "198.51.100.0/24") not in neutron_ingress(conn, project)


def test_a_rule_made_behind_kennels_back_is_mirrored_and_forgotten(linked_team):
    conn = admin_connection()
    project = linked_team.openstack_project_id
    (default,) = list(conn.network.security_groups(project_id=project, name="default"))
    port = random.randint(50000, 59999)
    made = conn.network.create_security_group_rule(
        security_group_id=default.id,
        project_id=project,
        direction="ingress",
        protocol="udp",
        port_range_min=port,
        port_range_max=port,
        remote_ip_prefix="203.0.113.0/24",
        ether_type="IPv4",
    )
    try:
        started = time.monotonic()
        sr.security_rules_refresh()
        print(f"\nmirror of every project's security groups: {time.monotonic() - started:.2f} s")
        row = SecurityRule.objects.get(cloud_id=made.id)
        assert (row.team, row.describe(), row.state) == (
            linked_team,
            f"UDP port {port} from 203.0.113.0/24",
            "active",
        )
        # Neutron's own rules of the default group: the team's VMs reach each other.
        assert SecurityRule.objects.filter(team=linked_team, remote_group=True).exists()
    finally:
        conn.network.delete_security_group_rule(made.id, ignore_missing=True)
    sr.security_rules_refresh()
    assert not SecurityRule.objects.filter(cloud_id=made.id).exists()
