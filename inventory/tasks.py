"""Periodic inventory work. Tasks are thin: they call one service."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from inventory import history, services


# A BMC's own failure is stored on its row by the service; only a database hiccup is worth a retry.
@shared_task(
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=5,
    retry_jitter=True,
)
def bmc_poll() -> None:
    services.bmc_poll_all()


# No retry: a power action the BMC may already have done is not repeated blindly; the row says what happened.
@shared_task(ignore_result=True)
def power_request_run(request_id: int) -> None:
    services.power_request_execute(request_id=request_id)


# A cloud error lands on the row (the admin asks again); a repeated task finds nothing to claim.
@shared_task(ignore_result=True)
def server_drain_run(server_id: int) -> None:
    services.server_drain_advance(server_id=server_id)


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
