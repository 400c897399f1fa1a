"""How workers wait out an outage: which errors count as one, backoff with jitter, and a bound.

A task that meets an outage calls ``outage_retry`` from its ``except OUTAGE_ERRORS`` block. It retries
after ``outage_backoff(attempt)`` seconds (exponential, capped at KENNEL_CLOUD_BACKOFF_CAP, with jitter
so that many waiting rows do not return at once), at most ``bound`` times (``OUTAGE_RETRIES``: about
15 minutes). At the bound the task's ``give_up`` puts a readable state on the row (the import failed,
saying the cloud stayed unreachable, ...); a task without one leaves its row waiting, as it says, and a
periodic resume task picks it up again, so an outage delays work and never drops it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from celery import Task
from django.conf import settings

from portal.cloud.gateway import CloudUnavailable

logger = logging.getLogger(__name__)

# What counts as an outage: the cloud cannot be reached (connection refused or reset, a timeout, a 503
# from a service behind it). A refusal (a 4xx, a quota) is not one: it lands on the row at once.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (CloudUnavailable,)
OUTAGE_RETRIES = 8  # backoff 2, 4 ... 256 s (capped): about 15 minutes, then give up or resume later


def outage_backoff(retries: int) -> float:
    """Seconds to wait before retry number ``retries + 1``: exponential, capped at
    KENNEL_CLOUD_BACKOFF_CAP, with jitter so that many waiting rows do not return at once."""
    return min(2 ** (retries + 1), settings.KENNEL_CLOUD_BACKOFF_CAP) * random.uniform(0.8, 1.2)  # noqa: S311


def outage_retry(
    task: Task,
    error: Exception,
    *,
    give_up: Callable[..., object] | None = None,
    bound: int = OUTAGE_RETRIES,
    attempt: int | None = None,
    kwargs: dict[str, Any] | None = None,
) -> None:
    """Retry ``task`` after an outage (``error``), or stop at the bound.

    Below ``bound`` retries this raises Celery's Retry (call it as the last statement of the ``except``
    block). At the bound it calls ``give_up`` with the error's text, which writes a readable state on
    the row, and returns: the task then ends quietly. Without ``give_up`` the row keeps the waiting state
    the service gave it, for a resume task. ``attempt`` counts the outages when the task also retries
    for other reasons (polling), and ``kwargs`` are then the task's arguments for the next run."""
    retries = task.request.retries if attempt is None else attempt
    if retries >= bound:
        logger.warning("%s gave up after %d outage retries: %s", task.name, retries, error)
        if give_up is not None:
            give_up(error=str(error))
        return
    raise task.retry(countdown=outage_backoff(retries), kwargs=kwargs) from error
