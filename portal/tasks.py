"""Periodic portal work. Tasks are thin: they call one service."""

from celery import shared_task

from portal import services


@shared_task(ignore_result=True)
def heartbeat() -> None:
    services.worker_heartbeat_record()


@shared_task(ignore_result=True)
def cloud_check() -> None:
    services.cloud_reachability_record()
