"""The enqueue helper keeps what a broker that is away cannot take; the 503 answers need no database.
(tests/faults/ stops the real Redis and PostgreSQL; these are the quick checks of the same code.)"""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import RequestFactory
from kombu.exceptions import OperationalError as BrokerOperationalError

from portal import queue
from portal.middleware import DatabaseUnavailableMiddleware
from portal.models import QueuedTask
from portal.tasks import heartbeat


def _broker_away(*args, **kwargs):
    raise BrokerOperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.mark.django_db
def test_a_task_the_broker_cannot_take_is_kept_and_sent_when_it_is_back(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(heartbeat, "delay", _broker_away)
    queue.work_delayed_reset()
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue(heartbeat)
    assert queue.work_delayed()
    kept = QueuedTask.objects.get()
    assert (kept.task, kept.args, kept.kwargs) == ("portal.tasks.heartbeat", [], {})

    sent = []
    monkeypatch.setattr("portal.queue.celery_app.send_task", lambda name, **kw: sent.append(name))
    assert queue.queue_outbox_flush() == 1
    assert sent == ["portal.tasks.heartbeat"] and not QueuedTask.objects.exists()


@pytest.mark.django_db
def test_the_outbox_stops_at_the_first_task_still_refused(monkeypatch):
    QueuedTask.objects.create(task="portal.tasks.heartbeat")
    QueuedTask.objects.create(task="portal.tasks.heartbeat")
    monkeypatch.setattr("portal.queue.celery_app.send_task", _broker_away)
    assert queue.queue_outbox_flush() == 0
    assert [t.attempts for t in QueuedTask.objects.all()] == [1, 0]


@pytest.mark.parametrize(
    ("path", "kind", "text"),
    [
        ("/vms/", "text/html", "Temporarily unavailable"),
        ("/api/v1/vms/", "application/json", '"code": "database_unavailable"'),
    ],
)
def test_a_database_that_is_away_is_a_503_that_needs_no_database(path, kind, text):
    # No django_db mark: pytest-django fails the test on any database access.
    request = RequestFactory().get(path)
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    response = middleware.process_exception(request, OperationalError("server closed the connection"))
    assert response is not None and response.status_code == 503
    assert response["Retry-After"] and response["Content-Type"].startswith(kind)
    assert text in response.content.decode()
