"""bulk_update_fields writes exactly the named fields of each row, of every kind the mirror and the BMC
poll write (text, JSON, booleans, times, numbers, nulls, foreign keys), and leaves the rest alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.models import HardwareState
from portal.bulk import BATCH, bulk_update_fields
from provisioning.models import UnmanagedServer
from tests.factories import HardwareStateFactory, TeamFactory, UnmanagedServerFactory

pytestmark = pytest.mark.django_db


def test_each_kind_of_field_is_written_and_the_others_are_left_alone():
    later = timezone.now() + timedelta(hours=1)
    rows = [HardwareStateFactory(power_watts=100.0, health="ok") for _ in range(3)]
    for n, row in enumerate(rows):
        row.reachable = n != 1
        row.sensors = [{"name": f"CPU{n}", "kind": "temperature", "value": 40.5 + n, "unit": "C"}]
        row.max_temperature_c = None if n == 2 else 40.5 + n
        row.failures = n
        row.next_poll_at = later
        row.error = "it's “quoted”; DROP TABLE x" if n == 1 else ""
        row.health = "critical"  # not among the fields written

    assert (
        bulk_update_fields(
            HardwareState,
            rows,
            ["reachable", "sensors", "max_temperature_c", "failures", "next_poll_at", "error"],
        )
        == 3
    )

    for n, row in enumerate(rows):
        saved = HardwareState.objects.get(pk=row.pk)
        assert saved.reachable is (n != 1)
        assert saved.sensors == [{"name": f"CPU{n}", "kind": "temperature", "value": 40.5 + n, "unit": "C"}]
        assert saved.max_temperature_c == (None if n == 2 else 40.5 + n)
        assert (saved.failures, saved.next_poll_at, saved.power_watts) == (n, later, 100.0)
        assert saved.error == ("it's “quoted”; DROP TABLE x" if n == 1 else "")
        assert saved.health == "ok"


def test_foreign_keys_and_many_rows_are_written_in_batches():
    team = TeamFactory()
    rows = [UnmanagedServerFactory() for _ in range(BATCH + 3)]
    for n, row in enumerate(rows):
        row.team, row.name, row.vcpus = team, f"moved-{n}", n
    with CaptureQueriesContext(connection) as queries:
        written = bulk_update_fields(UnmanagedServer, rows, ["team", "name", "vcpus"])
    assert written == BATCH + 3
    updates = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    if connection.vendor == "postgresql":  # two statements, not a CASE per row and field
        assert len(updates) == 2
    assert UnmanagedServer.objects.filter(team=team).count() == BATCH + 3
    assert UnmanagedServer.objects.get(pk=rows[-1].pk).name == f"moved-{BATCH + 2}"
    assert UnmanagedServer.objects.get(pk=rows[7].pk).vcpus == 7


def test_nothing_to_write_asks_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert bulk_update_fields(UnmanagedServer, [], ["name"]) == 0
    assert not queries.captured_queries
