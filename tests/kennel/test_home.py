"""A developer's home page: their VMs, their teams' quota, their open requests and leases ending soon;
limited lists, and as many queries with many VMs and teams as with one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kennel.selectors import HOME_VMS
from provisioning.models import VmRequest
from quotas.models import QuotaRequest
from tests.factories import MembershipFactory, TeamFactory, TeamQuotaFactory, VmRequestFactory
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


def home(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_my_vms_my_teams_quota_open_requests_and_leases_ending(member, outsider, team):
    TeamQuotaFactory(team=team, key="cores", limit=20, cloud_used=3)
    later = timezone.now() + timedelta(days=30)
    mine = VmRequestFactory(team=team, owner=member, name="my-web", expires_at=later)
    ending = VmRequestFactory(
        team=team, owner=member, name="ends-soon", expires_at=timezone.now() + timedelta(days=2)
    )
    VmRequestFactory(team=team, owner=member, name="in-build", status=VmRequest.Status.BUILDING)
    VmRequestFactory(team=team, owner=member, name="gone-vm", status=VmRequest.Status.DELETED)
    VmRequestFactory(team=team, owner=outsider, name="someone-elses")
    QuotaRequest.objects.create(team=team, requested_by=member, values={"cores": 40}, reason="builds")

    page = home(member)
    vms = page.split('data-testid="home-vms"')[1].split("</section>")[0]
    assert "my-web" in vms and "ends-soon" in vms and "in-build" in vms
    assert "gone-vm" not in page and "someone-elses" not in page
    leases = page.split('data-testid="home-leases"')[1].split("</section>")[0]
    assert "ends-soon" in leases and "my-web" not in leases
    assert "(in 2\xa0days)" in leases or "(in 1\xa0day)" in leases
    requests = page.split('data-testid="home-open-requests"')[1].split("</section>")[0]
    assert "in-build" in requests and "Alpha" in requests and "Pending" in requests
    quotas = page.split('data-testid="home-quotas"')[1].split("</section>")[0]
    assert 'data-dimension="cores"' in quotas and ">20<" in quotas
    assert f"/vms/{mine.pk}/" in page and f"/vms/{ending.pk}/" in page
    assert "Recent" not in page  # no log of one's own sign-ins any more


def test_a_developer_without_vms_or_teams_is_told_what_to_do(db):
    from tests.factories import UserFactory

    page = home(UserFactory(username="newcomer"))
    assert "You have no VMs yet." in page and "You are not in a team yet." in page
    assert "Nothing is waiting" in page


def test_the_lists_are_limited_and_link_to_the_whole(member, team):
    for n in range(HOME_VMS + 3):
        VmRequestFactory(team=team, owner=member, name=f"vm-{n:02d}")
    page = home(member)
    vms = page.split('data-testid="home-vms"')[1].split("</section>")[0]
    assert vms.count("/vms/") - vms.count("/vms/?") == HOME_VMS
    assert f"All {HOME_VMS + 3} of my VMs" in vms


def test_queries_do_not_grow_with_vms_and_teams(member, team):
    VmRequestFactory(team=team, owner=member)
    client = Client()
    client.force_login(member)
    client.get("/")  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        assert client.get("/").status_code == 200
    for n in range(4):
        other = TeamFactory(slug=f"more-{n}")
        MembershipFactory(team=other, user=member)
        TeamQuotaFactory(team=other, key="cores", limit=8)
        for _ in range(5):
            VmRequestFactory(
                team=other, owner=member, expires_at=timezone.now() + timedelta(days=1), status="building"
            )
        QuotaRequest.objects.create(team=other, requested_by=member, values={"cores": 9}, reason="x")
    with CaptureQueriesContext(connection) as many:
        assert client.get("/").status_code == 200
    print(f"home page: {len(few)} queries with 1 VM and 1 team, {len(many)} with 21 VMs and 5 teams")
    assert len(many) == len(few)


def test_home_matrix(people):
    everyone = {"member": 200, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, "/", {"anonymous": 302, **everyone})
