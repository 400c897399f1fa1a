"""The quota API: the same scoping and refusals as the pages."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from quotas.models import QuotaRequest
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db
Status = QuotaRequest.Status


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_quota_tables_are_scoped(people, synced, team):
    url = f"/api/v1/quotas/{team.slug}/"
    check_matrix(
        people,
        url,
        {"anonymous": 401, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
        api=True,
    )
    body = api(people["member"]).get(url).json()
    cores = next(d for d in body["dimensions"] if d["key"] == "cores")
    assert cores["quota"] == synced.get_quotas(team.openstack_project_id, "compute")["cores"]
    assert (cores["used"], cores["remaining"], cores["enforced_by"]) == (0, cores["quota"], "cloud")
    assert [t["team"] for t in api(people["outsider"]).get("/api/v1/quotas/").json()["results"]] == ["beta"]
    assert {t["team"] for t in api(people["manager"]).get("/api/v1/quotas/").json()["results"]} == {
        "alpha",
        "beta",
    }


def test_a_lead_requests_and_gets_refusals_per_dimension(synced, lead_member, team):
    client = api(lead_member)
    response = client.post(
        "/api/v1/quota-requests/",
        {"team": "alpha", "values": {"cores": -1, "gpus": 1}, "reason": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["values"]) == {"cores", "gpus"}
    response = client.post(
        "/api/v1/quota-requests/", {"team": "alpha", "values": {"cores": 80}, "reason": "CI"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["values"], body["team"]) == ("pending", {"cores": 80}, "alpha")
    assert body["events"][0]["message"].startswith("Requested")


def test_a_lead_of_one_team_cannot_request_for_another(synced, lead_member, other_team):
    response = api(lead_member).post(
        "/api/v1/quota-requests/", {"team": "beta", "values": {"cores": 80}, "reason": "x"}, format="json"
    )
    assert response.status_code == 400 and "team" in response.json()
    assert not QuotaRequest.objects.exists()


def test_a_plain_member_is_told_only_leads_may_ask(synced, team, people):
    lead_only = api(people["member"]).post(
        "/api/v1/quota-requests/", {"team": "alpha", "values": {"cores": 80}, "reason": "x"}, format="json"
    )
    assert lead_only.status_code == 403 and "leads" in lead_only.json()["detail"]


def test_only_admins_approve(people, pending):
    url = f"/api/v1/quota-requests/{pending.pk}/approve/"
    check_matrix(
        people,
        url,
        {"anonymous": 401, "member": 403, "outsider": 404, "manager": 403, "admin": 200},
        method="post",
        data={"values": {"cores": 72}},
        api=True,
    )
    pending.refresh_from_db()
    assert pending.status in (Status.APPROVED, Status.APPLYING, Status.APPLIED)
    assert pending.approved_values == {"cores": 72}


def test_reject_ask_answer_cancel_retry(people, pending, lead_member):
    admin = api(people["admin"])
    assert admin.post(f"/api/v1/quota-requests/{pending.pk}/reject/", {}, format="json").status_code == 400
    assert (
        admin.post(f"/api/v1/quota-requests/{pending.pk}/ask/", {"question": "why?"}, format="json").json()[
            "status"
        ]
        == "info_requested"
    )
    lead = api(lead_member)
    assert (
        lead.post(f"/api/v1/quota-requests/{pending.pk}/answer/", {"answer": "CI"}, format="json").json()[
            "status"
        ]
        == "pending"
    )
    assert (
        lead.post(f"/api/v1/quota-requests/{pending.pk}/cancel/", format="json").json()["status"]
        == "cancelled"
    )
    refused = admin.post(f"/api/v1/quota-requests/{pending.pk}/retry/", format="json")
    assert refused.status_code == 400 and "failed" in refused.json()["non_field_errors"][0]


def test_the_request_list_filters_by_status(people, pending):
    body = api(people["admin"]).get("/api/v1/quota-requests/?status=pending").json()
    assert [r["id"] for r in body["results"]] == [pending.pk]
    assert api(people["admin"]).get("/api/v1/quota-requests/?status=applied").json()["results"] == []
    assert api(people["outsider"]).get("/api/v1/quota-requests/").json()["results"] == []


def test_huge_values_get_400_per_dimension_not_a_server_error(synced, lead_member, team):
    response = api(lead_member).post(
        "/api/v1/quota-requests/",
        {"team": "alpha", "values": {"cores": 10**30, "floating_ips": 10**30}, "reason": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["values"]) == {"cores", "floating_ips"}
    assert not QuotaRequest.objects.exists()
