from __future__ import annotations

import pytest

from kennel.celery import app
from portal.models import Membership
from quotas import services
from tests.provisioning.conftest import fake_cloud  # noqa: F401  (the same fake cloud, linked teams)


@pytest.fixture
def synced(fake_cloud):  # noqa: F811
    """The fake cloud with the teams' limits read into Kennel, as the periodic sync leaves them."""
    services.quota_sync()
    return fake_cloud


@pytest.fixture
def lead_member(member, team):
    """The ``member`` of the permission matrix, made a lead of the team (leads ask for quota)."""
    Membership.objects.filter(user=member, team=team).update(level=Membership.Level.LEAD)
    return member


@pytest.fixture
def pending(synced, lead_member, team):
    """An undecided request of team Alpha."""
    return services.quota_request_submit(actor=lead_member, team=team, values={"cores": 80}, reason="CI")


@pytest.fixture
def eager_tasks():
    """Tasks run in the test's process when their transaction commits, as a worker would run them."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
