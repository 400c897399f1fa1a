"""Kennel's log lines as `make run` and production write them (settings.LOGGING's console handler):
each line once, and a traceback only for what went wrong inside Kennel, never for a refused request."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import Client


@contextmanager
def console_output() -> Iterator[io.StringIO]:
    """What the root's console handler (settings.LOGGING) writes meanwhile."""
    (handler,) = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)


@pytest.mark.django_db
def test_a_refused_page_logs_one_line_without_a_traceback(member, settings):
    client = Client()
    client.force_login(member)
    settings.DEBUG = True  # as in `make run`, where Django's own console handler would write it again
    with console_output() as out:
        assert client.get("/inventory/servers/").status_code == 403
        assert client.get("/no-such-page/").status_code == 404
    text = out.getvalue()
    assert text.count("Forbidden (Permission denied): /inventory/servers/") == 1, text
    assert text.count("Not Found: /no-such-page/") == 1, text
    assert "Traceback" not in text, text


@pytest.mark.django_db
def test_a_server_error_keeps_its_traceback():
    with console_output() as out:
        try:
            raise ZeroDivisionError("boom")
        except ZeroDivisionError:
            logging.getLogger("django.request").exception(
                "Internal Server Error: /x/", extra={"status_code": 500}
            )
    assert "Traceback" in out.getvalue() and "ZeroDivisionError: boom" in out.getvalue()
