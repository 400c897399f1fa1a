"""Reads that compose several apps, for the top floor's pages."""

from __future__ import annotations

from django.db.models import Count

from inventory.selectors import server_list, utilization_by_architecture
from portal.access import restrict
from portal.models import User
from portal.selectors import audit_event_list, team_list


def landing_summary(*, user: User) -> dict:
    """What the signed-in user's landing page shows; each role's template picks its part."""
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
