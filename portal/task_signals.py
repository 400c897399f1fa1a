"""What happens around every Celery task, through Celery's signals (connected once, in PortalConfig.ready):

- publishing: the request id of the work that enqueues a task travels in the message's headers
  (``portal.request_ids.TASK_HEADER``), whoever publishes it (``portal.queue``, a retry, a chained step);
- before the task: that id becomes the task's (a task from beat, with none, gets a new one), so its
  log lines and its cloud calls carry it;
- after the task: it is counted by name and outcome, timed, and one log line says how it ended.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import signals

from portal import metrics
from portal.request_ids import (
    TASK_HEADER,
    request_id_get,
    request_id_new,
    request_id_parse,
    request_id_reset,
    request_id_set,
)

logger = logging.getLogger("kennel.tasks")

# Celery's states, as the words the metrics and logs use.
_OUTCOMES = {
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "RETRY": "retried",
    "IGNORED": "ignored",
    "REJECTED": "rejected",
    "REVOKED": "revoked",
}


@signals.worker_init.connect(dispatch_uid="kennel-worker-metrics")
def _worker_metrics(**kwargs: Any) -> None:
    from django.conf import settings

    if settings.KENNEL_WORKER_METRICS_LISTEN:
        metrics.worker_metrics_serve(settings.KENNEL_WORKER_METRICS_LISTEN)


@signals.before_task_publish.connect(dispatch_uid="kennel-request-id-publish")
def _request_id_into_headers(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = request_id_get()
    if headers is not None and request_id and not headers.get(TASK_HEADER):
        headers[TASK_HEADER] = request_id


def _incoming_request_id(task: Any) -> str | None:
    request = task.request
    value = getattr(request, TASK_HEADER, None)
    if value is None and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(TASK_HEADER)  # eager runs keep custom headers here
    return request_id_parse(value)


@signals.task_prerun.connect(dispatch_uid="kennel-task-prerun")
def _task_started(task: Any = None, **kwargs: Any) -> None:
    if task is None:
        return
    # A task run eagerly (tests, ``apply()``) belongs to the work that ran it.
    request_id = _incoming_request_id(task) or request_id_get() or request_id_new()
    task.request._kennel_token = request_id_set(request_id)
    task.request._kennel_started = time.perf_counter()


@signals.task_postrun.connect(dispatch_uid="kennel-task-postrun")
def _task_finished(task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    if task is None:
        return
    started = getattr(task.request, "_kennel_started", None)
    seconds = time.perf_counter() - started if started is not None else None
    outcome = _OUTCOMES.get(state or "", (state or "unknown").lower())
    metrics.task_observe(task.name, outcome, seconds)
    logger.info(
        "task %s %s in %.3f s",
        task.name,
        outcome,
        seconds or 0.0,
        extra={"outcome": outcome, "duration_s": round(seconds or 0.0, 3)},
    )
    token = getattr(task.request, "_kennel_token", None)
    if token is not None:
        task.request._kennel_token = None
        try:
            request_id_reset(token)
        except ValueError:  # set in another context (a thread pool's worker): leave it to be replaced
            request_id_set(None)
