"""Blueprint and service pages and API endpoints: the permission matrix for each, and what they show."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from blueprints import services
from blueprints.models import Service, ServiceVm
from provisioning.models import VmRequest
from quotas.models import TeamQuota
from tests.blueprints.conftest import drive
from tests.matrix import check_matrix

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(fake_cloud, lead, team, examples):
    return drive(
        services.service_deploy(
            actor=lead,
            team=team,
            version=examples["ci-agent"],
            name="ci",
            parameters={},
            counts={"x86_64": 1, "ppc64le": 1},
            source="test",
        )
    )


@pytest.fixture
def beta_blueprint(other_team, admin):
    text = (
        (services.EXAMPLES_DIR / "squid-proxy.yaml")
        .read_text()
        .replace("name: squid-proxy", "name: beta-proxy")
    )
    return services.blueprint_import(actor=admin, team=other_team, text=text, source="test")


def test_blueprint_pages_matrix(people, examples, beta_blueprint):
    everyone = {"anonymous": 302, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    version = examples["ci-agent"]
    check_matrix(people, reverse("blueprints:list"), everyone)
    check_matrix(people, reverse("blueprints:detail", args=[version.blueprint_id]), everyone)
    check_matrix(people, reverse("blueprints:version-export", args=[version.pk]), everyone)
    # Beta's own blueprint: Beta, managers and admins see it; Alpha's member cannot tell it exists.
    beta = {"anonymous": 302, "member": 404, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, reverse("blueprints:detail", args=[beta_blueprint.blueprint_id]), beta)
    check_matrix(people, reverse("blueprints:version-export", args=[beta_blueprint.pk]), beta)


def test_only_admins_import_global_blueprints_from_the_page(people, examples):
    text = (services.EXAMPLES_DIR / "http-file-server.yaml").read_text().replace("- nginx", "- nginx\n- curl")
    expected = {"anonymous": 302, "member": 404, "outsider": 404, "manager": 404, "admin": 302}
    check_matrix(people, reverse("blueprints:list"), expected, method="post", data={"document": text})
    assert examples["http-file-server"].blueprint.versions.count() == 2  # the admin's import


def test_service_pages_matrix(people, service):
    mine = {"anonymous": 302, "member": 200, "outsider": 404, "manager": 200, "admin": 200}
    check_matrix(people, reverse("blueprints:service-detail", args=[service.pk]), mine)
    change = {"anonymous": 302, "member": 404, "outsider": 404, "manager": 404, "admin": 302}
    data = {"count_x86_64": 1, "count_ppc64le": 1}
    check_matrix(
        people, reverse("blueprints:service-scale", args=[service.pk]), change, method="post", data=data
    )
    for name in ("service-upgrade", "service-rollback", "service-retry", "service-delete"):
        check_matrix(people, reverse(f"blueprints:{name}", args=[service.pk]), change, method="post", data={})


def test_the_team_page_and_service_page_show_the_vms_states_and_version(service, member):
    client = Client()
    client.force_login(member)
    page = client.get(reverse("team-detail", args=[service.team.slug])).content.decode()
    assert 'data-testid="team-services"' in page and "ci-agent v1" in page
    for vm in VmRequest.objects.filter(service_member__service=service):
        assert vm.name in page
    detail = client.get(reverse("blueprints:service-detail", args=[service.pk])).content.decode()
    assert 'data-status="ready"' in detail and "ci-x86-1" in detail and "ci-ppc-2" in detail
    assert 'data-testid="scale"' not in detail  # a plain member does not change it
    partial = client.get(reverse("blueprints:service-detail", args=[service.pk]), HTTP_HX_REQUEST="true")
    assert partial.content.decode().startswith("\n<section") or "<html" not in partial.content.decode()


def test_the_blueprint_page_previews_user_data_per_architecture(member, examples):
    client = Client()
    client.force_login(member)
    page = client.get(reverse("blueprints:detail", args=[examples["ci-agent"].blueprint_id])).content.decode()
    assert 'data-testid="preview-x86_64"' in page and 'data-testid="preview-ppc64le"' in page
    assert "#cloud-config" in page and "kennel-ci-agent.service" in page


def test_a_lead_deploys_from_the_page(fake_cloud, lead, team, examples):
    client = Client()
    client.force_login(lead)
    response = client.post(
        reverse("blueprints:detail", args=[examples["http-file-server"].blueprint_id]),
        {
            "team": team.pk,
            "name": "files",
            "count_x86_64": 1,
            "param_port": "8080",
            "param_uploaders": "alice bob",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    service = Service.objects.get(name="files")
    assert service.parameters["uploaders"] == ["alice", "bob"] and service.parameters["port"] == 8080
    refused = client.post(
        reverse("blueprints:detail", args=[examples["http-file-server"].blueprint_id]),
        {"team": team.pk, "name": "files2", "count_x86_64": 1, "param_port": "99999"},
    )
    assert refused.status_code == 200 and "65535" in refused.content.decode()


# --- the API --------------------------------------------------------------------------------------------


def test_api_matrix(people, service, examples):
    listing = {"anonymous": 401, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    check_matrix(people, "/api/v1/blueprints/", listing, api=True)
    check_matrix(people, "/api/v1/services/", listing, api=True)
    check_matrix(people, f"/api/v1/blueprints/{examples['ci-agent'].blueprint_id}/", listing, api=True)
    check_matrix(people, f"/api/v1/blueprint-versions/{examples['ci-agent'].pk}/", listing, api=True)
    check_matrix(people, f"/api/v1/blueprint-versions/{examples['ci-agent'].pk}/export/", listing, api=True)
    mine = {"anonymous": 401, "member": 200, "outsider": 404, "manager": 200, "admin": 200}
    check_matrix(people, f"/api/v1/services/{service.pk}/", mine, api=True)
    change = {"anonymous": 401, "member": 403, "outsider": 404, "manager": 403, "admin": 202}
    check_matrix(
        people,
        f"/api/v1/services/{service.pk}/scale/",
        change,
        method="post",
        data={"counts": {"x86_64": 1}},
        api=True,
    )
    drive(service)
    Service.objects.filter(pk=service.pk).update(status=Service.Status.FAILED)
    check_matrix(people, f"/api/v1/services/{service.pk}/retry/", change, method="post", data={}, api=True)
    drive(service)
    refused = {"anonymous": 401, "member": 403, "outsider": 404, "manager": 403, "admin": 400}  # no previous
    check_matrix(
        people, f"/api/v1/services/{service.pk}/rollback/", refused, method="post", data={}, api=True
    )
    upgrade = {"anonymous": 401, "member": 403, "outsider": 404, "manager": 403, "admin": 400}  # same version
    data = {"blueprint_version": examples["ci-agent"].pk}
    check_matrix(
        people, f"/api/v1/services/{service.pk}/upgrade/", upgrade, method="post", data=data, api=True
    )
    check_matrix(people, f"/api/v1/services/{service.pk}/", change, method="delete", api=True)


def test_api_deploy_and_import_matrix(people, fake_cloud, examples):
    text = (services.EXAMPLES_DIR / "http-file-server.yaml").read_text().replace("- nginx", "- nginx\n- curl")
    only_admin = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 201}
    check_matrix(
        people, "/api/v1/blueprints/import/", only_admin, method="post", data={"document": text}, api=True
    )
    deploy = {"anonymous": 401, "member": 403, "outsider": 400, "manager": 403, "admin": 202}
    data = {
        "team": "alpha",
        "name": "api-ci",
        "blueprint_version": examples["ci-agent"].pk,
        "counts": {"x86_64": 1},
    }
    check_matrix(people, "/api/v1/services/", deploy, method="post", data=data, api=True)


def test_api_shows_vms_and_refuses_what_the_quota_cannot_hold(fake_cloud, lead, team, service, examples):
    api = APIClient()
    api.force_authenticate(lead)
    body = api.get(f"/api/v1/services/{service.pk}/").json()
    assert body["version"] == 1 and body["status"] == "ready" and body["blueprint"] == "ci-agent"
    assert sorted((vm["architecture"], vm["state"]) for vm in body["vms"]) == [
        ("ppc64le", "running"),
        ("x86_64", "running"),
    ]
    TeamQuota.objects.update_or_create(team=team, key="instances", defaults={"limit": 3})
    before = ServiceVm.objects.count()
    response = api.post(
        "/api/v1/services/",
        {
            "team": "alpha",
            "name": "big",
            "blueprint_version": examples["ci-agent"].pk,
            "counts": {"x86_64": 2},
        },
        format="json",
    )
    assert response.status_code == 400 and "quota" in str(response.json()["counts"])
    assert ServiceVm.objects.count() == before and not Service.objects.filter(name="big").exists()
    exported = api.get(f"/api/v1/blueprint-versions/{examples['ci-agent'].pk}/export/")
    assert exported.status_code == 200 and b"kennel_blueprint: 1" in exported.content


def test_the_service_page_says_who_reaches_its_ports_and_a_lead_opens_one(
    fake_cloud, lead, member, team, examples
):
    from onboarding.models import SecurityRule

    files = drive(
        services.service_deploy(
            actor=lead,
            team=team,
            version=examples["http-file-server"],
            name="files",
            parameters={"port": 8080},
            counts={"x86_64": 1},
            source="test",
        )
    )
    url = reverse("blueprints:service-detail", args=[files.pk])
    SecurityRule.objects.create(team=team, protocol="tcp", port_min=22, port_max=22, remote_cidr="10.0.0.0/8")
    client = Client()
    client.force_login(member)
    page = client.get(url).content.decode()
    assert 'data-port="8080/tcp"' in page and 'data-testid="port-closed"' in page  # SSH's rule is not 8080's
    assert 'data-testid="open-port"' not in page  # a member may not change the team's rules
    client.force_login(lead)
    page = client.get(url).content.decode()
    assert 'data-testid="open-port"' in page and 'value="10.0.0.0/8"' in page
    response = client.post(
        reverse("onboarding:security-rules", args=[team.slug]),
        {"protocol": "tcp", "ports": "8080", "remote_cidr": "10.0.0.0/8"},
    )
    assert response.status_code == 302
    rule = SecurityRule.objects.get(team=team, port_min=8080)
    assert (rule.state, rule.port_max, rule.remote_cidr) == (SecurityRule.State.ADDING, 8080, "10.0.0.0/8")
    page = client.get(url).content.decode()
    assert 'data-testid="port-closed"' not in page and "10.0.0.0/8" in page
