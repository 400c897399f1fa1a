"""Who may reach a team's VMs (FakeCloud): the default security group's ingress rules mirrored in plain
words, the defaults onboarding sets, a lead's changes carried out by a worker and audited, what is
refused and why, outages waited out; the team page's section, the API and the permission matrix."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from onboarding import security_rules as sr
from onboarding.models import Onboarding, SecurityRule
from portal.cloud.gateway import CloudRequestError, CloudUnavailable
from portal.models import AuditEvent
from provisioning.models import CloudSync
from tests.matrix import check_matrix
from tests.onboarding.worker import run

pytestmark = pytest.mark.django_db


def ingress(fake, team) -> set[tuple]:
    (default,) = [
        g for g in fake.list_security_groups(project_id=team.openstack_project_id) if g.name == "default"
    ]
    return {
        (r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix)
        for r in default.rules
        if r.direction == "ingress" and r.remote_ip_prefix
    }


def add(actor, team, protocol="tcp", low=None, high=None, cidr="192.0.2.0/24", **kwargs) -> SecurityRule:
    return sr.security_rule_add(
        actor=actor, team=team, protocol=protocol, port_min=low, port_max=high, remote_cidr=cidr, **kwargs
    )


def test_onboarding_lets_ssh_and_ping_in_from_the_internal_networks_and_lists_them(fake, onboard):
    onboarding = run(onboard("gamma"))
    assert onboarding.state == Onboarding.State.DONE, onboarding.message
    team = onboarding.team
    wanted = {
        (proto, low, low, cidr)
        for cidr in settings.KENNEL_DEFAULT_INGRESS_FROM
        for proto, low in (("tcp", 22), ("icmp", None))
    }
    assert ingress(fake, team) == wanted
    rows = SecurityRule.objects.filter(team=team)
    assert {(r.protocol, r.port_min, r.port_max, r.remote_cidr) for r in rows} == wanted
    assert all(r.state == SecurityRule.State.ACTIVE and r.cloud_id for r in rows)
    assert "TCP port 22 from 10.0.0.0/8" in {r.describe() for r in rows}
    assert not any(r.world for r in rows)


def test_a_lead_adds_and_removes_a_rule_through_a_worker(
    fake_cloud, lead, member, team, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        rule = add(lead, team, "tcp", 8000, 8100, "10.1.2.0/24", source="test")
    assert len(queued) == 1
    assert (rule.state, rule.describe()) == (SecurityRule.State.ADDING, "TCP port 8000-8100 from 10.1.2.0/24")
    assert ("tcp", 8000, 8100, "10.1.2.0/24") not in ingress(fake_cloud, team), (
        "the web never calls the cloud"
    )
    done = sr.security_rule_apply(rule_pk=rule.pk)
    assert done is not None and done.state == SecurityRule.State.ACTIVE and done.cloud_id
    assert ("tcp", 8000, 8100, "10.1.2.0/24") in ingress(fake_cloud, team)
    assert sr.security_rule_apply(rule_pk=rule.pk).state == SecurityRule.State.ACTIVE  # a duplicate: nothing
    sr.security_rules_refresh()
    assert SecurityRule.objects.filter(cloud_id=done.cloud_id).count() == 1, "the mirror keeps one row"

    with pytest.raises(PermissionDenied):
        sr.security_rule_remove(actor=member, rule=done)  # a member, not a lead
    removing = sr.security_rule_remove(actor=lead, rule=done, source="test")
    assert removing is not None and removing.state == SecurityRule.State.REMOVING
    with pytest.raises(ValidationError, match="already being changed"):
        sr.security_rule_remove(actor=lead, rule=done)
    assert sr.security_rule_apply(rule_pk=rule.pk) is None
    assert ("tcp", 8000, 8100, "10.1.2.0/24") not in ingress(fake_cloud, team)
    assert not SecurityRule.objects.filter(pk=rule.pk).exists()
    actions = list(
        AuditEvent.objects.filter(team=team).order_by("pk").values_list("action", "actor__username")
    )
    assert actions == [
        ("security_rule.add", "lead"),
        ("security_rule.added", None),
        ("security_rule.remove", "lead"),
        ("security_rule.removed", None),
    ]
    assert AuditEvent.objects.get(action="security_rule.add").detail["rule"]["remote_cidr"] == "10.1.2.0/24"


@pytest.mark.parametrize(
    ("protocol", "low", "high", "cidr", "field", "says"),
    [
        ("gre", None, None, "10.0.0.0/8", "protocol", "TCP, UDP or ICMP"),
        ("icmp", 22, 22, "10.0.0.0/8", "port_min", "Only TCP and UDP"),
        ("tcp", 0, 0, "10.0.0.0/8", "port_min", "1 to 65535"),
        ("udp", 70000, None, "10.0.0.0/8", "port_min", "1 to 65535"),
        ("tcp", 9000, 8000, "10.0.0.0/8", "port_max", "not be below"),
        ("tcp", 22, 22, "10.0.0.0", "remote_cidr", None),  # a bare address is its own /32: accepted
        ("tcp", 22, 22, "10.0.0.0/33", "remote_cidr", "address/prefix"),
        ("tcp", 22, 22, "my office", "remote_cidr", "address/prefix"),
        ("tcp", 22, 22, "10.1.2.3/8", "remote_cidr", "did you mean 10.0.0.0/8"),
        ("tcp", 22, 22, "", "remote_cidr", "from which network"),
    ],
)
def test_it_refuses_what_neutron_would_refuse_or_misread_and_says_why(
    fake_cloud, lead, team, protocol, low, high, cidr, field, says
):
    if says is None:
        assert add(lead, team, protocol, low, high, cidr).remote_cidr == "10.0.0.0/32"
        return
    with pytest.raises(ValidationError) as refused:
        add(lead, team, protocol, low, high, cidr)
    assert says in " ".join(refused.value.message_dict[field])
    assert not SecurityRule.objects.filter(state=SecurityRule.State.ADDING).exists()


def test_who_may_change_the_rules_and_duplicates(fake_cloud, lead, member, outsider, manager, admin, team):
    for who in (member, outsider, manager):
        with pytest.raises(PermissionDenied):
            add(who, team)
    add(lead, team, "udp", 53, None, "10.0.0.0/8")
    with pytest.raises(ValidationError, match="already has this rule"):
        add(admin, team, "udp", 53, 53, "10.0.0.0/8")
    team.openstack_project_id = ""
    team.save()
    with pytest.raises(ValidationError, match="no cloud project"):
        add(lead, team, "tcp", 443, None, "10.0.0.0/8")


def test_ssh_open_to_every_address_needs_an_admin_who_confirms(fake_cloud, lead, admin, team):
    for cidr, low, high in (("0.0.0.0/0", 22, 22), ("::/0", 1, 1024), ("0.0.0.0/0", None, None)):
        with pytest.raises(ValidationError, match="only an admin may allow it"):
            add(lead, team, "tcp", low, high, cidr)
    with pytest.raises(ValidationError) as unconfirmed:
        add(admin, team, "tcp", 22, 22, "0.0.0.0/0")
    assert "confirm_open" in unconfirmed.value.message_dict
    web = add(lead, team, "tcp", 443, 443, "0.0.0.0/0")  # the web to everyone is a lead's call
    assert web.world and not web.covers_ssh
    opened = add(admin, team, "tcp", 22, 22, "0.0.0.0/0", confirm_open=True)
    assert opened.world and opened.covers_ssh and opened.describe() == "TCP port 22 from anywhere (0.0.0.0/0)"
    assert AuditEvent.objects.get(action="security_rule.add", target_id=str(opened.pk)).detail[
        "open_to_every_address"
    ]
    assert sr.security_rule_apply(rule_pk=opened.pk).state == SecurityRule.State.ACTIVE
    assert ("tcp", 22, 22, "0.0.0.0/0") in ingress(fake_cloud, team)
    v6 = add(lead, team, "tcp", 80, None, "2001:db8::/32")
    assert sr.security_rule_apply(rule_pk=v6.pk).ethertype == "IPv6"


def test_the_mirror_follows_rules_made_or_removed_outside_kennel(fake_cloud, team, other_team):
    (default,) = [g for g in fake_cloud.list_security_groups(project_id=team.openstack_project_id)]
    outside = fake_cloud.create_security_group_rule(
        security_group_id=default.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=5432,
        port_range_max=5432,
        remote_ip_prefix="10.9.0.0/16",
    )
    fake_cloud.create_security_group_rule(
        security_group_id=default.id, direction="egress", protocol="tcp", remote_ip_prefix="10.9.0.0/16"
    )
    assert sr.security_rules_refresh() >= 1
    row = SecurityRule.objects.get(cloud_id=outside.id)
    assert (row.team, row.describe(), row.requested_by) == (team, "TCP port 5432 from 10.9.0.0/16", None)
    assert not SecurityRule.objects.filter(remote_cidr="10.9.0.0/16", port_min=None).exists(), "no egress"
    assert CloudSync.objects.get(part="security_rules").succeeded_at is not None
    fake_cloud.delete_security_group_rule(outside.id)
    fake_cloud.available = False
    with pytest.raises(CloudUnavailable):
        sr.security_rules_refresh()
    assert SecurityRule.objects.filter(cloud_id=outside.id).exists(), "an outage keeps the last mirror"
    fake_cloud.available = True
    sr.security_rules_refresh()
    assert not SecurityRule.objects.filter(cloud_id=outside.id).exists()


def test_an_outage_is_waited_out_a_lost_answer_adds_once_and_a_refusal_lands_on_the_row(
    fake_cloud, lead, team
):
    rule = add(lead, team, "tcp", 2222, None, "10.0.0.0/8")
    fake_cloud.fail_next("create_security_group_rule")
    with pytest.raises(CloudUnavailable):
        sr.security_rule_apply(rule_pk=rule.pk)
    rule.refresh_from_db()
    assert rule.state == SecurityRule.State.ADDING and "Waiting for the cloud" in rule.error
    fake_cloud.fail_next("create_security_group_rule", after=True)  # Neutron made it; the answer was lost
    with pytest.raises(CloudUnavailable):
        sr.security_rule_apply(rule_pk=rule.pk)
    assert sr.security_rule_apply(rule_pk=rule.pk).state == SecurityRule.State.ACTIVE
    assert sum(1 for r in ingress(fake_cloud, team) if r[1] == 2222) == 1, "made once"

    refused = add(lead, team, "udp", 161, None, "10.0.0.0/8")
    fake_cloud.fail_next("create_security_group_rule", CloudRequestError("Quota exceeded for resources"))
    failed = sr.security_rule_apply(rule_pk=refused.pk)
    assert failed.state == SecurityRule.State.FAILED and "Quota exceeded" in failed.error
    audit = AuditEvent.objects.get(action="security_rule.added", outcome=AuditEvent.Outcome.FAILURE)
    assert "Quota exceeded" in audit.detail["error"]
    assert sr.security_rule_remove(actor=lead, rule=failed) is None, "a failed add is dropped at once"
    assert not SecurityRule.objects.filter(pk=refused.pk).exists()


def test_team_page_section_api_and_matrix(
    fake_cloud, people, lead, member, team, django_capture_on_commit_callbacks
):
    made = add(lead, team, "tcp", 22, None, "10.0.0.0/8")
    sr.security_rule_apply(rule_pk=made.pk)
    pending = add(lead, team, "tcp", 443, None, "192.0.2.0/24")
    client = Client()
    client.force_login(member)
    page = client.get(f"/teams/{team.slug}/").content.decode()
    assert "TCP port 22 from 10.0.0.0/8" in page and 'data-state="adding"' in page
    assert 'hx-trigger="every 2s"' in page, "a change on its way is followed live"
    assert "security-rule-form" not in page and f"remove-rule-{made.pk}" not in page, "members only read"
    client.force_login(lead)
    page = client.get(f"/teams/{team.slug}/").content.decode()
    assert "security-rule-form" in page and f"remove-rule-{made.pk}" in page
    assert f"remove-rule-{pending.pk}" not in page, "nothing to remove while it is being added"
    sr.security_rule_apply(rule_pk=pending.pk)
    fragment = client.get(f"/onboarding/teams/{team.slug}/security-rules/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode()
    assert 'hx-trigger="every 2s"' not in fragment.content.decode(), "polling stops once done"
    refused = client.post(
        f"/onboarding/teams/{team.slug}/security-rules/",
        {"protocol": "tcp", "ports": "22", "remote_cidr": "0.0.0.0/0"},
        HTTP_HX_REQUEST="true",
    )
    assert "only an admin may allow it" in refused.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        added = client.post(
            f"/onboarding/teams/{team.slug}/security-rules/",
            {"protocol": "udp", "ports": "5000-5010", "remote_cidr": "10.5.0.0/16"},
        )
    assert added.status_code == 302
    assert SecurityRule.objects.filter(team=team, port_min=5000, port_max=5010, state="adding").exists()

    listed = client.get(f"/api/v1/security-rules/?team={team.slug}").json()["results"]
    assert {(r["description"], r["state"]) for r in listed} >= {
        ("TCP port 22 from 10.0.0.0/8", "active"),
        ("UDP port 5000-5010 from 10.5.0.0/16", "adding"),
    }
    bad = client.post(
        "/api/v1/security-rules/",
        {"team": team.slug, "protocol": "tcp", "port_min": 9, "port_max": 1, "remote_cidr": "10.0.0.0/8"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "port_max" in bad.json()

    body = {"team": team.slug, "protocol": "tcp", "port_min": 8080, "remote_cidr": "10.8.0.0/16"}
    with django_capture_on_commit_callbacks(execute=False):
        check_matrix(
            people,
            "/api/v1/security-rules/",
            # The member of the matrix is no lead; the outsider names a team that is not theirs.
            {"anonymous": 401, "member": 403, "outsider": 400, "manager": 403, "admin": 202},
            method="post",
            data=body,
            api=True,
        )
    check_matrix(
        people,
        f"/api/v1/security-rules/{made.pk}/",
        {"anonymous": 401, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
    )
    check_matrix(
        people,
        f"/onboarding/teams/{team.slug}/security-rules/",
        {"anonymous": 302, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
    )
    with django_capture_on_commit_callbacks(execute=False):
        check_matrix(
            people,
            f"/api/v1/security-rules/{made.pk}/",
            {"anonymous": 401, "member": 403, "outsider": 404, "manager": 403, "admin": 202},
            method="delete",
            api=True,
        )
    SecurityRule.objects.filter(pk=made.pk).update(state=SecurityRule.State.ACTIVE)
    with django_capture_on_commit_callbacks(execute=False):
        check_matrix(
            people,
            f"/onboarding/security-rules/{made.pk}/remove/",
            {"anonymous": 302, "member": 403, "outsider": 404, "manager": 403, "admin": 302},
            method="post",
        )
