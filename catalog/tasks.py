"""Celery tasks for the catalog: thin callers of catalog.services.

Retries only on ``CloudUnavailable``, with the provisioning tasks' capped, jittered backoff and a
bound; when the bound is reached the change or import fails with the reason on its row, and the
admin retries it. An import's steps run in one task; a second copy of the task finds it held and
returns, and ``image_imports_resume`` restarts imports a dead worker left.
"""

from __future__ import annotations

from celery import shared_task

from catalog import services
from portal.cloud.gateway import CloudUnavailable
from provisioning.tasks import OUTAGE_RETRIES, _backoff


@shared_task(bind=True, max_retries=None, acks_late=True)
def image_properties_apply(self, change_id: int) -> None:
    try:
        services.image_properties_apply(change_id=change_id)
    except CloudUnavailable as error:
        if self.request.retries >= OUTAGE_RETRIES:
            services.image_properties_give_up(change_id=change_id, error=str(error))
            return
        raise self.retry(countdown=_backoff(self.request.retries)) from error


@shared_task(bind=True, max_retries=None, acks_late=True)
def image_import_run(self, import_id: int) -> None:
    try:
        services.image_import_advance(import_id=import_id)
    except CloudUnavailable as error:
        if self.request.retries >= OUTAGE_RETRIES:
            services.image_import_give_up(import_id=import_id, error=str(error))
            return
        raise self.retry(countdown=_backoff(self.request.retries)) from error


@shared_task(bind=True, max_retries=OUTAGE_RETRIES, acks_late=True)
def image_import_clean(self, import_id: int) -> None:
    try:
        services.image_import_clean(import_id=import_id)
    except CloudUnavailable as error:
        raise self.retry(countdown=_backoff(self.request.retries)) from error


@shared_task(ignore_result=True)
def image_imports_resume() -> None:
    services.image_imports_resume()
