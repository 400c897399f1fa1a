"""Kennel's log lines: plain text by default, or JSON, one event per line (``KENNEL_LOG_FORMAT=json``), for
the log tools operations already use. Every line carries the request id of the work it belongs to
(portal.request_ids) and, inside a Celery task, the task's name and id.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from portal.request_ids import request_id_get

# What every LogRecord has; anything else on a record came from ``extra=`` and is written as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "task", "task_id"}


def _current_task() -> tuple[str | None, str | None]:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - Celery is a dependency
        return None, None
    task = current_task
    if not task or getattr(task.request, "id", None) is None:
        return None, None
    return task.name, task.request.id


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` (``-`` when none), ``task`` and ``task_id`` on every record a handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_get() or "-"
        record.task, record.task_id = _current_task()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, the task when
    inside one, the exception's traceback, and whatever was passed as ``extra=``."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_get()
        if request_id and request_id != "-":
            event["request_id"] = request_id
        if getattr(record, "task", None):
            event["task"] = record.task
            event["task_id"] = record.task_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        return json.dumps(event, default=str, ensure_ascii=False)
