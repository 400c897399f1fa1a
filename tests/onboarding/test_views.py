"""Onboarding pages and endpoints: the permission matrix for each, and what they do.

Only admins onboard, retry, offboard, change members, keep templates and look at orphans; a team's
people follow its chain; each member downloads their own team's credentials only (404 for everyone
else, admins included)."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client

from onboarding import services
from onboarding.models import CloudAccount, Onboarding, QuotaTemplate
from tests.factories import (
    CloudAccountFactory,
    OnboardingFactory,
    OnboardingStepFactory,
    QuotaTemplateFactory,
)
from tests.matrix import check_matrix

ADMIN_ONLY = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
ADMIN_ONLY_API = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 200}
TEAM_ACTION = {"anonymous": 302, "member": 403, "outsider": 404, "manager": 403, "admin": 302}
TEAM_ACTION_API = {"anonymous": 401, "member": 403, "outsider": 404, "manager": 403, "admin": 202}
OWN_ONLY = {"anonymous": 302, "member": 200, "outsider": 404, "manager": 404, "admin": 404}


@pytest.fixture
def onboarded(team, member, admin, fake):
    """Team Alpha as if Kennel had onboarded it (steps done, the member's account made), on the fake."""
    project = fake.create_project(name="alpha-kennel", description="Kennel team alpha: Alpha")
    team.openstack_project_id = project.id
    team.save()
    onboarding = OnboardingFactory(
        team=team,
        requested_by=admin,
        state=Onboarding.State.FAILED,
        auth_url="http://127.0.0.1:5000/v3",
        region_name="RegionOne",
        interface="public",
    )
    OnboardingStepFactory(onboarding=onboarding, status="failed", message="boom")
    keystone = fake.create_user(name="member", description="Kennel: portal user member")
    CloudAccountFactory(user=member, keystone_name="member", keystone_user_id=keystone.id)
    return onboarding


def test_admin_pages_are_for_admins_only(people, onboarded):
    template = QuotaTemplateFactory(name="t", values={"cores": 4})
    for url in (
        "/onboarding/",
        "/onboarding/new/",
        "/onboarding/templates/",
        "/onboarding/templates/new/",
        f"/onboarding/templates/{template.pk}/",
        "/onboarding/orphans/",
    ):
        check_matrix(people, url, ADMIN_ONLY)


def test_a_teams_people_follow_its_chain(people, onboarded):
    check_matrix(
        people,
        "/onboarding/teams/alpha/",
        {"anonymous": 302, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
    )
    check_matrix(
        people,
        "/teams/alpha/",
        {"anonymous": 302, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
    )


def test_only_admins_act_on_a_chain(people, onboarded):
    check_matrix(people, "/onboarding/teams/alpha/offboard/", {**TEAM_ACTION, "admin": 200})
    check_matrix(people, "/onboarding/teams/alpha/members/", {**TEAM_ACTION, "admin": 200})
    check_matrix(people, "/onboarding/teams/alpha/retry/", TEAM_ACTION, method="post")
    onboarded.refresh_from_db()
    assert onboarded.state == Onboarding.State.QUEUED  # the admin's retry went through, nobody else's


def test_credentials_are_their_owners_alone(people, onboarded):
    check_matrix(people, "/onboarding/teams/alpha/cloud/", OWN_ONLY)
    check_matrix(people, "/onboarding/teams/alpha/cloud/clouds.yaml", OWN_ONLY)
    check_matrix(people, "/onboarding/teams/alpha/cloud/openrc.sh", OWN_ONLY)
    check_matrix(
        people,
        "/api/v1/onboardings/alpha/credentials/",
        {"anonymous": 401, "member": 200, "outsider": 404, "manager": 404, "admin": 404},
        api=True,
    )


def test_the_downloaded_clouds_yaml_names_the_project_and_no_password(member, onboarded):
    client = Client()
    client.force_login(member)
    response = client.get("/onboarding/teams/alpha/cloud/clouds.yaml")
    assert response["Content-Disposition"] == 'attachment; filename="clouds.yaml"'
    entry = yaml.safe_load(response.content)["clouds"]["kennel-alpha"]
    assert (
        entry["auth"]["username"] == "member"
        and entry["auth"]["project_id"] == onboarded.team.openstack_project_id
    )
    assert "password" not in entry["auth"]


def test_the_api_is_scoped_like_the_pages(people, onboarded):
    check_matrix(people, "/api/v1/quota-templates/", ADMIN_ONLY_API, api=True)
    check_matrix(
        people,
        "/api/v1/onboardings/alpha/",
        {"anonymous": 401, "member": 200, "outsider": 404, "manager": 200, "admin": 200},
        api=True,
    )
    check_matrix(
        people, "/api/v1/onboardings/alpha/retry/", TEAM_ACTION_API, method="post", api=True, data={}
    )
    check_matrix(
        people,
        "/api/v1/onboardings/",
        {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 400},
        method="post",
        api=True,
        data={},
    )


def test_onboarding_through_the_api_refuses_unknown_people_and_starts_the_chain(admin, member, fake):
    client = Client()
    client.force_login(admin)
    refused = client.post(
        "/api/v1/onboardings/",
        {"name": "Gamma", "slug": "gamma", "members": ["nobody"]},
        content_type="application/json",
    )
    assert refused.status_code == 400 and "nobody" in str(refused.json()["members"])
    started = client.post(
        "/api/v1/onboardings/",
        {"name": "Gamma", "slug": "gamma", "members": ["member"], "leads": []},
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    assert started.json()["state"] == "queued" and len(started.json()["steps"]) == len(services.ONBOARD_STEPS)
    again = client.post(
        "/api/v1/onboardings/", {"name": "Gamma", "slug": "gamma"}, content_type="application/json"
    )
    assert again.status_code == 400 and "slug" in again.json()


def test_the_onboard_page_creates_the_team_and_shows_its_progress(admin, member, fake):
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/onboarding/new/", {"name": "Gamma", "slug": "gamma", "members": [member.pk]}, follow=True
    )
    assert response.status_code == 200
    onboarding = Onboarding.objects.get(team__slug="gamma")
    assert onboarding.team.memberships.filter(user=member).exists()
    page = client.get("/onboarding/teams/gamma/", HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in page.content.decode()  # polls while it works
    services.onboarding_advance(onboarding_id=onboarding.pk)
    page = client.get("/onboarding/teams/gamma/", HTTP_HX_REQUEST="true")
    assert 'data-state="done"' in page.content.decode() and "hx-trigger" not in page.content.decode()


def test_offboarding_without_the_typed_name_is_refused_on_the_page(admin, onboarded):
    client = Client()
    client.force_login(admin)
    onboarded.state = Onboarding.State.DONE
    onboarded.save()
    response = client.post("/onboarding/teams/alpha/offboard/", {"confirm": "beta"})
    assert response.status_code == 200 and "Type the team" in response.content.decode()
    onboarded.refresh_from_db()
    assert onboarded.state == Onboarding.State.DONE


def test_a_quota_template_with_a_bad_value_is_refused(admin, db):
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/api/v1/quota-templates/", {"name": "x", "values": {"cores": -1}}, content_type="application/json"
    )
    assert response.status_code == 400 and "cores" in str(response.json())
    response = client.post(
        "/api/v1/quota-templates/", {"name": "x", "values": {"gpus": 1}}, content_type="application/json"
    )
    assert response.status_code == 400 and "gpus" in str(response.json())
    ok = client.post("/onboarding/templates/new/", {"name": "small", "dim_cores": "8"})
    assert ok.status_code == 302 and QuotaTemplate.objects.get(name="small").values == {"cores": 8}


def test_every_other_action_is_guarded(people, onboarded, member):
    template = QuotaTemplateFactory(name="t", values={"cores": 4})
    admin_post = {"anonymous": 302, "member": 403, "outsider": 403, "manager": 403, "admin": 302}
    check_matrix(people, f"/onboarding/templates/{template.pk}/delete/", admin_post, method="post")
    check_matrix(people, "/onboarding/orphans/", admin_post, method="post")
    check_matrix(people, "/onboarding/teams/alpha/again/", TEAM_ACTION, method="post")
    own_post = {"anonymous": 302, "member": 302, "outsider": 404, "manager": 404, "admin": 404}
    check_matrix(people, "/onboarding/teams/alpha/cloud/password/show/", own_post, method="post")
    check_matrix(people, "/onboarding/teams/alpha/cloud/password/", own_post, method="post")
    assert CloudAccount.objects.get(user=member).password_state == CloudAccount.Password.SETTING
    # Last: the admin's removal takes the member out of the team.
    check_matrix(people, f"/onboarding/teams/alpha/members/{member.pk}/remove/", TEAM_ACTION, method="post")
    assert not onboarded.team.memberships.filter(user=member).exists()


def test_every_other_endpoint_is_guarded(people, onboarded, member):
    api_admin = {"anonymous": 401, "member": 403, "outsider": 403, "manager": 403, "admin": 202}
    check_matrix(people, "/api/v1/orphans/", api_admin, method="post", api=True)
    check_matrix(people, "/api/v1/orphans/", {**api_admin, "admin": 200}, api=True)
    check_matrix(
        people,
        "/api/v1/onboardings/",
        {"anonymous": 401, "member": 200, "outsider": 200, "manager": 200, "admin": 200},
        api=True,
    )
    body = {"username": member.username, "level": "lead"}
    check_matrix(
        people, "/api/v1/onboardings/alpha/members/", TEAM_ACTION_API, method="post", api=True, data=body
    )
    check_matrix(
        people,
        "/api/v1/onboardings/alpha/offboard/",
        {**TEAM_ACTION_API, "admin": 400},
        method="post",
        api=True,
        data={"confirm": "nope"},
    )
    check_matrix(
        people,
        "/api/v1/onboardings/alpha/members/remove/",
        TEAM_ACTION_API,
        method="post",
        api=True,
        data={"username": member.username},
    )


def test_the_api_list_shows_each_person_their_teams_chains(member, outsider, onboarded):
    for who, expected in ((member, ["alpha"]), (outsider, [])):
        client = Client()
        client.force_login(who)
        assert [o["team"] for o in client.get("/api/v1/onboardings/").json()["results"]] == expected


def test_the_orphans_page_lists_what_the_worker_found(admin, fake):
    fake.create_user(name="lost", description="Kennel: portal user lost")
    check = services.orphan_check_request(actor=admin)
    services.orphan_check_run_now(check_id=check.pk)
    client = Client()
    client.force_login(admin)
    page = client.get("/onboarding/orphans/").content.decode()
    assert "lost" in page and "no onboarded team" in page and "hx-trigger" not in page
    assert client.get("/api/v1/orphans/").json()["findings"][0]["name"] == "lost"


def test_a_member_sees_the_new_password_once_on_the_page(member, onboarded, fake):
    client = Client()
    client.force_login(member)
    client.post("/onboarding/teams/alpha/cloud/password/")
    polling = client.get("/onboarding/teams/alpha/cloud/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-state="setting"' in polling and "every 2s" in polling
    account = CloudAccount.objects.get(user=member)
    services.cloud_password_apply_run(account_id=account.pk)
    shown = client.post("/onboarding/teams/alpha/cloud/password/show/")
    assert shown["Cache-Control"] == "no-store"
    assert fake.password_of(account.keystone_user_id) in shown.content.decode()
    again = client.post("/onboarding/teams/alpha/cloud/password/show/", follow=True).content.decode()
    assert "no new password" in again and fake.password_of(account.keystone_user_id) not in again


def test_a_member_whose_account_is_not_made_yet_is_told_to_wait(member, onboarded):
    CloudAccount.objects.filter(user=member).delete()
    client = Client()
    client.force_login(member)
    page = client.get("/onboarding/teams/alpha/cloud/")
    assert page.status_code == 200 and 'data-testid="credentials-pending"' in page.content.decode()
    assert client.get("/onboarding/teams/alpha/cloud/clouds.yaml").status_code == 404


def test_the_password_api_is_the_owners_alone_and_shows_it_once(people, member, onboarded, fake):
    own = {"anonymous": 401, "member": 202, "outsider": 404, "manager": 404, "admin": 404}
    check_matrix(people, "/api/v1/onboardings/alpha/credentials/password/", own, method="post", api=True)
    services.cloud_password_apply_run(account_id=CloudAccount.objects.get(user=member).pk)
    client = Client()
    client.force_login(member)
    assert client.get("/api/v1/onboardings/alpha/credentials/password/").json()["state"] == "ready"
    shown = client.post("/api/v1/onboardings/alpha/credentials/password/show/")
    keystone_id = CloudAccount.objects.get(user=member).keystone_user_id
    assert shown.json() == {"password": fake.password_of(keystone_id)}
    assert client.post("/api/v1/onboardings/alpha/credentials/password/show/").status_code == 400
