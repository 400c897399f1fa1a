"""The gateway's contract, against the real Prometheus (there is no fake): instant and range queries,
a refused query, a Prometheus that is away or answers garbage, and the credentials it sends."""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from exportersim.runner import free_port
from usage.prometheus import (
    HttpPrometheus,
    PrometheusQueryError,
    PrometheusUnavailable,
    prometheus,
)


def test_an_instant_query_returns_each_series_with_its_labels_and_value(metrics):
    samples = HttpPrometheus(metrics.url).query('up{job="node"}')
    assert {s.labels["instance"] for s in samples} == {"x1", "x2", "x3", "x4", "x5", "p1", "p2"}
    assert all(s.value == 1.0 for s in samples)


def test_a_query_at_a_time_matches_prometheus_own_answer(metrics):
    at = time.time() - 2
    ours = HttpPrometheus(metrics.url).query('node_memory_MemTotal_bytes{instance="x3"}', at=at)
    assert [s.value for s in ours] == [float(384 * 1024**3)]


def test_a_range_query_returns_points_step_apart(metrics):
    end = time.time()
    series = HttpPrometheus(metrics.url).query_range(
        'up{instance="x2",job="node"}', start=end - 4, end=end, step=1
    )
    assert len(series) == 1
    times = [t for t, _ in series[0].points]
    assert times == sorted(times) and all(b - a == pytest.approx(1.0) for a, b in itertools.pairwise(times))
    assert {v for _, v in series[0].points} == {1.0}


def test_a_table_is_each_series_value_by_two_of_its_labels(metrics):
    at = time.time() - 2
    expr = 'label_replace(node_memory_MemTotal_bytes, "figure", "memory", "", "") or up{job="node"}'
    table = HttpPrometheus(metrics.url).query_table(expr, row="instance", column="figure", at=at)
    samples = HttpPrometheus(metrics.url).query(expr, at=at)
    assert table == {
        "memory": {s.labels["instance"]: s.value for s in samples if s.labels.get("figure") == "memory"},
        "": {s.labels["instance"]: s.value for s in samples if "figure" not in s.labels},
    }
    assert table["memory"]["x3"] == float(384 * 1024**3) and len(table[""]) == 7


def test_a_scalar_and_nan_are_numbers(metrics):
    assert HttpPrometheus(metrics.url).query("scalar(vector(2))")[0].value == 2.0
    assert math.isnan(HttpPrometheus(metrics.url).query("0/0")[0].value)


def test_a_query_prometheus_refuses_is_a_query_error(metrics):
    with pytest.raises(PrometheusQueryError, match="parse error"):
        HttpPrometheus(metrics.url).query("sum(")


def test_a_prometheus_that_does_not_answer_is_unavailable():
    with pytest.raises(PrometheusUnavailable):
        HttpPrometheus(f"http://127.0.0.1:{free_port()}").query("up")


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict] = []
    body = b'{"status": "success", "data": {"resultType": "vector", "result": []}}'

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        type(self).seen.append({"auth": self.headers.get("Authorization"), "form": self.rfile.read(length)})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(type(self).body)


@pytest.fixture
def recorder():
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    _Recorder.body = b'{"status": "success", "data": {"resultType": "vector", "result": []}}'
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Recorder
    server.shutdown()


def test_basic_auth_and_bearer_token_come_from_the_settings(settings, recorder, tmp_path):
    url, seen = recorder
    settings.KENNEL_PROMETHEUS_URL = url
    settings.KENNEL_PROMETHEUS_USERNAME, settings.KENNEL_PROMETHEUS_PASSWORD = "kennel", "s3cret"
    settings.KENNEL_PROMETHEUS_TOKEN = None
    prometheus().query("up")
    settings.KENNEL_PROMETHEUS_TOKEN = "tok"
    prometheus().query("up")
    assert seen.seen[0]["auth"] == "Basic a2VubmVsOnMzY3JldA=="
    assert seen.seen[1]["auth"] == "Bearer tok"
    assert b"query=up" in seen.seen[0]["form"]


def test_an_answer_that_is_not_prometheus_is_unavailable(recorder):
    url, seen = recorder
    seen.body = b"<html>proxy error</html>"
    with pytest.raises(PrometheusUnavailable):
        HttpPrometheus(url).query("up")
    seen.body = json.dumps({"status": "error"}).encode()
    with pytest.raises(PrometheusUnavailable):
        HttpPrometheus(url).query("up")


def test_without_a_url_there_is_no_gateway(settings):
    settings.KENNEL_PROMETHEUS_URL = None
    assert prometheus() is None


def test_answers_are_kept_for_the_cache_seconds_and_failures_are_not(settings, recorder, clean_cache):
    url, seen = recorder
    settings.KENNEL_PROMETHEUS_URL = url
    settings.KENNEL_PROMETHEUS_CACHE_SECONDS = 30
    prometheus().query("up")
    prometheus().query("up")
    prometheus().query_range("up", start=0, end=60, step=30)
    prometheus().query_range("up", start=0, end=60, step=30)
    prometheus().query("up", at=1.0)  # an instant asked for is never a cached answer
    assert len(seen.seen) == 3
    prometheus().query_table("up", row="instance", column="figure")
    assert prometheus().query_table("up", row="instance", column="figure") == {}
    assert len(seen.seen) == 4
    seen.body = b"garbage"
    with pytest.raises(PrometheusUnavailable):
        prometheus().query("down")
    seen.body = b'{"status": "success", "data": {"resultType": "vector", "result": []}}'
    assert prometheus().query("down") == []
    assert len(seen.seen) == 6
