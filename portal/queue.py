"""The one way Kennel hands work to its workers: ``enqueue(task, *args)``, after the transaction commits.

When the broker (Redis) cannot take the message, the request is not lost and the person is not shown an
error: the task and its arguments are kept in ``QueuedTask``, the row it works on stays as it was
(queued, approved ...), the web says that work is delayed, and beat's ``queue_outbox_flush`` sends what
was kept once the broker is back. Tasks are safe to run twice, so a message sent twice does no harm.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import redis.exceptions
from celery import Task
from celery import current_app as celery_app
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerOperationalError

from portal.models import QueuedTask
from portal.request_ids import TASK_HEADER, request_id_get

logger = logging.getLogger(__name__)

# What a broker that is away raises when a message is published (kombu wraps most of them).
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    BrokerOperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
FLUSH_BATCH = 500

_state = threading.local()


def enqueue(task: Task, *args: Any, **kwargs: Any) -> None:
    """Send ``task(*args, **kwargs)`` to a worker once the current transaction commits (at once outside
    one). Arguments must be JSON values (ids, not model instances). Never raises for a broker that is
    away: the task is kept and sent later (see the module's docstring)."""
    transaction.on_commit(functools.partial(enqueue_now, task, *args, **kwargs))


def enqueue_now(task: Task, *args: Any, **kwargs: Any) -> None:
    """``enqueue`` without waiting for a commit: for workers' periodic tasks, which hold no transaction
    whose outcome the task depends on."""
    try:
        task.delay(*args, **kwargs)
    except BROKER_ERRORS as error:
        logger.warning("broker unavailable, %s kept for later: %s", task.name, error)
        QueuedTask.objects.create(
            task=task.name,
            args=list(args),
            kwargs=kwargs,
            error=str(error)[:2000],
            request_id=request_id_get() or "",
        )
        _state.delayed = True


def work_delayed_reset() -> None:
    """Forget what earlier requests of this thread kept (the middleware calls it per request)."""
    _state.delayed = False


def work_delayed() -> bool:
    """Whether work asked for in this thread since the last reset had to be kept for later."""
    return getattr(_state, "delayed", False)


def queue_outbox_flush() -> int:
    """Send the tasks kept while the broker was away, oldest first; stop at the first that still cannot
    be sent. Returns how many were sent. Two flushes at once skip each other's rows."""
    sent: list[int] = []
    with transaction.atomic():
        rows = list(QueuedTask.objects.select_for_update(skip_locked=True).order_by("pk")[:FLUSH_BATCH])
        for row in rows:
            try:
                celery_app.send_task(
                    row.task,
                    args=row.args,
                    kwargs=row.kwargs,
                    # The id of the request that asked for it, not the flush's own.
                    headers={TASK_HEADER: row.request_id} if row.request_id else None,
                )
            except BROKER_ERRORS as error:
                QueuedTask.objects.filter(pk=row.pk).update(
                    attempts=row.attempts + 1, error=str(error)[:2000]
                )
                break
            sent.append(row.pk)
        QueuedTask.objects.filter(pk__in=sent).delete()
    if sent:
        logger.info("sent %d task(s) kept while the broker was away", len(sent))
    return len(sent)
