"""The health endpoint reports database, Redis and a real Celery worker fed by the beat task."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal.tasks import heartbeat

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def test_health_is_degraded_without_a_worker_heartbeat(client, clean_cache):
    response = client.get("/health/")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert checks["worker"] == {"ok": False, "detail": "no heartbeat yet: is a worker and beat running?"}


def test_health_is_ok_once_a_real_worker_ran_the_heartbeat(client, clean_cache):
    # A real worker process on the same Redis (an in-thread worker would close the test's DB connection).
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        heartbeat.delay()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.get("/health/").status_code != 200:
            time.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    response = client.get("/health/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"


def test_a_stale_heartbeat_counts_as_down(client, clean_cache, settings):
    clean_cache.set("worker-heartbeat", time.time() - settings.KENNEL_HEARTBEAT_MAX_AGE - 5, timeout=None)
    assert client.get("/health/").json()["checks"]["worker"]["ok"] is False


def test_redis_down_is_reported_not_raised(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


def test_beat_schedules_the_heartbeat(settings):
    assert settings.CELERY_BEAT_SCHEDULE["heartbeat"]["task"] == heartbeat.name
