"""How a worker claims work on a row, so a retried or duplicated task never does it twice.

Every claim is a conditional UPDATE that must change exactly one row (``claim``): ``filter(pk=...,
status=X).update(status=Y)`` moves a row out of the state only one worker may take it from. Long work
(a disk import, an onboarding chain) holds its row with a token in a ``claim`` column and a
``heartbeat_at`` it refreshes while it works (``claim_take``, ``claim_keep``, ``claim_release``): a hold
whose heartbeat is older than KENNEL_STALE_WORK_SECONDS belongs to a worker that died and is taken over
(``stale_after``), and the worker presumed dead finds its hold gone at its next write (``LostClaim``)
and stops quietly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone


class LostClaim(Exception):
    """Another worker took the row over (this one was presumed dead): stop quietly."""


def stale_after() -> timedelta:
    """Work without progress or heartbeat this long was left by a dead worker (KENNEL_STALE_WORK_SECONDS)."""
    return timedelta(seconds=settings.KENNEL_STALE_WORK_SECONDS)


def stale_before(older_than: timedelta | None = None) -> datetime:
    """The moment before which untouched work counts as left by a dead worker (``older_than`` ago, by
    default ``stale_after()``): what resume tasks pick up again."""
    return timezone.now() - (stale_after() if older_than is None else older_than)


# Work enqueued but never held this long lost its message (the broker was away, a worker died first).
NEVER_CLAIMED_AFTER = timedelta(minutes=2)


def claims_abandoned(rows: QuerySet[Any], *, waiting_since: str) -> QuerySet[Any]:
    """The rows of ``rows`` whose work no live worker does: held, but with a heartbeat older than
    ``stale_after()``, or never held although they have waited ``NEVER_CLAIMED_AFTER`` since their
    ``waiting_since`` field. What a resume task enqueues again."""
    never_held = {"heartbeat_at__isnull": True, f"{waiting_since}__lt": timezone.now() - NEVER_CLAIMED_AFTER}
    return rows.filter(Q(heartbeat_at__lt=stale_before()) | Q(**never_held))


def claim(rows: QuerySet[Any], **fields: Any) -> bool:
    """Write ``fields`` on the one row ``rows`` selects, if it still matches: True when this worker got
    it (exactly one row changed), False when another took it first or it is gone."""
    return rows.update(**fields) == 1


def claim_take(rows: QuerySet[Any], token: str) -> bool:
    """Hold the one row ``rows`` selects for ``token``, unless another worker holds it and is alive (its
    heartbeat younger than ``stale_after()``). Taking it again with the same token refreshes it."""
    now = timezone.now()
    free = Q(claim="") | Q(claim=token) | Q(heartbeat_at__lt=now - stale_after())
    return claim(rows.filter(free), claim=token, heartbeat_at=now)


def claim_keep(rows: QuerySet[Any], token: str, **fields: Any) -> None:
    """Refresh the hold's heartbeat and write ``fields``, if ``token`` still holds the row; LostClaim if
    another worker took it over."""
    fields.setdefault("heartbeat_at", timezone.now())
    if not claim(rows.filter(claim=token), **fields):
        raise LostClaim


def claim_release(rows: QuerySet[Any], token: str, **fields: Any) -> bool:
    """Let go of the row (writing ``fields`` with it) if ``token`` still holds it; False if it did not."""
    return claim(rows.filter(claim=token), claim="", **fields)
