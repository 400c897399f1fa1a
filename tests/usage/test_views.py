"""The permission matrix of every usage page and endpoint (metrics not configured: the scoping does not
depend on Prometheus), and what a refusal looks like."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from provisioning.models import VmRequest
from tests.factories import DataCenterFactory, ServerFactory
from tests.matrix import check_matrix
from usage.models import IdleVm

pytestmark = pytest.mark.django_db

STAFF = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
EVERYONE = {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
TEAM = {"anonymous": 302, "member": 200, "outsider": 404, "manager": 200, "admin": 200}


@pytest.fixture
def things(team, member):
    server = ServerFactory(name="X2", datacenter=DataCenterFactory(), hypervisor_hostname="x2")
    vm = VmRequest.objects.create(
        team=team,
        owner=member,
        name="idle-one",
        architecture="x86_64",
        image_name="cirros",
        flavor_name="m1",
        vcpus=1,
        ram_mb=512,
        disk_gb=1,
        status=VmRequest.Status.ACTIVE,
        server_id="0f0f",
        host="x2",
        server_state="running",
        server_status="ACTIVE",
    )
    now = timezone.now()
    flag = IdleVm.objects.create(
        vm=vm, flagged_at=now, checked_at=now, cpu_percent=0.3, network_bps=80.0, window_days=14
    )
    return {"server": server, "vm": vm, "flag": flag}


def test_pages(people, things):
    check_matrix(people, reverse("usage:hosts"), STAFF)
    check_matrix(people, reverse("usage:host-detail", args=[things["server"].pk]), STAFF)
    check_matrix(people, reverse("usage:vms"), EVERYONE)
    check_matrix(people, reverse("usage:vm-detail", args=[things["vm"].pk]), TEAM)
    check_matrix(people, reverse("usage:team-detail", args=["alpha"]), TEAM)
    check_matrix(people, reverse("usage:idle"), EVERYONE)


def test_reclaim_from_the_page(people, things):
    # The owner (member) and admins may; a manager sees the flag and is refused; an outsider sees nothing.
    stop = reverse("usage:idle-stop", args=[things["flag"].pk])
    check_matrix(
        people,
        stop,
        {"anonymous": 302, "member": 302, "outsider": 404, "manager": 403, "admin": 302},
        method="post",
    )
    delete = reverse("usage:idle-delete", args=[things["flag"].pk])
    check_matrix(
        people,
        delete,
        {"anonymous": 302, "member": 302, "outsider": 404, "manager": 302, "admin": 302},
        method="post",
        data={"confirm": "not its name"},
    )
    assert VmRequest.objects.get(pk=things["vm"].pk).status == VmRequest.Status.ACTIVE


def test_api(people, things):
    staff = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 200, "admin": 200}
    check_matrix(people, "/api/v1/usage/hosts/", staff, api=True)
    check_matrix(people, f"/api/v1/usage/hosts/{things['server'].pk}/", staff, api=True)
    check_matrix(people, f"/api/v1/usage/vms/?host={things['server'].pk}", staff, api=True)
    everyone = {"anonymous": 401, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, "/api/v1/usage/vms/", everyone, api=True)
    check_matrix(people, "/api/v1/usage/idle/", everyone, api=True)
    team = {"anonymous": 401, "member": 200, "outsider": 404, "manager": 200, "admin": 200}
    check_matrix(people, f"/api/v1/usage/vms/{things['vm'].pk}/", team, api=True)
    check_matrix(people, "/api/v1/usage/vms/?team=alpha", team, api=True)
    stop = f"/api/v1/usage/idle/{things['flag'].pk}/stop/"
    check_matrix(
        people,
        stop,
        {"anonymous": 401, "member": 202, "outsider": 404, "manager": 403, "admin": 202},
        method="post",
        data={},
        api=True,
    )
    delete = f"/api/v1/usage/idle/{things['flag'].pk}/delete/"
    check_matrix(
        people,
        delete,
        {"anonymous": 401, "member": 400, "outsider": 404, "manager": 400, "admin": 400},
        method="post",
        data={"confirm": "wrong"},
        api=True,
    )


def test_without_metrics_the_api_says_so(client, manager, things):
    client.force_login(manager)
    answer = client.get("/api/v1/usage/hosts/").json()
    assert answer == {"state": "not_configured", "error": "", "hosts": []}


def test_a_lead_of_another_team_cannot_reclaim(client, other_lead, things):
    client.force_login(other_lead)
    assert client.post(reverse("usage:idle-stop", args=[things["flag"].pk])).status_code == 404
