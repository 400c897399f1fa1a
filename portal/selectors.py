"""Reads for people, teams, the audit log and the portal's own health."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, QuerySet

from portal.access import Action, restrict
from portal.models import AuditEvent, Team, User

HEARTBEAT_KEY = "worker-heartbeat"


def heartbeat_key(queue: str) -> str:
    """Where the heartbeat of one Celery queue's workers is kept (portal.services.worker_heartbeat_record)."""
    return f"{HEARTBEAT_KEY}:{queue}"


CLOUD_CHECK_KEY = "cloud-check"
# The cloud check runs every minute; older than this, its answer no longer says anything.
CLOUD_CHECK_MAX_AGE = 300


def team_list(*, user: User) -> QuerySet[Team]:
    # Explicit order: Meta.ordering does not apply to a GROUP BY query.
    return restrict(user, Team.objects.all()).annotate(member_count=Count("memberships")).order_by("name")


def team_get(*, user: User, slug: str, action: Action = Action.VIEW) -> Team:
    """The team with this slug if the user may act on it; Team.DoesNotExist otherwise (a 404)."""
    return restrict(user, Team.objects.all(), action).get(slug=slug)


def people_list(*, user: User) -> QuerySet[User]:
    """The people the user may see, with their teams, active ones first."""
    return (
        restrict(user, User.objects.all())
        .prefetch_related("memberships__team")
        .order_by("-is_active", "username")
    )


def audit_event_list(*, user: User) -> QuerySet[AuditEvent]:
    return restrict(user, AuditEvent.objects.all()).select_related("actor", "team")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    # An essential check failing makes /health/ answer 503 (a load balancer takes the web out); the
    # cloud is not essential: while it is away the portal still serves pages and accepts requests.
    essential: bool = True


def health_checks() -> list[Check]:
    """Database, Redis, Celery worker (by the heartbeat the worker writes every 30 s via beat) and
    the cloud (as the worker last found it, every minute: the web never calls the cloud for this)."""
    checks: list[Check] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks.append(Check("database", True, connection.vendor))
    except Exception as exc:  # any failure is the answer, not an error of the health page
        checks.append(Check("database", False, str(exc)[:200]))
    try:
        beat = cache.get(HEARTBEAT_KEY)
        checks.append(Check("redis", True, "reachable"))
    except Exception as exc:
        checks.append(Check("redis", False, str(exc)[:200]))
        checks.append(Check("worker", False, "unknown: Redis is down"))
        checks.append(Check("cloud", False, "unknown: Redis is down", essential=False))
        return checks
    if beat is None:
        checks.append(Check("worker", False, "no heartbeat yet: is a worker and beat running?"))
    else:
        age = time.time() - float(beat)
        fresh = age <= settings.KENNEL_HEARTBEAT_MAX_AGE
        checks.append(Check("worker", fresh, f"last heartbeat {age:.0f} s ago"))
    checks.append(_cloud_check())
    return checks


def _cloud_check() -> Check:
    try:
        found = cache.get(CLOUD_CHECK_KEY)
    except Exception as exc:
        return Check("cloud", False, str(exc)[:200], essential=False)
    if not found:
        return Check("cloud", False, "not checked yet: is a worker and beat running?", essential=False)
    age = time.time() - float(found["at"])
    if age > CLOUD_CHECK_MAX_AGE:
        return Check("cloud", False, f"last checked {age:.0f} s ago: is a worker running?", essential=False)
    detail = f"{found['detail']} ({age:.0f} s ago)"
    return Check("cloud", bool(found["ok"]), detail, essential=False)
