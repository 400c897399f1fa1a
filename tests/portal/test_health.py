"""The health endpoint: ok / not ok for everyone; database, Redis, a real Celery worker fed by the beat
task and the cloud's reachability only for admins and the operations token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client

from portal.cloud import override
from portal.cloud.fake import FakeCloud
from portal.services import api_token_create, cloud_reachability_record
from portal.tasks import cloud_check, heartbeat
from tests.matrix import check_matrix

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(admin):
    """The details are for admins: these tests read them as one."""
    signed_in = Client()
    signed_in.force_login(admin)
    return signed_in


def test_health_is_degraded_without_a_worker_heartbeat(client, clean_cache):
    response = client.get("/health/")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert checks["worker"] == {
        "ok": False,
        "detail": "no heartbeat yet: is a worker and beat running?",
        "essential": True,
    }


def test_health_is_ok_once_a_real_worker_ran_the_heartbeat(client, clean_cache):
    # A real worker process on the same Redis (an in-thread worker would close the test's DB connection).
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "kennel", "worker", "--pool", "solo", "--loglevel", "WARNING"],
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


def test_beat_schedules_the_heartbeat_and_the_cloud_check(settings):
    # One heartbeat per Celery queue; /health/ is ok while any of them beats.
    assert settings.CELERY_BEAT_SCHEDULE["heartbeat-housekeeping"]["task"] == heartbeat.name
    assert settings.CELERY_BEAT_SCHEDULE["cloud-check"]["task"] == cloud_check.name


def test_anonymous_callers_learn_only_ok_or_not_ok(clean_cache, db):
    down = Client().get("/health/")
    assert down.status_code == 503 and down.json() == {"status": "not ok"}
    clean_cache.set("worker-heartbeat", time.time(), timeout=None)
    up = Client().get("/health/")
    assert up.status_code == 200 and up.json() == {"status": "ok"}
    assert b"heartbeat" not in up.content and b"postgresql" not in up.content


def test_who_sees_the_details(people, clean_cache):
    clean_cache.set("worker-heartbeat", time.time(), timeout=None)
    check_matrix(
        people, "/health/", {"anonymous": 200, "member": 200, "outsider": 200, "manager": 200, "admin": 200}
    )
    for who in ("member", "manager"):
        signed_in = Client()
        signed_in.force_login(people[who])
        assert signed_in.get("/health/").json() == {"status": "ok"}
    admin = Client()
    admin.force_login(people["admin"])
    assert set(admin.get("/health/").json()["checks"]) == {"database", "redis", "worker", "cloud"}


def test_the_operations_token_and_an_admins_api_token_see_the_details(people, clean_cache, settings):
    settings.KENNEL_HEALTH_TOKEN = "ops-secret-0123456789"
    ops = Client(HTTP_AUTHORIZATION="Bearer ops-secret-0123456789")
    assert "checks" in ops.get("/health/").json()
    wrong = Client(HTTP_AUTHORIZATION="Bearer ops-secret-wrong")
    assert "checks" not in wrong.get("/health/").json()
    _token, admin_key = api_token_create(user=people["admin"], name="ops", source="test")
    assert "checks" in Client(HTTP_AUTHORIZATION=f"Bearer {admin_key}").get("/health/").json()
    _token, member_key = api_token_create(user=people["member"], name="cli", source="test")
    assert "checks" not in Client(HTTP_AUTHORIZATION=f"Bearer {member_key}").get("/health/").json()


def test_the_cloud_check_reports_reachability_without_making_the_web_unhealthy(client, clean_cache):
    clean_cache.set("worker-heartbeat", time.time(), timeout=None)
    assert client.get("/health/").json()["checks"]["cloud"]["ok"] is False  # never checked yet
    fake = FakeCloud()
    with override(fake):
        assert cloud_reachability_record() is True
        up = client.get("/health/")
        assert up.status_code == 200 and up.json()["checks"]["cloud"]["ok"] is True
        assert up.json()["checks"]["cloud"]["detail"].startswith("reachable")
        fake.available = False
        assert cloud_reachability_record() is False
    down = client.get("/health/")
    assert down.status_code == 200 and down.json()["status"] == "ok"  # the portal still serves
    cloud = down.json()["checks"]["cloud"]
    assert cloud["ok"] is False and cloud["essential"] is False and "CloudUnavailable" in cloud["detail"]
    clean_cache.set("cloud-check", {"ok": True, "detail": "reachable", "at": time.time() - 600}, timeout=None)
    assert client.get("/health/").json()["checks"]["cloud"]["ok"] is False  # too old to say anything
