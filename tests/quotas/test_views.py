"""Quota pages: what each person sees and may do, and that forms show the service's reasons."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from portal.models import Team
from quotas import services
from quotas.models import QuotaRequest, QuotaRule, TeamQuota
from tests.factories import (
    TeamFactory,
    TeamQuotaFactory,
    UnmanagedServerFactory,
    UserFactory,
    VmRequestFactory,
)
from tests.fixtures.fake_cloud import image
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db
Status = QuotaRequest.Status


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_overview_matrix(people, synced):
    everyone = {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, reverse("quotas:overview"), everyone)
    check_matrix(people, reverse("quotas:overview") + "?format=csv", everyone)


def test_developers_see_their_teams_managers_see_all_sorted_and_exported(people, synced, team, other_team):
    mine = client_for(people["member"]).get(reverse("quotas:overview")).content.decode()
    assert "Alpha" in mine and "Beta" not in mine
    response = client_for(people["manager"]).get(reverse("quotas:overview") + "?sort=cores&format=csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["team"] for r in rows} == {"alpha", "beta"}
    cores = next(r for r in rows if r["team"] == "alpha" and r["dimension"] == "cores")
    assert int(cores["limit"]) == synced.get_quotas(team.openstack_project_id, "compute")["cores"]
    assert cores["used"] == "0"


def test_the_request_form_matrix(people, synced, team, lead_member):
    url = reverse("quotas:request-create", args=[team.slug])
    check_matrix(
        people, url, {"anonymous": 302, "member": 200, "outsider": 404, "manager": 403, "admin": 200}
    )


def test_the_request_form_shows_the_services_reasons_on_the_fields(synced, team, lead_member):
    url = reverse("quotas:request-create", args=[team.slug])
    response = client_for(lead_member).post(url, {"dim_cores": "-4", "dim_ram_mb": "abc", "reason": "x"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter a whole number" in page  # the form's own check first
    response = client_for(lead_member).post(url, {"dim_cores": "-4", "reason": "x"})
    assert "cannot be negative" in response.content.decode()
    assert not QuotaRequest.objects.exists()


def test_requesting_through_the_page(synced, team, lead_member):
    url = reverse("quotas:request-create", args=[team.slug])
    response = client_for(lead_member).post(url, {"dim_cores": "80", "reason": "CI runners"})
    request = QuotaRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "quotas:request-detail", args=[request.pk]
    )
    assert (request.values, request.reason, request.status) == ({"cores": 80}, "CI runners", Status.PENDING)


def test_the_request_page_matrix(people, pending):
    url = reverse("quotas:request-detail", args=[pending.pk])
    check_matrix(
        people, url, {"anonymous": 302, "member": 200, "outsider": 404, "manager": 200, "admin": 200}
    )


def test_only_admins_decide(people, pending):
    url = reverse("quotas:request-act", args=[pending.pk, "reject"])
    check_matrix(
        people,
        url,
        {"anonymous": 302, "member": 403, "outsider": 404, "manager": 403, "admin": 302},
        method="post",
        data={"reason": "no"},
    )
    pending.refresh_from_db()
    assert pending.status == Status.REJECTED and pending.decided_by == people["admin"]


def test_a_refused_decision_says_why(people, pending):
    client = client_for(people["member"])
    response = client.post(
        reverse("quotas:request-act", args=[pending.pk, "approve"]), {"dim_cores": "80"}, follow=True
    )
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
    assert response.status_code == 403


def test_an_admin_approves_with_edits_from_the_page(people, pending):
    client = client_for(people["admin"])
    page = client.get(reverse("quotas:request-detail", args=[pending.pk])).content.decode()
    assert 'data-testid="approve-form"' in page and "room per architecture" in page
    response = client.post(
        reverse("quotas:request-act", args=[pending.pk, "approve"]),
        {"dim_cores": "72", "comment": "72 for now"},
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.status, pending.approved_values, pending.decision_comment) == (
        Status.APPROVED,
        {"cores": 72},
        "72 for now",
    )


def test_the_requester_answers_a_question_and_may_cancel(people, pending, lead_member):
    services.quota_request_ask(actor=people["admin"], request=pending, question="Which CI?")
    client = client_for(lead_member)
    page = client.get(reverse("quotas:request-detail", args=[pending.pk])).content.decode()
    assert 'data-testid="answer-form"' in page and "Which CI?" in page
    client.post(reverse("quotas:request-act", args=[pending.pk, "answer"]), {"answer": "GitLab"})
    client.post(reverse("quotas:request-act", args=[pending.pk, "cancel"]))
    pending.refresh_from_db()
    assert pending.status == Status.CANCELLED


def test_the_request_list_matrix_and_scope(people, pending):
    url = reverse("quotas:request-list")
    check_matrix(
        people, url, {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    )
    assert f"#{pending.pk}" not in client_for(people["outsider"]).get(url).content.decode()
    assert (
        reverse("quotas:request-detail", args=[pending.pk])
        in client_for(people["manager"]).get(url).content.decode()
    )


def test_the_rules_page_is_for_admins(people, synced):
    url = reverse("quotas:rules")
    check_matrix(
        people, url, {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
    )
    client = client_for(people["admin"])
    client.post(
        url, {"key": "cores", "ceiling": "256", "auto_approve_increase": "8", "auto_approve_days": "30"}
    )
    assert QuotaRule.objects.get(key="cores").ceiling == 256
    client.post(url, {"form": "policy", "members_may_request": "on"})
    from quotas.selectors import quota_policy

    assert quota_policy().members_may_request
    client.post(url, {"delete": "cores"})
    assert not QuotaRule.objects.exists()


def test_the_team_page_shows_the_quota_and_the_way_to_ask(people, synced, team, lead_member):
    page = client_for(lead_member).get(reverse("team-detail", args=[team.slug])).content.decode()
    assert 'data-testid="quota-table"' in page and reverse("quotas:request-create", args=[team.slug]) in page
    page = client_for(people["manager"]).get(reverse("team-detail", args=[team.slug])).content.decode()
    assert 'data-testid="quota-table"' in page and "Ask for more quota" not in page


def test_the_vm_form_counts_what_the_teams_quota_allows(synced, member, team):
    TeamQuota.objects.filter(team=team, key="cores").update(limit=4)
    page = client_for(member).get(
        reverse("provisioning:vm-request"),
        {"team": team.pk, "architecture": "x86_64", "image": image("x86_64").pk},
        HTTP_HX_REQUEST="true",
    )
    options = re.findall(r'<option value="\d+" ?(disabled)? ?>(m1\.\w+) \([^)]*\) — ([^<]*)<', page.text)
    found = {name: (text, bool(disabled)) for disabled, name, text in options}
    assert found["m1.large"] == ("1 more within your team's quota", False)
    assert found["m1.medium"] == ("2 more within your team's quota", False)
    assert found["m1.xlarge"] == ("0 more within your team's quota", True)  # 8 vCPUs do not fit in 4


def test_the_flavor_api_counts_what_the_teams_quota_allows(synced, member, team):
    TeamQuota.objects.filter(team=team, key="cores").update(limit=4)
    client = client_for(member)
    body = client.get("/api/v1/catalog/flavors/", {"architecture": "x86_64", "team": "alpha"}).json()
    large = next(f for f in body if f["name"] == "m1.large")
    assert (large["quota_fits"], large["fits"]) == (1, 1)
    assert (
        client.get("/api/v1/catalog/flavors/", {"architecture": "x86_64", "team": "beta"}).status_code == 400
    )


def _teams_with_cores(n: int) -> list:
    """``n`` teams "Q000"… whose cores are 10 x i % used (limit 100), one in three with a VM made outside
    Kennel, one in two with a pending request; the fullness is what the sort must order."""
    teams = [TeamFactory(name=f"Q{k:03d}", slug=f"q{k:03d}") for k in range(n)]
    asker = UserFactory(username="asker")
    for i, team in enumerate(teams):
        TeamQuotaFactory(team=team, key="cores", limit=100)
        TeamQuotaFactory(team=team, key="instances", limit=50)
        if i % 10:
            VmRequestFactory(team=team, vcpus=(i % 10) * 8)
        if i % 3 == 0:
            UnmanagedServerFactory(team=team, vcpus=2)
        if i % 2 == 0:
            QuotaRequest.objects.create(team=team, requested_by=asker, reason="more", values={"cores": 200})
    return teams


def test_the_overview_is_paged_and_sorted_by_fullness_in_the_database(people):
    _teams_with_cores(60)
    manager = client_for(people["manager"])
    first = manager.get(reverse("quotas:overview") + "?sort=cores").content.decode()
    rows = re.findall(r'<a href="/teams/([^/]+)/">', first.split('data-testid="quota-overview"')[1])
    assert len(rows) == 50 and "Page 1 of 2" in first
    fullest = [t.slug for t in Team.objects.filter(name__startswith="Q").order_by("name")]
    fullest.sort(key=lambda slug: _cores_percent(slug), reverse=True)
    assert rows == fullest[:50]  # the database's order is the one the lines show
    assert manager.get(reverse("quotas:overview") + "?sort=cores&page=3").status_code == 404
    found = manager.get(reverse("quotas:overview") + "?q=Q017").content.decode()
    assert re.findall(r'<a href="/teams/([^/]+)/">', found.split('data-testid="quota-overview"')[1]) == [
        Team.objects.get(name="Q017").slug
    ]
    waiting = manager.get(reverse("quotas:overview")).content.decode()
    assert waiting.count('data-testid="pending"') == 1 and 'data-testid="pending-more"' in waiting


def _cores_percent(slug: str) -> float:
    from quotas.selectors import team_quota_table

    line = team_quota_table(Team.objects.get(slug=slug)).line("cores")
    return -1.0 if line is None or line.percent is None else line.percent


@pytest.mark.parametrize("n", [3, 90])
def test_the_overview_costs_the_same_queries_for_3_or_90_teams(n, people, django_assert_max_num_queries):
    _teams_with_cores(n)
    admin = client_for(people["admin"])
    # Session, user, the count and the page of teams (sorted by the database), their limits, VMs,
    # unmanaged servers and open requests, the waiting requests and their count, the mirror's age.
    with django_assert_max_num_queries(13):
        response = admin.get(reverse("quotas:overview") + "?sort=cores")
    assert response.status_code == 200


def test_the_quota_api_pages_sorts_and_refuses_odd_pages_and_sorts(people):
    _teams_with_cores(60)
    api = APIClient()
    api.force_authenticate(people["manager"])
    first = api.get("/api/v1/quotas/?sort=cores").json()
    assert first["count"] == Team.objects.count() and len(first["results"]) == 50
    percents = [_cores_percent(t["team"]) for t in first["results"]]
    assert percents == sorted(percents, reverse=True)
    assert api.get("/api/v1/quotas/?page=3").status_code == 404
    assert api.get("/api/v1/quotas/?sort=nonsense").status_code == 400
    assert [t["team"] for t in api.get("/api/v1/quotas/?q=Q042").json()["results"]] == [
        Team.objects.get(name="Q042").slug
    ]
