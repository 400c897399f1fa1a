"""A company account that leaves the directory's groups loses its role in the team's cloud project,
as when an admin keeps someone out (the fake cloud; the directory is the real slapd of tests/conftest.py)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from onboarding import services, tasks
from onboarding.models import CloudAccount
from portal.directory_sync import directory_people_sync
from portal.models import User
from tests.onboarding.worker import run

pytestmark = pytest.mark.django_db


def test_leaving_the_directory_groups_removes_the_cloud_role(
    fake, onboard, ldap_settings, slapd, django_capture_on_commit_callbacks, monkeypatch
):
    ldap_settings.KENNEL_LDAP_TEAM_GROUPS = {"alpha-devs": ("gamma", "member")}
    onboarding = run(onboard("gamma"))
    project_id = onboarding.team.openstack_project_id
    synced: list[int] = []
    monkeypatch.setattr(tasks.team_roles_sync, "delay", lambda team_id: synced.append(team_id))

    with django_capture_on_commit_callbacks(execute=True):
        Client().post(reverse("login"), {"username": "carol", "password": "carol-secret"})
    carol = User.objects.get(username="carol")
    assert carol.teams.filter(pk=onboarding.team.pk).exists() and synced == [onboarding.team.pk]
    services.team_roles_sync_run(team_id=onboarding.team.pk)
    keystone_id = CloudAccount.objects.get(user=carol).keystone_user_id
    assert keystone_id in {a.user_id for a in fake.list_role_assignments(project_id=project_id)}

    slapd.set_group_members("alpha-devs", ["bob", "member"])
    try:
        synced.clear()
        with django_capture_on_commit_callbacks(execute=True):
            directory_people_sync()
    finally:
        slapd.set_group_members("alpha-devs", ["bob", "carol", "member"])
    assert set(synced) == {onboarding.team.pk}  # the same hook as an admin's "keep out"
    services.team_roles_sync_run(team_id=onboarding.team.pk)
    assert keystone_id not in {a.user_id for a in fake.list_role_assignments(project_id=project_id)}
