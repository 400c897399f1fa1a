"""Celery tasks for quotas: thin callers of quotas.services.

Applying retries only on an outage (``portal.worker.outage_retry``: backoff, jitter and a bound); after the
bound the request stays "applying" and ``quota_requests_resume`` picks it up later, so an outage delays
a quota change and never drops it. A request waiting behind another of its team looks again shortly.
"""

from __future__ import annotations

from celery import shared_task

from portal.worker import OUTAGE_ERRORS, outage_retry
from quotas import services

BUSY_SECONDS = 3
BUSY_RETRIES = 200  # ten minutes behind other requests of the team, then the resume task takes over
MAIL_TRIES = 5
SYNC_TRIES = 3


@shared_task(bind=True, max_retries=None, acks_late=True)
def quota_request_apply(self, request_id: int) -> None:
    try:
        outcome = services.quota_request_apply(request_id=request_id)
    except OUTAGE_ERRORS as error:
        outage_retry(
            self, error
        )  # at the bound the request stays applying; quota_requests_resume re-enqueues it
        return
    if outcome == services.ApplyOutcome.BUSY and self.request.retries < BUSY_RETRIES:
        raise self.retry(countdown=BUSY_SECONDS)


@shared_task(bind=True, max_retries=None, acks_late=True)
def quota_request_notify(self, request_id: int, kind: str) -> None:
    try:
        services.quota_request_email(request_id=request_id, kind=kind)
    except OSError as error:  # the mail server is away: try again later, a few times
        outage_retry(self, error, bound=MAIL_TRIES)


@shared_task(bind=True, max_retries=None, acks_late=True)
def quota_sync(self) -> None:
    try:
        read = services.quota_mirror_refresh()
    except OUTAGE_ERRORS as error:
        outage_retry(self, error, bound=SYNC_TRIES)  # then the next scheduled sync tries again
        return
    if read is not None:
        services.team_usage_sample_record()


@shared_task
def quota_requests_resume() -> None:
    services.quota_requests_resume()
