"""``kennel quota`` and ``kennel request`` against the live quota API (fake cloud, eager tasks)."""

from __future__ import annotations

import pytest

from portal.models import Membership
from quotas import services
from quotas.models import QuotaRequest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_lead_sees_the_quota_and_asks_for_more(kennel, logged_in, lead_member, team, synced):
    logged_in(lead_member)
    shown = kennel("quota", "show")
    assert shown.code == 0, shown.err
    assert shown.out.startswith("team alpha\nKEY")
    limit = synced.get_quotas(team.openstack_project_id, "compute")["cores"]
    cores = next(
        d for d in kennel("quota", "show", "alpha", "--json").json()["dimensions"] if d["key"] == "cores"
    )
    assert (cores["quota"], cores["used"]) == (limit, 0)
    asked = kennel("quota", "request", "cores=80", "--reason", "CI runners")
    assert asked.code == 0, asked.err
    request = QuotaRequest.objects.get()
    assert asked.out.startswith(f"Quota request {request.pk} is pending.")
    assert (request.values, request.reason, request.requested_by) == (
        {"cores": 80},
        "CI runners",
        lead_member,
    )
    shown = kennel("request", "show", str(request.pk))
    assert shown.code == 0 and f"cores {limit} -> 80" in shown.out and "history:" in shown.out


def test_refusals_come_back_with_the_servers_reasons(kennel, logged_in, member, lead_member, synced):
    logged_in(lead_member)
    unknown = kennel("quota", "request", "gpus=1", "--reason", "x")
    assert unknown.code == 1 and unknown.err.startswith("kennel: values: gpus: ")
    assert kennel("quota", "request", "cores=-1", "--reason", "x").code == 2  # caught before asking
    Membership.objects.filter(user=member).update(level=Membership.Level.MEMBER)
    plain = kennel("quota", "request", "cores=80", "--reason", "x")
    assert plain.code == 5 and "leads" in plain.err
    assert not QuotaRequest.objects.exists()


def test_an_admin_approves_with_edits_rejects_and_a_lead_cancels(
    kennel, logged_in, lead_member, admin, team, synced, eager_tasks
):
    first = services.quota_request_submit(actor=lead_member, team=team, values={"cores": 80}, reason="CI")
    logged_in(lead_member)
    refused = kennel("request", "approve", str(first.pk))
    assert refused.code == 5 and "you (member) are a developer" in refused.err

    logged_in(admin)
    listed = kennel("request", "list", "--status", "pending")
    assert listed.code == 0 and f"{first.pk}" in listed.out and "cores=80" in listed.out
    approved = kennel("request", "approve", str(first.pk), "cores=72", "--comment", "72 for now")
    assert approved.code == 0, approved.err
    first.refresh_from_db()
    assert first.approved_values == {"cores": 72} and first.decision_comment == "72 for now"
    assert first.status == QuotaRequest.Status.APPLIED  # the eager worker applied it to the cloud
    assert synced.get_quotas(team.openstack_project_id, "compute")["cores"] == 72

    second = services.quota_request_submit(actor=lead_member, team=team, values={"cores": 90}, reason="more")
    rejected = kennel("request", "reject", str(second.pk), "--reason", "not this quarter")
    assert rejected.code == 0 and rejected.out == f"Quota request {second.pk} is rejected.\n"
    assert kennel("request", "approve", str(second.pk)).code == 1  # decided already: the server says why

    third = services.quota_request_submit(actor=lead_member, team=team, values={"cores": 96}, reason="again")
    logged_in(lead_member)
    cancelled = kennel("request", "cancel", str(third.pk), "--json")
    assert cancelled.code == 0 and cancelled.json()["status"] == "cancelled"
    assert kennel("request", "show", "999999").code == 4
