"""Periodic portal work. Tasks are thin: they call one service."""

from celery import shared_task

from portal import queue, services
from portal.directory_sync import directory_people_sync_scheduled
from portal.worker import outage_retry

MAIL_TRIES = 5  # a sign-in link waits out a mail server that is away this many times


# Beat sends one to each queue (settings.KENNEL_TASK_QUEUES), so each queue's workers prove they run.
@shared_task(ignore_result=True)
def heartbeat(queue: str = "housekeeping") -> None:
    services.worker_heartbeat_record(queue=queue)


@shared_task(ignore_result=True)
def cloud_check() -> None:
    services.cloud_reachability_record()


@shared_task(ignore_result=True)
def queue_outbox_flush() -> None:
    # Tasks the broker could not take while it was away; beat runs this every half minute.
    queue.queue_outbox_flush()


@shared_task(ignore_result=True)
def directory_sync() -> None:
    # Company accounts follow the directory: who left it or its groups is kept out (portal.directory_sync).
    directory_people_sync_scheduled()


# On the mail queue: a mail server that is away is retried with backoff and holds up nothing else.
@shared_task(bind=True, max_retries=None, acks_late=True, ignore_result=True)
def sign_in_link_mail(self, user_id: int) -> None:
    try:
        services.sign_in_link_email(user_id=user_id)
    except OSError as error:
        outage_retry(self, error, bound=MAIL_TRIES)
