"""VM pages and API: permission matrix, the request form, live status, actions."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from provisioning import services
from provisioning.models import VmRequest
from tests.fixtures.fake_cloud import flavor, image
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


def test_vm_pages_matrix(people, vm):
    everyone = {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, reverse("provisioning:vm-list"), everyone)
    check_matrix(people, reverse("provisioning:vm-request"), everyone)
    # Another team's developer gets a 404, not a 403: they cannot tell the VM exists.
    mine = {"anonymous": 302, "member": 200, "outsider": 404, "manager": 200, "admin": 200}
    check_matrix(people, reverse("provisioning:vm-detail", args=[vm.pk]), mine)
    check_matrix(people, reverse("provisioning:vm-delete", args=[vm.pk]), mine)


def test_only_the_owner_lead_or_admin_may_act(people, vm):
    check_matrix(
        people,
        reverse("provisioning:vm-action", args=[vm.pk]),
        {"anonymous": 302, "member": 302, "outsider": 404, "manager": 403, "admin": 302},
        method="post",
        data={"action": "reboot_soft"},
    )


def test_vm_api_matrix(people, vm):
    check_matrix(
        people,
        f"/api/v1/vms/{vm.pk}/",
        {"anonymous": 401, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
        api=True,
    )
    check_matrix(
        people,
        f"/api/v1/vms/{vm.pk}/action/",
        {"anonymous": 401, "member": 202, "outsider": 404, "manager": 403, "admin": 202},
        method="post",
        data={"action": "reboot_soft"},
        api=True,
    )


def test_the_form_offers_only_images_of_the_chosen_architecture(client, member, fake_cloud):
    client.force_login(member)
    page = client.get(reverse("provisioning:vm-request"), {"architecture": "ppc64le"}, HTTP_HX_REQUEST="true")
    assert "cirros-0.6-ppc64le" in page.text and "cirros-0.6-x86_64" not in page.text
    assert "<html" not in page.text


def test_the_form_offers_only_flavors_that_fit_the_image_with_room(client, member, fake_cloud):
    client.force_login(member)
    centos = image("x86_64", "centos")
    page = client.get(
        reverse("provisioning:vm-request"),
        {"architecture": "x86_64", "image": centos.pk},
        HTTP_HX_REQUEST="true",
    ).text
    assert "m1.tiny" not in page and "m1.small" in page
    assert "more fit" in page


def test_submitting_the_form_queues_the_request_and_shows_it(
    client, member, team, fake_cloud, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("provisioning:vm-request"),
            {
                "team": team.pk,
                "architecture": "ppc64le",
                "image": image("ppc64le").pk,
                "flavor": flavor().pk,
                "name": "power1",
            },
        )
    vm = VmRequest.objects.get(name="power1")
    assert response.status_code == 302 and response.url == reverse("provisioning:vm-detail", args=[vm.pk])
    assert len(callbacks) == 1  # the build is enqueued only once the row is committed
    status = client.get(response.url, HTTP_HX_REQUEST="true").text
    assert 'hx-trigger="every 2s"' in status  # polls while queued


def test_a_refused_request_shows_the_reason_in_the_form(client, member, team, fake_cloud):
    client.force_login(member)
    response = client.post(
        reverse("provisioning:vm-request"),
        {
            "team": team.pk,
            "architecture": "x86_64",
            "image": image("x86_64", "centos").pk,
            "flavor": flavor("m1.small").pk,
            "name": "Bad Name",
        },
    )
    assert response.status_code == 200
    assert "lowercase letters" in response.text
    assert not VmRequest.objects.exists()


def test_a_finished_vm_page_polls_half_a_minute_after_a_change_then_stops(client, member, vm):
    from datetime import timedelta

    from django.utils import timezone

    from provisioning.models import VmEvent

    client.force_login(member)
    url = reverse("provisioning:vm-detail", args=[vm.pk])
    assert "every 2s" in client.get(url, HTTP_HX_REQUEST="true").text  # it just became active
    VmEvent.objects.filter(request=vm).update(at=timezone.now() - timedelta(minutes=1))
    page = client.get(url, HTTP_HX_REQUEST="true").text
    assert 'data-status="active"' in page and "every 2s" not in page


def test_a_vm_without_a_lease_says_so_rather_than_leaving_its_expiry_blank(client, member, vm):
    import re

    VmRequest.objects.filter(pk=vm.pk).update(expires_at=None)
    client.force_login(member)
    page = client.get(reverse("provisioning:vm-detail", args=[vm.pk])).text
    assert re.search(r"<th>Expires</th>\s*<td>—</td>", page), page


def test_delete_needs_the_typed_name(client, member, vm):
    client.force_login(member)
    refused = client.post(reverse("provisioning:vm-delete", args=[vm.pk]), {"confirm_name": "nope"})
    assert refused.status_code == 400 and "to confirm" in refused.text
    client.post(reverse("provisioning:vm-delete", args=[vm.pk]), {"confirm_name": "web1"})
    vm.refresh_from_db()
    assert vm.status == VmRequest.Status.DELETING


def test_list_filters_sorts_and_scopes(client, member, outsider, vm, other_team, fake_cloud):
    services.vm_request_submit(
        actor=outsider, team=other_team, name="theirs", image=image(), flavor=flavor(), source="test"
    )
    client.force_login(member)
    page = client.get(reverse("provisioning:vm-list")).text
    assert "web1" in page and "theirs" not in page
    page = client.get(reverse("provisioning:vm-list"), {"status": "queued"}).text
    assert "web1" not in page


def test_api_requests_a_vm_by_names_and_refuses_unknown_ones(member, team, fake_cloud):
    api = APIClient()
    api.force_authenticate(member)
    response = api.post(
        "/api/v1/vms/",
        {"team": "alpha", "name": "apivm", "image": "cirros-0.6-ppc64le", "flavor": "m1.tiny"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["architecture"] == "ppc64le" and response.json()["status"] == "queued"
    bad = api.post(
        "/api/v1/vms/", {"team": "alpha", "name": "x", "image": "nope", "flavor": "m1.tiny"}, format="json"
    )
    assert bad.status_code == 400 and bad.json() == {"image": ["No such image: 'nope'."]}
    other = api.post(
        "/api/v1/vms/",
        {"team": "beta", "name": "x", "image": "cirros-0.6-ppc64le", "flavor": "m1.tiny"},
        format="json",
    )
    assert other.status_code == 400 and "team" in other.json()


def test_api_catalog_by_architecture(member, fake_cloud):
    api = APIClient()
    api.force_authenticate(member)
    arches = {a["architecture"]: a for a in api.get("/api/v1/catalog/architectures/").json()}
    assert arches["ppc64le"]["host_count"] == 1 and arches["x86_64"]["host_count"] == 3
    ppc = api.get("/api/v1/catalog/images/", {"architecture": "ppc64le"}).json()
    assert {i["architecture"] for i in ppc} == {"ppc64le"}
    fitting = api.get("/api/v1/catalog/flavors/", {"image": "centos-stream-9-x86_64"}).json()
    assert "m1.tiny" not in {f["name"] for f in fitting} and all(f["fits"] > 0 for f in fitting)


def test_extend_lease_page_and_api(client, member, vm):
    client.force_login(member)
    before = vm.expires_at
    client.post(reverse("provisioning:vm-extend", args=[vm.pk]), {"days": "5"})
    vm.refresh_from_db()
    assert (vm.expires_at - before).days == 5
    api = APIClient()
    api.force_authenticate(member)
    refused = api.post(f"/api/v1/vms/{vm.pk}/extend/", {"days": 1000}, format="json")
    assert refused.status_code == 400 and "at most" in str(refused.json())


def test_unmanaged_servers_show_to_their_team_only(client, member, outsider, team, fake_cloud):
    fake_cloud.create_server(
        project_id=team.openstack_project_id,
        name="by-hand",
        image_id=image().cloud_id,
        flavor_id=flavor().cloud_id,
    )
    fake_cloud.settle()
    services.vm_reconcile()
    client.force_login(member)
    assert "by-hand" in client.get(reverse("provisioning:vm-list")).text
    client.force_login(outsider)
    assert "by-hand" not in client.get(reverse("provisioning:vm-list")).text


def test_floating_ip_and_console_matrix(people, vm):
    for url, data in (
        (f"/api/v1/vms/{vm.pk}/floating-ip/", {"attach": True}),
        (f"/api/v1/vms/{vm.pk}/console/", {}),
    ):
        check_matrix(
            people,
            url,
            {"anonymous": 401, "member": 202, "outsider": 404, "manager": 403, "admin": 202},
            method="post",
            data=data,
            api=True,
        )


def test_my_vms_and_team_vms(client, member, lead, team, fake_cloud):
    services.vm_request_submit(
        actor=member, team=team, name="mine", image=image(), flavor=flavor(), source="test"
    )
    services.vm_request_submit(
        actor=lead, team=team, name="leads", image=image(), flavor=flavor(), source="test"
    )
    client.force_login(member)
    mine = client.get(reverse("provisioning:vm-list"), {"mine": "true"}).text
    assert ">mine<" in mine and ">leads<" not in mine
    everyone = client.get(reverse("provisioning:vm-list")).text
    assert ">mine<" in everyone and ">leads<" in everyone


def test_the_vm_list_shows_a_few_unmanaged_servers_and_links_to_all_of_them(client, member, outsider, team):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from provisioning.views import UNMANAGED_ON_VM_LIST
    from tests.factories import UnmanagedServerFactory

    made = UNMANAGED_ON_VM_LIST
    for n in range(made):
        UnmanagedServerFactory(team=team, project_id=team.openstack_project_id, name=f"hand-{n:02d}")
    client.force_login(member)
    with CaptureQueriesContext(connection) as exactly:
        page = client.get(reverse("provisioning:vm-list")).text
    assert page.count("hand-") == made and 'data-testid="unmanaged-all"' not in page

    for n in range(made, 60):
        UnmanagedServerFactory(team=team, project_id=team.openstack_project_id, name=f"hand-{n:02d}")
    UnmanagedServerFactory(team=outsider.memberships.get().team, name="theirs")
    with CaptureQueriesContext(connection) as more:
        page = client.get(reverse("provisioning:vm-list")).text
    table = page.split('data-testid="unmanaged-table"')[1].split("</table>")[0]
    assert table.count("<tr data-server=") == UNMANAGED_ON_VM_LIST
    assert "All 60 servers not managed by Kennel" in page
    assert len(more) == len(exactly) + 1  # the count, whatever the number of servers

    first = client.get(reverse("provisioning:unmanaged-list")).text
    second = client.get(reverse("provisioning:unmanaged-list"), {"page": 2}).text
    assert first.count("<tr data-server=") == 50 and second.count("<tr data-server=") == 10
    assert "hand-00" in first and "hand-59" in second and "theirs" not in first + second
    client.force_login(outsider)
    theirs = client.get(reverse("provisioning:unmanaged-list")).text
    assert "theirs" in theirs and "hand-" not in theirs
