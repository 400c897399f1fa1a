"""The cloud mirror's bookkeeping: one run of a part at a time, and how fresh each part is.

Beat fires the mirror's tasks on a fixed schedule; a run that takes longer than its period (a slow or
large cloud) must not be joined by a second one reading and writing the same rows. ``mirror_run``
claims the part's ``CloudSync`` row with a conditional UPDATE that must change exactly one row; a run
that finds it held returns at once. A claim older than ``stale_after`` belongs to a worker that died
mid-run and is taken over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.db.models import Q
from django.utils import timezone

from portal.cloud.gateway import CloudError
from portal.worker import claim
from provisioning.models import CloudSync


class Part(StrEnum):
    CATALOG = "catalog"  # images, flavors, networks
    HOSTS = "hosts"  # hypervisors (compute services) and Placement
    SERVERS = "servers"  # every project's servers
    QUOTAS = "quotas"  # teams' limits and the cloud's usage counts


@dataclass
class MirrorRun:
    """A claimed run: ``started_at`` is when its reads began (the data's "as of")."""

    part: Part
    started_at: datetime
    previous: CloudSync  # the row as it was before this run: the last success, the last full listing
    full: bool = False  # set by the run when it read everything (servers: no changes-since)


@contextmanager
def mirror_run(part: Part, *, stale_after: timedelta = timedelta(minutes=5)) -> Iterator[MirrorRun | None]:
    """Claim ``part`` for one run; yields None when another run holds it (skip this one).

    On success the part's ``succeeded_at`` becomes the run's start (and ``full_at`` too when the run
    says it was full) and the error is cleared; a ``CloudError`` is recorded on the row and re-raised.
    The claim is released in every case."""
    now = timezone.now()
    previous, _ = CloudSync.objects.get_or_create(part=part)
    free = Q(running_since__isnull=True) | Q(running_since__lt=now - stale_after)
    if not claim(CloudSync.objects.filter(part=part).filter(free), running_since=now, attempted_at=now):
        yield None
        return
    run = MirrorRun(part=part, started_at=now, previous=previous)
    mine = CloudSync.objects.filter(part=part, running_since=now)
    try:
        yield run
    except CloudError as error:
        mine.update(error=str(error)[:2000], running_since=None)
        raise
    except BaseException:
        mine.update(running_since=None)
        raise
    fields: dict[str, object] = {"succeeded_at": now, "error": "", "running_since": None}
    if run.full:
        fields["full_at"] = now
    mine.update(**fields)


@dataclass(frozen=True)
class Freshness:
    """How old a part of the mirror is, for the pages that show it."""

    synced_at: datetime | None
    error: str  # why the latest try failed ("" when it did not)

    @property
    def age_seconds(self) -> int | None:
        if self.synced_at is None:
            return None
        return max(int((timezone.now() - self.synced_at).total_seconds()), 0)


def mirror_freshness(part: Part) -> Freshness:
    """When ``part`` last succeeded, and the last error if the latest try failed."""
    row = CloudSync.objects.filter(part=part).only("succeeded_at", "error").first()
    return Freshness(row.succeeded_at, row.error) if row else Freshness(None, "")
