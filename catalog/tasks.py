"""Celery tasks for the catalog: thin callers of catalog.services.

Retries only on an outage (``portal.worker.outage_retry``: capped, jittered backoff and a bound);
when the bound is reached the change or import fails with the reason on its row, and the admin
retries it. An import's steps run in one task; a second copy of the task finds it held and
returns, and ``image_imports_resume`` restarts imports a dead worker left.
"""

from __future__ import annotations

from functools import partial

from celery import shared_task

from catalog import services
from portal.worker import OUTAGE_ERRORS, outage_retry


@shared_task(bind=True, max_retries=None, acks_late=True)
def image_properties_apply(self, change_id: int) -> None:
    try:
        services.image_properties_apply(change_id=change_id)
    except OUTAGE_ERRORS as error:
        outage_retry(
            self,
            error,
            give_up=partial(services.image_properties_give_up, change_id=change_id),
        )


@shared_task(bind=True, max_retries=None, acks_late=True)
def image_import_run(self, import_id: int) -> None:
    try:
        services.image_import_advance(import_id=import_id)
    except OUTAGE_ERRORS as error:
        outage_retry(
            self,
            error,
            give_up=partial(services.image_import_give_up, import_id=import_id),
        )


@shared_task(bind=True, max_retries=None, acks_late=True)
def image_import_clean(self, import_id: int) -> None:
    try:
        services.image_import_clean(import_id=import_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error)  # at the bound: image_imports_resume cleans it again later


@shared_task(ignore_result=True)
def image_imports_resume() -> None:
    services.image_imports_resume()
