"""Reads for the physical estate, always scoped to the asking user."""

from __future__ import annotations

from django.db.models import QuerySet

from inventory.models import Server
from portal.access import restrict
from portal.models import User


def server_list(*, user: User) -> QuerySet[Server]:
    return restrict(user, Server.objects.select_related("datacenter", "hardware_state"))
