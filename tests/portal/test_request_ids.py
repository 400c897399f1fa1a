"""Request ids: given or made by the web, returned to the caller, carried into the tasks a request
enqueues (message headers, the outbox) and into the cloud calls those tasks make; JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from django.conf import settings
from django.test import Client

from portal.logs import JsonFormatter, RequestIdFilter
from portal.models import QueuedTask
from portal.queue import enqueue_now, queue_outbox_flush
from portal.request_ids import TASK_HEADER, request_id_bound, request_id_parse
from portal.tasks import heartbeat

FORM = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GIVEN = "req-0b5c7f0e-3c1d-4a43-9d7e-2f1a7c9e5b11"


@contextmanager
def json_lines(logger_name: str) -> Iterator[list[dict]]:
    """What ``logger_name`` writes meanwhile, through Kennel's JSON formatter, parsed line by line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_the_id_is_openstacks_form_and_anything_else_is_refused():
    assert request_id_parse(GIVEN.upper()) == GIVEN
    assert request_id_parse(GIVEN.removeprefix("req-")) == GIVEN  # a bare UUID gets the prefix
    for bad in ("", "req-1", "x" * 500, GIVEN + "\n", "req-../../etc", None, 42, GIVEN.replace("-", "_")):
        assert request_id_parse(bad) is None, bad


@pytest.mark.django_db
def test_a_request_returns_the_id_it_was_given_or_a_new_one_and_logs_one_json_line():
    with json_lines("kennel.requests") as lines:
        given = Client(headers={"X-Request-ID": GIVEN}).get("/login/?next=/vms/")
        refused = Client(headers={"X-Request-ID": "<script>"}).get("/login/")
        none = Client().get("/login/")
    assert given["X-Request-ID"] == GIVEN
    assert FORM.match(refused["X-Request-ID"]) and FORM.match(none["X-Request-ID"])
    assert refused["X-Request-ID"] != none["X-Request-ID"]
    assert [line["request_id"] for line in lines] == [GIVEN, refused["X-Request-ID"], none["X-Request-ID"]]
    first = lines[0]
    assert first["message"] == "GET /login/ 200"
    assert (first["logger"], first["level"], first["view"], first["status"]) == (
        "kennel.requests",
        "INFO",
        "login",
        200,
    )
    assert first["method"] == "GET" and first["client"] == "127.0.0.1" and first["duration_ms"] >= 0


def test_a_json_line_carries_the_bound_id_extras_and_the_traceback():
    with json_lines("kennel.test") as lines, request_id_bound(GIVEN):
        logger = logging.getLogger("kennel.test")
        logger.warning("vm %s: %s", 7, "stuck", extra={"vm": 7})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    assert lines[0]["message"] == "vm 7: stuck" and lines[0]["vm"] == 7 and lines[0]["request_id"] == GIVEN
    assert lines[1]["level"] == "ERROR" and "ValueError: boom" in lines[1]["exception"]


def _messages(queue: str) -> list[dict]:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    # kombu pushes on the left and takes from the right: oldest last.
    return [json.loads(raw) for raw in reversed(broker.lrange(queue, 0, -1))]


@pytest.fixture
def empty_housekeeping_queue():
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("housekeeping")
    yield
    broker.delete("housekeeping")


@pytest.mark.django_db
def test_a_task_enqueued_during_a_request_carries_its_id_in_the_message(empty_housekeeping_queue):
    with request_id_bound(GIVEN):
        enqueue_now(heartbeat)
    enqueue_now(heartbeat)  # outside any request: no id (the worker makes one)
    first, second = _messages("housekeeping")
    assert first["headers"][TASK_HEADER] == GIVEN
    assert TASK_HEADER not in second["headers"]


@pytest.mark.django_db
def test_the_outbox_sends_a_kept_task_with_the_id_of_the_request_that_asked_for_it(empty_housekeeping_queue):
    QueuedTask.objects.create(task="portal.tasks.heartbeat", args=[], kwargs={}, request_id=GIVEN)
    with request_id_bound("req-11111111-2222-4333-8444-555555555555"):  # the flush's own
        assert queue_outbox_flush() == 1
    (message,) = _messages("housekeeping")
    assert message["headers"][TASK_HEADER] == GIVEN
    assert message["headers"]["task"] == "portal.tasks.heartbeat"
