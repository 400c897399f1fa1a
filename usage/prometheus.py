"""The one gateway to Prometheus: its HTTP API, instant and range queries of PromQL.

Kennel reads Prometheus and never stores raw samples. Configured by ``KENNEL_PROMETHEUS_URL`` (with
optional basic auth or a bearer token); :func:`prometheus` is None when it is not configured, and every
caller must then say that metrics are not configured. A Prometheus that is down, slow or answers
garbage raises :class:`PrometheusUnavailable`; a query it refuses raises :class:`PrometheusQueryError`
(a bug in Kennel's PromQL, never the user's input: no user text reaches a query).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.cache import cache


class PrometheusUnavailable(Exception):
    """Prometheus did not answer, timed out, or answered something that is not its API."""


class PrometheusQueryError(Exception):
    """Prometheus answered and refused the query (HTTP 400/422 with its error)."""


@dataclass(frozen=True)
class Sample:
    """One series of an instant query: its labels and value (NaN when Prometheus says so)."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and (unix time, value) points, oldest first."""

    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]


# An instant query's answer as a table: column (the value of one label, e.g. ``figure``) -> row (the
# value of another, e.g. the VM's ``uuid``) -> value. Small to keep and quick to read: a list of 2,000
# VMs is a few dicts of floats, not 8,000 objects.
Table = dict[str, dict[str, float]]


class Prometheus(Protocol):
    def query(self, expr: str, *, at: float | None = None, fresh: bool = False) -> list[Sample]: ...

    def kept(self, expr: str) -> list[Sample] | None: ...

    def kept_table(self, expr: str, *, row: str, column: str) -> Table | None: ...

    def query_table(
        self, expr: str, *, row: str, column: str, at: float | None = None, fresh: bool = False
    ) -> Table: ...

    def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[Series]: ...


def _number(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class HttpPrometheus:
    """Prometheus's HTTP API (``/api/v1/query``, ``/api/v1/query_range``), queries sent as POST forms
    so a long one never meets a URL length limit."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "User-Agent": "kennel"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif username:
            pair = f"{username}:{password or ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    def _post(self, path: str, form: dict[str, str]) -> dict:
        request = urllib.request.Request(  # noqa: S310 -- the configured http(s) URL, checked in settings
            f"{self.url}{path}",
            data=urllib.parse.urlencode(form).encode(),
            headers={**self.headers, "Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                body = json.load(answer)
        except urllib.error.HTTPError as error:
            detail = _error_of(error)
            if error.code in (400, 422):
                raise PrometheusQueryError(detail) from None
            raise PrometheusUnavailable(f"HTTP {error.code}: {detail}") from None
        except (OSError, ValueError) as error:  # refused, timed out, reset, not JSON
            raise PrometheusUnavailable(
                str(getattr(error, "reason", error)) or type(error).__name__
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success" or "data" not in body:
            raise PrometheusUnavailable("the answer is not Prometheus's API")
        return body["data"]

    def query(self, expr: str, *, at: float | None = None, fresh: bool = False) -> list[Sample]:
        """(``fresh``: always asked; only a cache tells the difference.)"""
        form = {"query": expr, "timeout": f"{self.timeout:g}s"}
        if at is not None:
            form["time"] = f"{at:.3f}"
        data = self._post("/api/v1/query", form)
        if data.get("resultType") == "scalar":
            return [Sample({}, _number(data["result"][1]))]
        return [Sample(dict(item["metric"]), _number(item["value"][1])) for item in data.get("result", [])]

    def query_table(
        self, expr: str, *, row: str, column: str, at: float | None = None, fresh: bool = False
    ) -> Table:
        """The instant query's series by ``column`` then ``row`` label; series without the row label,
        and NaN values, are left out. (``fresh``: always asked; only a cache tells the difference.)"""
        form = {"query": expr, "timeout": f"{self.timeout:g}s"}
        if at is not None:
            form["time"] = f"{at:.3f}"
        data = self._post("/api/v1/query", form)
        table: Table = {}
        for item in data.get("result", []):
            labels, value = item["metric"], _number(item["value"][1])
            key = labels.get(row)
            if key and not math.isnan(value):
                table.setdefault(labels.get(column, ""), {})[key] = value
        return table

    def kept(self, expr: str) -> list[Sample] | None:
        """Nothing is kept without a cache."""
        return None

    def kept_table(self, expr: str, *, row: str, column: str) -> Table | None:
        return None

    def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[Series]:
        form = {
            "query": expr,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
            "timeout": f"{self.timeout:g}s",
        }
        data = self._post("/api/v1/query_range", form)
        return [
            Series(dict(item["metric"]), tuple((float(t), _number(v)) for t, v in item.get("values", [])))
            for item in data.get("result", [])
        ]


def _error_of(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(error).get("error", error.reason))
    except (OSError, ValueError, AttributeError):
        return str(error.reason)


class CachedPrometheus:
    """Answers kept in Django's cache for a few seconds (KENNEL_PROMETHEUS_CACHE_SECONDS, about one
    scrape interval: Prometheus has nothing newer before the next scrape), so a page reloaded, or read
    by many, asks once. Failures are not kept; a query at a given instant (``at``) is never cached."""

    def __init__(self, inner: HttpPrometheus, *, seconds: int) -> None:
        self.inner, self.seconds = inner, seconds

    def _key(self, *parts: object) -> str:
        text = "\n".join(str(p) for p in (self.inner.url, *parts))
        return "prometheus:" + hashlib.sha256(text.encode()).hexdigest()

    def query(self, expr: str, *, at: float | None = None, fresh: bool = False) -> list[Sample]:
        """``fresh``: as for :meth:`query_table`."""
        if at is not None:
            return self.inner.query(expr, at=at)
        key = self._key("query", expr)
        found = None if fresh else cache.get(key)
        if found is None:
            found = self.inner.query(expr)
            cache.set(key, found, self.seconds * (2 if fresh else 1))
        return found

    def kept(self, expr: str) -> list[Sample] | None:
        """The answer kept for ``expr``, or None: never asks Prometheus."""
        return cache.get(self._key("query", expr))

    def kept_table(self, expr: str, *, row: str, column: str) -> Table | None:
        return cache.get(self._key("table", expr, row, column))

    def query_table(
        self, expr: str, *, row: str, column: str, at: float | None = None, fresh: bool = False
    ) -> Table:
        """``fresh``: asked whatever is kept, and kept twice as long (a worker renews it every
        ``seconds``: the pages always find it)."""
        if at is not None:
            return self.inner.query_table(expr, row=row, column=column, at=at)
        key = self._key("table", expr, row, column)
        found = None if fresh else cache.get(key)
        if found is None:
            found = self.inner.query_table(expr, row=row, column=column)
            cache.set(key, found, self.seconds * (2 if fresh else 1))
        return found

    def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[Series]:
        key = self._key("range", expr, start, end, step)
        found = cache.get(key)
        if found is None:
            found = self.inner.query_range(expr, start=start, end=end, step=step)
            cache.set(key, found, self.seconds)
        return found


def prometheus(*, timeout: float | None = None) -> Prometheus | None:
    """The configured Prometheus, or None when ``KENNEL_PROMETHEUS_URL`` is not set."""
    if not settings.KENNEL_PROMETHEUS_URL:
        return None
    client = HttpPrometheus(
        settings.KENNEL_PROMETHEUS_URL,
        username=settings.KENNEL_PROMETHEUS_USERNAME,
        password=settings.KENNEL_PROMETHEUS_PASSWORD,
        token=settings.KENNEL_PROMETHEUS_TOKEN,
        timeout=timeout or settings.KENNEL_PROMETHEUS_TIMEOUT,
    )
    seconds = int(settings.KENNEL_PROMETHEUS_CACHE_SECONDS)
    return CachedPrometheus(client, seconds=seconds) if seconds > 0 else client
