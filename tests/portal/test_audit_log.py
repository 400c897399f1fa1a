"""The audit log as people search it: words in the action, the reason given, a link to the object,
and dates typed as people type them (an unreadable one is refused with a message, never ignored)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.services import audit_record
from tests.factories import ServerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(people):
    server = ServerFactory(name="X7")
    audit_record(
        actor=people["admin"],
        action="server.power",
        target=server,
        source="web",
        detail={"reason": "BIOS update"},
    )
    audit_record(actor=None, action="server.power_execute", target=server, source="worker")
    audit_record(actor=people["member"], action="vm.request", source="api")
    return server


def _actions(page: str) -> list[str]:
    table = page[page.index('data-testid="audit-table"') :]
    return [a for a in ("server.power_execute", "server.power", "vm.request") if f"<td>{a}</td>" in table]


@pytest.mark.parametrize(
    ("words", "found"),
    [
        ("power", ["server.power_execute", "server.power"]),
        ("server power", ["server.power_execute", "server.power"]),
        ("Power execute", ["server.power_execute"]),
        ("vm", ["vm.request"]),
        ("reboot", []),
    ],
)
def test_the_action_is_searched_by_words(client, people, entries, words, found):
    client.force_login(people["manager"])

    page = client.get(reverse("audit-list"), {"action": words}).text

    assert _actions(page) == found


def test_an_entry_shows_its_reason_and_links_to_its_object(client, people, entries):
    client.force_login(people["manager"])

    page = client.get(reverse("audit-list"), {"action": "server.power"}).text

    assert '<td data-testid="audit-reason">BIOS update</td>' in page
    link = reverse("inventory:server-detail", args=[entries.pk])
    assert f'<a href="{link}" data-testid="audit-target">X7</a>' in page


@pytest.mark.parametrize("htmx", [False, True])
def test_an_unreadable_date_is_refused_with_a_message(client, people, entries, htmx):
    client.force_login(people["manager"])
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = client.get(reverse("audit-list"), {"since": "last tuesday"}, **headers)

    assert response.status_code == 200
    assert "Could not read the date “last tuesday”" in response.text
    assert 'data-testid="filter-errors"' in response.text


@pytest.mark.parametrize(
    ("since", "until", "count"),
    [
        ("2000-01-01", "", 3),
        ("", "2000-01-01", 0),
        ("2000-01-01 12:30", "", 3),
        ("2000-01-01T00:00:00Z", "", 3),
    ],
)
def test_dates_are_read_as_people_write_them(client, people, entries, since, until, count):
    client.force_login(people["manager"])

    page = client.get(reverse("audit-list"), {"since": since, "until": until}).text

    assert "Could not read" not in page
    assert len(_actions(page)) == count


def test_the_api_searches_by_words_and_refuses_an_unreadable_date(client, people, entries):
    client.force_login(people["manager"])

    found = client.get("/api/v1/audit/", {"action": "power"}).json()
    refused = client.get("/api/v1/audit/", {"until": "soon"})

    assert sorted(e["action"] for e in found["results"]) == ["server.power", "server.power_execute"]
    assert refused.status_code == 400 and "Could not read the date" in refused.text
