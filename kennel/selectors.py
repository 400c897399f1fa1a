"""Reads that compose several apps, for the top floor's pages."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from inventory.selectors import server_list, utilization_by_architecture
from portal.access import restrict
from portal.models import Role, User
from portal.selectors import audit_event_list, team_list
from provisioning.models import VmRequest
from provisioning.selectors import vm_list
from quotas.models import QuotaRequest
from quotas.selectors import quota_request_list, quota_tables

# How much a developer's home page shows of each list (each links to the whole list).
HOME_VMS = 10
HOME_TEAMS = 6
HOME_REQUESTS = 10
# A lease "ends soon" within this many days (the reminder goes out before that: provisioning's leases).
LEASE_SOON_DAYS = 7


def landing_summary(*, user: User) -> dict:
    """What the signed-in user's landing page shows; each role's template picks its part."""
    if user.portal_role == Role.DEVELOPER:
        return developer_home(user=user)
    teams = team_list(user=user)
    servers = server_list(user=user)
    return {
        "teams": teams,
        "servers_by_architecture": servers.values("architecture")
        .annotate(count=Count("id"))
        .order_by("architecture"),
        "servers_by_datacenter": servers.values("datacenter__name")
        .annotate(count=Count("id"))
        .order_by("datacenter__name"),
        "server_count": servers.count(),
        "utilization_by_architecture": utilization_by_architecture(user=user),
        "recent_events": audit_event_list(user=user)[:10],
        "user_count": restrict(user, User.objects.filter(is_active=True)).count(),
    }


def developer_home(*, user: User) -> dict:
    """A developer's landing page: their VMs, their teams' quota, what they asked for that is still
    open (VMs being built, quota requests) and their leases that end soon. Every list is limited, and
    the number of queries does not grow with the number of VMs or teams (tests/kennel/test_home.py)."""
    now = timezone.now()
    mine = vm_list(user=user).filter(owner=user).exclude(status=VmRequest.Status.DELETED)
    teams = list(team_list(user=user)[:HOME_TEAMS])
    return {
        "my_vms": list(mine.order_by("-created_at")[:HOME_VMS]),
        "my_vm_count": mine.count(),
        "teams": teams,
        "team_count": team_list(user=user).count(),
        "quota_tables": quota_tables(teams),
        "vms_in_progress": list(
            mine.filter(status__in=(VmRequest.Status.QUEUED, VmRequest.Status.BUILDING)).order_by(
                "created_at"
            )[:HOME_REQUESTS]
        ),
        "open_quota_requests": list(
            quota_request_list(user=user)
            .filter(status__in=QuotaRequest.OPEN)
            .order_by("-created_at")[:HOME_REQUESTS]
        ),
        "leases_ending": list(
            mine.filter(expires_at__isnull=False, expires_at__lte=now + timedelta(days=LEASE_SOON_DAYS))
            .exclude(status=VmRequest.Status.FAILED)
            .order_by("expires_at")[:HOME_REQUESTS]
        ),
        "lease_soon_days": LEASE_SOON_DAYS,
    }
