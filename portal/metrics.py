"""Kennel's own Prometheus metrics: what the web, the workers and the cloud gateway count.

Counters and histograms are written where things happen (the middleware below, portal.task_signals, the
gateway's session in portal.cloud.openstack). With several processes (gunicorn workers, Celery's pool)
each process keeps its own counts; set ``PROMETHEUS_MULTIPROC_DIR`` to a directory shared by the web
and the workers of one machine (emptied before they start) and ``/metrics`` adds them all up
(prometheus-client's multiprocess mode). Without it, ``/metrics`` shows the serving process only, which
is what ``runserver`` needs.

Gauges of the estate (VMs, BMCs, mirror ages) and queue lengths are computed when Prometheus scrapes,
never kept in a process (``Collector``s handed to ``metrics_exposition``). Labels are bounded: the
view's route name (never the raw path), the task's name, the cloud service's type.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

HTTP_REQUEST_SECONDS = Histogram(
    "kennel_http_request_duration_seconds",
    "Time the portal took to answer, by view (route name) and method.",
    ["view", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HTTP_RESPONSES = Counter(
    "kennel_http_responses",
    "Answers by view (route name), method and HTTP status.",
    ["view", "method", "status"],
)
TASKS = Counter(
    "kennel_celery_tasks",
    "Celery tasks finished, by task name and outcome (succeeded, failed, retried, ...).",
    ["task", "outcome"],
)
TASK_SECONDS = Histogram(
    "kennel_celery_task_duration_seconds",
    "Time a Celery task ran, by task name.",
    ["task"],
    buckets=(0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0),
)
CLOUD_REQUESTS = Counter(
    "kennel_cloud_requests",
    "HTTP requests to the cloud's APIs, by service type and status class (2xx, 4xx, 5xx, or failed when "
    "no answer came).",
    ["service", "code"],
)
CLOUD_ERRORS = Counter(
    "kennel_cloud_errors",
    "Cloud API requests that failed: no answer (connection, timeout) or a 5xx, by service type.",
    ["service"],
)

# Methods beyond these are counted as "other", so a client cannot grow the label set.
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def view_label(request: HttpRequest) -> str:
    """The route name of the view that answered (``provisioning:vm-detail``); ``unmatched`` when no
    route matched (a 404 before any view)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name


def method_label(method: str | None) -> str:
    return method if method in _METHODS else "other"


class RequestMetricsMiddleware:
    """Times every answer and counts it by view, method and status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        view, method = view_label(request), method_label(request.method)
        HTTP_REQUEST_SECONDS.labels(view, method).observe(time.perf_counter() - started)
        HTTP_RESPONSES.labels(view, method, str(response.status_code)).inc()
        return response


def cloud_request_observe(service: str, status: int | None) -> None:
    """Count one request to the cloud (the gateway calls this for every HTTP request it sends);
    ``status`` None: no answer came."""
    if status is None:
        CLOUD_REQUESTS.labels(service, "failed").inc()
        CLOUD_ERRORS.labels(service).inc()
        return
    CLOUD_REQUESTS.labels(service, f"{status // 100}xx").inc()
    if status >= 500:
        CLOUD_ERRORS.labels(service).inc()


def task_observe(task: str, outcome: str, seconds: float | None) -> None:
    TASKS.labels(task, outcome).inc()
    if seconds is not None:
        TASK_SECONDS.labels(task).observe(seconds)


# --- scrape time -------------------------------------------------------------------------------------
# kombu's Redis transport keeps a queue in a list named after it, and messages with a priority in lists
# named queue + "\x06\x16" + priority (priority steps 0, 3, 6, 9).
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


class QueueLengthCollector(Collector):
    """``kennel_queue_length{queue}``: messages waiting in each Celery queue (Redis LLEN), and
    ``kennel_broker_up`` (0 when Redis did not answer)."""

    def collect(self) -> Iterator[Metric]:
        import redis

        up = GaugeMetricFamily("kennel_broker_up", "Whether the broker (Redis) answered at scrape time.")
        lengths = GaugeMetricFamily(
            "kennel_queue_length", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        try:
            client = redis.Redis.from_url(
                settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2
            )
            with client.pipeline(transaction=False) as pipe:
                for queue in settings.KENNEL_TASK_QUEUES:
                    pipe.llen(queue)
                    for step in _PRIORITY_STEPS:
                        pipe.llen(f"{queue}{_PRIORITY_SEPARATOR}{step}")
                answers = pipe.execute()
            client.close()
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        per_queue = 1 + len(_PRIORITY_STEPS)
        for index, queue in enumerate(settings.KENNEL_TASK_QUEUES):
            lengths.add_metric([queue], sum(answers[index * per_queue : (index + 1) * per_queue]))
        up.add_metric([], 1)
        yield up
        yield lengths


class _ThisProcess(Collector):
    """The default registry (this process's counters), when there is no multiprocess directory."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def metrics_exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text Prometheus reads: every process's counters (multiprocess mode) or this one's, the queue
    lengths, and the ``extra`` collectors (the estate's gauges)."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueLengthCollector())
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


def worker_metrics_serve(listen: str) -> None:
    """Serve this machine's worker counters on ``host:port`` (a thread of the worker's main process),
    for workers on a machine without a web process. With Celery's prefork pool the counts are in the
    children: ``PROMETHEUS_MULTIPROC_DIR`` must be set for the main process to read them."""
    from prometheus_client import start_http_server

    host, _colon, port = listen.rpartition(":")
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
