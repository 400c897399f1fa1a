"""Celery tasks for quotas: thin callers of quotas.services.

Applying retries only on ``CloudUnavailable`` (an outage), with backoff, jitter and a bound; after the
bound the request stays "applying" and ``quota_requests_resume`` picks it up later, so an outage delays
a quota change and never drops it. A request waiting behind another of its team looks again shortly.
"""

from __future__ import annotations

from celery import shared_task

from portal.backoff import OUTAGE_RETRIES, outage_backoff
from portal.cloud.gateway import CloudUnavailable
from quotas import services

BUSY_SECONDS = 3
BUSY_RETRIES = 200  # ten minutes behind other requests of the team, then the resume task takes over


@shared_task(bind=True, max_retries=None, acks_late=True)
def quota_request_apply(self, request_id: int) -> None:
    try:
        outcome = services.quota_request_apply(request_id=request_id)
    except CloudUnavailable as error:
        if self.request.retries >= OUTAGE_RETRIES:
            return  # quota_requests_resume re-enqueues it
        raise self.retry(countdown=outage_backoff(self.request.retries)) from error
    if outcome == services.ApplyOutcome.BUSY and self.request.retries < BUSY_RETRIES:
        raise self.retry(countdown=BUSY_SECONDS)


@shared_task(bind=True, max_retries=5, acks_late=True)
def quota_request_notify(self, request_id: int, kind: str) -> None:
    try:
        services.quota_request_email(request_id=request_id, kind=kind)
    except OSError as error:  # the mail server is away: try again later
        raise self.retry(countdown=outage_backoff(self.request.retries)) from error


@shared_task(bind=True, max_retries=3, acks_late=True)
def quota_sync(self) -> None:
    try:
        read = services.quota_mirror_refresh()
    except CloudUnavailable as error:
        raise self.retry(countdown=outage_backoff(self.request.retries)) from error
    if read is not None:
        services.team_usage_sample_record()


@shared_task
def quota_requests_resume() -> None:
    services.quota_requests_resume()
