"""The worker toolkit (portal.worker): retrying an outage with backoff and a bound, and claiming a
row's work. Each is tested here once; the apps' tests check that their tasks and services use them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import shared_task
from django.utils import timezone

from kennel.celery import app
from onboarding.models import Onboarding
from portal.cloud.gateway import CloudRequestError, CloudUnavailable
from portal.worker import (
    OUTAGE_ERRORS,
    OUTAGE_RETRIES,
    LostClaim,
    claim,
    claim_keep,
    claim_release,
    claim_take,
    claims_abandoned,
    outage_backoff,
    outage_retry,
    stale_before,
)
from tests.factories import TeamFactory, UserFactory


class _GaveUp(list):
    """What give_up was told (called as a give-up service is: ``error=`` the outage's text)."""

    def record(self, *, error: str) -> None:
        self.append(error)


# What the task below saw: the retry number of each run, and what give_up was told.
RUNS: list[int] = []
GAVE_UP = _GaveUp()


@shared_task(bind=True, max_retries=None)
def flaky(self, outages: int, bound: int, give_up: bool) -> str:
    """Meets ``outages`` outages, then works."""
    RUNS.append(self.request.retries)
    try:
        if len(RUNS) <= outages:
            raise CloudUnavailable("nova-api: connection refused")
    except OUTAGE_ERRORS as error:
        outage_retry(self, error, bound=bound, give_up=GAVE_UP.record if give_up else None)
        return "stopped"
    return "done"


@pytest.fixture
def eager(monkeypatch):
    """Tasks run in the test's process, each retry at once (as a worker would, without the wait)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    waits: list[float] = []
    monkeypatch.setattr("portal.worker.outage.outage_backoff", lambda retries: waits.append(retries) or 0)
    RUNS.clear()
    GAVE_UP.clear()
    yield waits
    app.conf.task_always_eager = previous


def test_an_outage_shorter_than_the_bound_is_waited_out(eager):
    assert flaky.apply(args=(3, OUTAGE_RETRIES, True)).get() == "done"
    assert RUNS == [0, 1, 2, 3]
    assert eager == [0, 1, 2]  # one backoff per outage, growing with the retry number
    assert GAVE_UP == []


def test_at_the_bound_give_up_puts_the_reason_on_the_row_and_the_task_ends_quietly(eager):
    assert flaky.apply(args=(100, 4, True)).get() == "stopped"
    assert RUNS == [0, 1, 2, 3, 4]  # the first try and four retries
    assert GAVE_UP == ["nova-api: connection refused"]


def test_without_give_up_the_task_stops_at_the_bound_and_leaves_the_row_to_a_resume_task(eager):
    assert flaky.apply(args=(100, 2, False)).get() == "stopped"
    assert RUNS == [0, 1, 2]
    assert GAVE_UP == []


def test_only_an_outage_counts_as_one():
    assert issubclass(CloudUnavailable, OUTAGE_ERRORS)
    assert not issubclass(CloudRequestError, OUTAGE_ERRORS)  # a refusal lands on the row at once


def test_backoff_grows_is_capped_and_jittered(settings):
    settings.KENNEL_CLOUD_BACKOFF_CAP = 60
    for retries in range(10):
        expected = min(2 ** (retries + 1), 60)
        waits = {outage_backoff(retries) for _ in range(20)}
        assert all(0.8 * expected <= wait <= 1.2 * expected for wait in waits)
        assert len(waits) > 1  # jitter: many waiting rows do not return at once


@pytest.fixture
def row(db):
    return Onboarding.objects.create(team=TeamFactory(), requested_by=UserFactory())


def test_a_conditional_claim_is_won_once(row):
    queued = Onboarding.objects.filter(pk=row.pk, state=Onboarding.State.QUEUED)
    assert claim(queued, state=Onboarding.State.RUNNING) is True
    assert claim(queued, state=Onboarding.State.RUNNING) is False  # a duplicated task finds nothing
    assert claim(Onboarding.objects.filter(pk=row.pk + 1000), state=Onboarding.State.RUNNING) is False


def test_a_live_hold_keeps_others_out_and_a_stale_one_is_taken_over(row, settings):
    rows = Onboarding.objects.filter(pk=row.pk)
    assert claim_take(rows, "first")
    assert not claim_take(rows, "second")  # the first worker is alive
    assert claim_take(rows, "first")  # taking it again refreshes the hold
    rows.update(heartbeat_at=timezone.now() - timedelta(seconds=settings.KENNEL_STALE_WORK_SECONDS + 1))
    assert claim_take(rows, "second")  # the first worker died
    assert rows.get().claim == "second"


def test_a_worker_that_lost_its_hold_is_told_at_its_next_write_and_writes_nothing(row):
    rows = Onboarding.objects.filter(pk=row.pk)
    assert claim_take(rows, "first")
    claim_keep(rows, "first", message="step 1")
    rows.update(claim="second")  # taken over while the first was presumed dead
    with pytest.raises(LostClaim):
        claim_keep(rows, "first", message="step 2")
    assert not claim_release(rows, "first", message="done")
    assert (rows.get().claim, rows.get().message) == ("second", "step 1")
    assert claim_release(rows, "second", message="done")
    assert (rows.get().claim, rows.get().message) == ("", "done")


def test_stale_work_is_what_was_left_alone_longer_than_the_setting(settings):
    settings.KENNEL_STALE_WORK_SECONDS = 300
    before = timezone.now()
    cutoff = stale_before()
    assert before - timedelta(seconds=301) < cutoff <= timezone.now() - timedelta(seconds=300)
    assert stale_before(timedelta(minutes=1)) > cutoff


def test_a_resume_finds_holds_whose_worker_died_and_work_nobody_picked_up(row, settings):
    rows = Onboarding.objects.filter(pk=row.pk)
    long_ago = timezone.now() - timedelta(seconds=settings.KENNEL_STALE_WORK_SECONDS + 1)
    assert not claims_abandoned(rows, waiting_since="updated_at").exists()  # just enqueued
    rows.update(updated_at=timezone.now() - timedelta(minutes=3))
    assert claims_abandoned(rows, waiting_since="updated_at").exists()  # its message was lost
    assert claim_take(rows, "worker")
    assert not claims_abandoned(rows, waiting_since="updated_at").exists()  # held by a live worker
    rows.update(heartbeat_at=long_ago)
    assert claims_abandoned(rows, waiting_since="updated_at").exists()  # its worker died
