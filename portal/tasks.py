"""Periodic portal work. Tasks are thin: they call one service."""

from celery import shared_task

from portal import services


@shared_task(ignore_result=True)
def heartbeat() -> None:
    services.worker_heartbeat_record()
