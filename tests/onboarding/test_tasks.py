"""The tasks: an outage is retried with a bound and then lands on the row; a waiting step is looked at
again; membership changes reach the cloud through the role-sync task."""

from __future__ import annotations

import pytest

from kennel.celery import app
from onboarding import tasks
from onboarding.models import Onboarding, OnboardingStep
from portal.worker import OUTAGE_RETRIES


@pytest.fixture
def eager_tasks(monkeypatch):
    """Tasks run in the test's process, retries at once (no countdown), as a worker would run them."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    monkeypatch.setattr("portal.worker.outage.outage_backoff", lambda retries: 0)
    yield
    app.conf.task_always_eager = previous


def test_an_outage_past_the_bound_fails_the_chain_saying_what_to_do(fake, onboard, eager_tasks):
    onboarding = onboard("gamma")
    fake.available = False
    tasks.onboarding_run.apply(args=(onboarding.pk,))
    onboarding.refresh_from_db()
    assert onboarding.state == Onboarding.State.FAILED
    assert "stayed unreachable" in onboarding.message and "Retry" in onboarding.message
    step = onboarding.steps.get(name=OnboardingStep.Name.PROJECT)
    assert step.status == OnboardingStep.Status.FAILED
    assert fake.calls["find_project"] == OUTAGE_RETRIES + 1  # the first try and each retry


def test_a_short_outage_is_waited_out(fake, onboard, eager_tasks):
    onboarding = onboard("gamma")
    fake.fail_next("create_network")  # one timeout
    tasks.onboarding_run.apply(args=(onboarding.pk,))
    onboarding.refresh_from_db()
    assert onboarding.state == Onboarding.State.DONE, onboarding.message


def test_a_membership_change_reaches_the_cloud_through_the_task(
    fake, onboard, crew, eager_tasks, django_capture_on_commit_callbacks
):
    from onboarding import services
    from tests.onboarding.worker import run

    onboarding = run(onboard("gamma"))
    with django_capture_on_commit_callbacks(execute=True):
        services.team_member_remove(actor=crew["admin"], team=onboarding.team, user=crew["lead"])
    assert fake.find_user("lea") is None
