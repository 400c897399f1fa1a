"""Periodic inventory work. Tasks are thin: they call one service."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from inventory import drain_migration, history, services
from portal.worker import OUTAGE_ERRORS, outage_retry


# A BMC's own failure is stored on its row by the service; only a database hiccup is worth a retry.
@shared_task(
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=5,
    retry_jitter=True,
)
def bmc_poll() -> None:
    services.bmc_poll_scheduled()


# No retry: a power action the BMC may already have done is not repeated blindly; the row says what happened.
@shared_task(ignore_result=True)
def power_request_run(request_id: int) -> None:
    services.power_request_execute(request_id=request_id)


@shared_task(ignore_result=True)
def power_requests_recover() -> None:
    services.power_requests_recover()


# An outage is waited out (the row says so) with backoff and a bound, then server_drains_resume takes
# over; any other cloud error lands on the row (the admin asks again). A repeated task claims nothing.
@shared_task(bind=True, max_retries=None, acks_late=True, ignore_result=True)
def server_drain_run(self, server_id: int) -> None:
    try:
        services.server_drain_advance(server_id=server_id)
    except OUTAGE_ERRORS as error:
        outage_retry(
            self, error
        )  # at the bound the row waits as requested; server_drains_resume re-enqueues it


# Moving VMs off a drained host: each step is a task of its own, queued again while a move runs; an
# outage is retried with backoff and a bound, then server_drains_resume restarts the drain.
@shared_task(bind=True, max_retries=None, acks_late=True, ignore_result=True)
def server_drain_migrate_run(self, server_id: int) -> None:
    try:
        delay = drain_migration.server_drain_migrate_step(server_id=server_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error)
        return
    if delay is not None:
        server_drain_migrate_run.apply_async((server_id,), countdown=delay)


@shared_task(ignore_result=True)
def server_drains_resume() -> None:
    services.server_drains_resume()


@shared_task(ignore_result=True)
def server_drains_check() -> None:
    services.server_drains_check_all()


# Every 5 minutes. A failed snapshot is not retried: the next one, 5 minutes later, is fresher.
@shared_task(ignore_result=True)
def utilization_snapshot() -> None:
    history.utilization_snapshot_record()


@shared_task(
    ignore_result=True, autoretry_for=(OperationalError, InterfaceError), max_retries=3, retry_backoff=5
)
def utilization_history_compact() -> None:
    history.utilization_history_compact()
