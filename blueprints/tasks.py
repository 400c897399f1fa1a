"""Celery tasks for team services: thin callers of blueprints.services.

A change is driven by ``service_advance``, one step per run, looking again every few seconds while VMs
build or are deleted (provisioning's own tasks do that). A worker killed mid-change leaves the service
busy with an old heartbeat; beat's ``services_resume`` enqueues it again.
"""

from __future__ import annotations

from functools import partial

from celery import shared_task

from blueprints import services
from portal.worker import OUTAGE_ERRORS, outage_retry

POLL_SECONDS = 2


@shared_task(bind=True, max_retries=None, acks_late=True)
def service_advance(self, service_id: int) -> None:
    try:
        finished = services.service_advance(service_id=service_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error, give_up=partial(services.service_give_up, service_id=service_id))
        return
    if not finished:
        raise self.retry(countdown=POLL_SECONDS)


@shared_task(ignore_result=True)
def services_resume() -> None:
    services.services_resume()
    services.services_repair()
