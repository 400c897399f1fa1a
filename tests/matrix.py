"""The permission matrix every view and endpoint is checked with.

Who asks: anonymous, a developer in the object's team (``member``), a developer of another team
(``outsider``), a manager and an admin. Each test says what each of them gets; the helper asks as
each in turn and reports every mismatch at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.test import Client

WHO = ("anonymous", "member", "outsider", "manager", "admin")


def check_matrix(
    people: Mapping[str, object],
    url: str,
    expected: Mapping[str, int],
    *,
    method: str = "get",
    data: dict | None = None,
    api: bool = False,
) -> None:
    """Assert the HTTP status each person gets for ``method url``. ``expected`` must name everyone."""
    assert set(expected) == set(WHO), f"the matrix must name each of {WHO}"
    mismatches = []
    for who in WHO:
        client = Client()
        if who != "anonymous":
            client.force_login(people[who])
        kwargs = {"content_type": "application/json"} if api and data is not None else {}
        response = getattr(client, method)(url, data=data, **kwargs)
        if response.status_code != expected[who]:
            mismatches.append(f"{who}: got {response.status_code}, expected {expected[who]}")
    assert not mismatches, f"{method.upper()} {url}\n" + "\n".join(mismatches)
