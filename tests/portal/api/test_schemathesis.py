"""schemathesis over the whole OpenAPI schema, as each role, in-process (Django's WSGI app in the test's
database transaction), against the throwaway estate of conftest.py: no response is a 5xx, and every
response matches the schema. Derandomized (a fixed seed), so a failure reproduces; bounded by
``KENNEL_FUZZ_EXAMPLES`` cases per operation, positive and negative mixed (``pytest -m schemathesis``)."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.portal.api.operations import Operation, openapi

pytestmark = [pytest.mark.django_db, pytest.mark.schemathesis]

# Cases per operation: 3 keeps the four roles well within ~3 minutes on 2 cores (4 took 3 min on a
# busy machine); raise it for a deeper look.
EXAMPLES = int(os.environ.get("KENNEL_FUZZ_EXAMPLES", "3"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _segment(path: str) -> str:
    return Operation("GET", path, False, ()).collection


def _strategy(operation, known: dict[str, list]):
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    options = [operation.as_strategy(mode) for mode in modes]
    names = [p.name for p in operation.path_parameters]
    values = known.get(_segment(operation.path), [])
    if names and values:
        # Real rows too, not only ids that do not exist.
        options += [operation.as_strategy(path_parameters={names[0]: value}) for value in values]
    return st.one_of(options)


class Run:
    """What one role's run saw: cases per operation, status codes, and the failures with their cause."""

    def __init__(self) -> None:
        self.cases = 0
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.exceptions: list[BaseException] = []

    def note_exception(self, sender, request=None, **kwargs) -> None:
        """Django's got_request_exception: keep what a 500 raised, to name it in the failure."""
        self.exceptions.append(sys.exc_info()[1])


def _explore(operation, *, role: str, estate, run: Run) -> None:
    """Up to EXAMPLES generated cases (positive, negative, on real rows) against one operation."""

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=_strategy(operation, estate.known))
    def explore(case):
        run.cases += 1
        errors_before = len(run.exceptions)
        response = case.call(headers={"Authorization": f"Bearer {estate.key(role)}"})
        run.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as failed:
            cause = run.exceptions[errors_before:]
            run.failures.append(
                f"{operation.label} {response.status_code}: "
                + "; ".join(f"{f.title}: {f.message[:400]}" for f in failed.exceptions)
                + (f"\n  raised {cause[0]!r}" if cause else "")
                + f"\n  {case.as_curl_command()[:600]}"
            )

    explore()


@pytest.fixture
def in_process_app():
    """Django's WSGI handler, without closing the test's connection after each request (as Django's
    test client does too)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.parametrize("role", ["developer", "lead", "manager", "admin"])
def test_no_server_error_and_schema_conformance(role, estate, in_process_app, capsys, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    schema = schemathesis.openapi.from_dict(openapi())
    schema.app = in_process_app
    run = Run()
    signals.got_request_exception.connect(run.note_exception)
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so the other operations still find the rows.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    try:
        for operation in operations:
            _explore(operation, role=role, estate=estate, run=run)
    finally:
        signals.got_request_exception.disconnect(run.note_exception)
    elapsed = time.monotonic() - started
    server_errors = sum(n for code, n in run.statuses.items() if code >= 500)
    with capsys.disabled():
        print(
            f"\nschemathesis as {role}: {run.cases} cases on {len(operations)} operations "
            f"in {elapsed:.1f} s; "
            f"{server_errors} responses 5xx; {len(run.failures)} failures; "
            f"statuses {dict(sorted(run.statuses.items()))}"
        )
    assert run.cases >= len(operations) > 90, "every operation was tried"
    assert server_errors == 0 and not run.failures, "\n\n".join(run.failures[:40])
