"""Reads for the physical estate, always scoped to the asking user."""

from __future__ import annotations

from django.db.models import QuerySet

from inventory.models import PowerRequest, Server
from portal.access import Capability, can, restrict
from portal.models import User


def server_list(*, user: User) -> QuerySet[Server]:
    return restrict(
        user, Server.objects.select_related("datacenter", "hardware_state", "drain", "drain__requested_by")
    )


def power_request_list(*, user: User) -> QuerySet[PowerRequest]:
    return restrict(user, PowerRequest.objects.select_related("server", "requested_by", "confirmed_by"))


def power_request_confirmable(*, user: User, request: PowerRequest) -> bool:
    """May ``user`` give ``request`` its second admin's confirmation? (The service checks again.)"""
    return (
        request.status == PowerRequest.Status.AWAITING_CONFIRMATION
        and request.requested_by_id != user.pk
        and can(user, Capability.POWER_OPERATE)
    )
