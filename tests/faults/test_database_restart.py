"""PostgreSQL restarted under load: the web answers 503 with a clear page (JSON under /api/) while it is
gone, then serves again by itself; a worker reconnects; nothing is half-written.

Everything here runs on a private PostgreSQL cluster and redis-server: a real gunicorn serves the
portal from them, a real Celery worker uses them, and the test stops and starts that cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager

import psycopg
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.faults.processes import broker, free_port
from tests.live import ROOT, celery_worker
from tests.polling import eventually

pytestmark = [pytest.mark.fault]


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600
    )


@contextmanager
def gunicorn(env: dict[str, str], port: int):
    log = open(ROOT / "var" / "test-gunicorn.log", "ab")  # noqa: SIM115  (closed below)
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "60",
            "kennel.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        eventually(
            lambda: _answers(f"http://127.0.0.1:{port}/login/"), bool, timeout=60, what="gunicorn starting"
        )
        yield web
    finally:
        web.terminate()
        web.wait(timeout=30)
        log.close()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def sign_in(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/login/", timeout=10)
    response = session.post(
        f"{base}/login/",
        data={
            "username": "loader",
            "password": "loader-kennel-pw",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/login/"},
        timeout=10,
    )
    assert response.status_code == 200 and "sessionid" in session.cookies, response.text[:500]
    return session


def new_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_a_postgres_restart_under_load_is_a_clear_503_then_everything_carries_on(
    private_postgres, private_redis, tmp_path
):
    private_postgres.createdb("kennel")
    env = {
        **os.environ,
        "DATABASE_URL": private_postgres.url(),
        "REDIS_URL": private_redis.url(),
        "DJANGO_DEBUG": "false",
        "KENNEL_VAR_DIR": str(tmp_path),
    }
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-c", _MAKE_LOADER)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    results: list[tuple[float, str, int, str]] = []  # (time, what, status, body head)
    stop = threading.Event()
    # The load stops when the test says so, or by itself if the test failed before saying it.
    give_up = time.monotonic() + 300

    def load(session: requests.Session) -> None:
        while not stop.is_set() and time.monotonic() < give_up:
            for what, call in (
                ("page", lambda: session.get(f"{base}/vms/", timeout=15)),
                ("api", lambda: session.get(f"{base}/api/v1/vms/", timeout=15)),
                (
                    "write",
                    lambda: session.post(
                        f"{base}/vms/keys/",
                        data={"public_key": new_key(), "csrfmiddlewaretoken": session.cookies["csrftoken"]},
                        headers={"Referer": f"{base}/vms/keys/"},
                        timeout=15,
                        allow_redirects=False,
                    ),
                ),
            ):
                try:
                    response = call()
                    results.append((time.monotonic(), what, response.status_code, response.text[:300]))
                    if response.status_code == 503:
                        assert response.headers.get("Retry-After")
                except requests.RequestException as error:
                    results.append((time.monotonic(), what, 0, str(error)[:300]))
                time.sleep(0.05)

    worker_env = {"REDIS_URL": private_redis.url(), "DATABASE_URL": private_postgres.url()}
    with gunicorn(env, port), broker(private_redis.url()), celery_worker(env=worker_env, concurrency=2):
        sessions = [sign_in(base) for _ in range(3)]
        threads = [threading.Thread(target=load, args=(s,), daemon=True) for s in sessions]
        for thread in threads:
            thread.start()
        time.sleep(3)
        stopped_at = time.monotonic()
        private_postgres.stop("fast")
        time.sleep(8)  # gone for a while, under load
        private_postgres.start()
        started_at = time.monotonic()
        eventually(
            lambda: [r for r in results if r[0] > started_at and r[2] in (200, 302)],
            lambda ok: {r[1] for r in ok} >= {"page", "api", "write"},
            timeout=60,
            what="serving again after the restart",
        )
        recovered = min(r[0] for r in results if r[0] > started_at and r[2] in (200, 302))
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        # The worker's connection died with the server: it reconnects at its next task.
        with psycopg.connect(private_postgres.url(), autocommit=True) as db:
            db.execute(
                "INSERT INTO portal_queuedtask (task, args, kwargs, created_at, attempts, error)"
                " VALUES ('portal.tasks.heartbeat', '[]', '{}', now(), 0, '')"
            )
        from portal.tasks import queue_outbox_flush

        sent_at = time.monotonic()
        queue_outbox_flush.delay()
        eventually(
            lambda: _count(private_postgres, "portal_queuedtask"),
            lambda n: n == 0,
            timeout=60,
            what="the worker reconnecting",
        )
        worker_back = time.monotonic() - sent_at

    during = [r for r in results if stopped_at < r[0] < started_at]
    codes = Counter((what, status) for _t, what, status, _body in results)
    print(f"\n[fault] PostgreSQL down {started_at - stopped_at:.1f} s under load; answers: {dict(codes)}")
    print(
        f"[fault] the web served again {recovered - started_at:.1f} s after PostgreSQL was back;"
        f" the worker finished a task {worker_back:.1f} s after it was sent"
    )
    assert not [r for r in results if r[2] >= 500 and r[2] != 503], "a 5xx other than 503"
    unavailable = [r for r in during if r[2] == 503]
    assert {r[1] for r in unavailable} >= {"page", "api", "write"}, codes
    page = next(r for r in unavailable if r[1] == "page")
    assert "Temporarily unavailable" in page[3] or "<!doctype html>" in page[3]
    api = next(r for r in unavailable if r[1] == "api")
    assert '"code":"database_unavailable"' in api[3].replace(" ", "")
    # Nothing half-written: every key that exists has its audit entry, and the reverse.
    keys = _count(private_postgres, "provisioning_sshkey")
    audited = _count(private_postgres, "portal_auditevent", "action = 'ssh_key.add'")
    assert keys == audited and keys > 0


def _count(pg, table: str, where: str = "true") -> int:
    with psycopg.connect(pg.url(), autocommit=True) as db:
        return db.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]  # noqa: S608


_MAKE_LOADER = """
from portal.models import User
User.objects.create_user(username="loader", password="loader-kennel-pw", email="loader@example.org")
"""
