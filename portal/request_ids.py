"""One id per piece of work, followed from the web request into the tasks it enqueues and the cloud calls
those tasks make, so one VM's story can be read across web, worker and cloud logs.

The id has OpenStack's own form, ``req-<uuid4>``: the gateway sends it as ``X-OpenStack-Request-ID``
(oslo.context accepts a global request id only in that form), so Nova's and Neutron's logs carry the same
id as Kennel's. A request may bring its own in ``X-Request-ID`` (from a proxy or a client that wants to
follow its call); anything but that form, or a bare UUID, is ignored and a new id is made.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HTTP_HEADER = "X-Request-ID"
# The Celery message header that carries the id into a task (portal.queue, the outbox, retries).
TASK_HEADER = "kennel_request_id"

_FORM = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_BARE_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

_current: ContextVar[str | None] = ContextVar("kennel_request_id", default=None)


def request_id_new() -> str:
    """A fresh id, ``req-<uuid4>``."""
    return f"req-{uuid.uuid4()}"


def request_id_parse(value: object) -> str | None:
    """``value`` as a request id if it is one (``req-<uuid>``, or a bare UUID, which gets the prefix);
    None for anything else (too long, other characters, not a UUID)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    candidate = value.strip().lower()
    if _FORM.match(candidate):
        return candidate
    if _BARE_UUID.match(candidate):
        return f"req-{candidate}"
    return None


def request_id_get() -> str | None:
    """The id of the work this thread (or task) is doing now, if any."""
    return _current.get()


@contextmanager
def request_id_bound(value: str) -> Iterator[str]:
    """Inside the block, ``request_id_get()`` is ``value`` (the middleware and the task signals use it)."""
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


def request_id_set(value: str | None) -> object:
    """Set the id without a block; returns a token for ``request_id_reset`` (Celery's signals come in
    pairs, not as one block)."""
    return _current.set(value)


def request_id_reset(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
