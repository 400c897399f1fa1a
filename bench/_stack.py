"""The HTTP benchmarks' services: Kennel under gunicorn with a Celery worker and beat, and Horizon under
gunicorn in its own virtualenv, both against the benchmark cloud (not a benchmark itself).

Kennel runs with DEBUG off on PostgreSQL and Redis (``BENCH_DATABASE_URL``, ``BENCH_REDIS_URL``); it
serves plain HTTP on loopback like Horizon does, so it runs in development mode with DEBUG off (production
mode wants HTTPS: secure cookies, HSTS, a redirect). Horizon (``horizon`` from PyPI, pinned below, never a
dependency of the portal) is installed into ``var/horizon/venv`` with signed-cookie sessions and a local
memory cache, its static files collected and compressed once.

Every process runs in its own session; :meth:`Stack.stop` signals each process group it started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench import _benchcloud

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
HORIZON = ROOT / "var" / "horizon"
HORIZON_VENV = HORIZON / "venv"
HORIZON_VERSION = "27.0.0"
LOGS = ROOT / "var" / "bench" / "logs"

KENNEL_PORT = int(os.environ.get("BENCH_KENNEL_PORT", "18780"))
HORIZON_PORT = int(os.environ.get("BENCH_HORIZON_PORT", "18790"))
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "2"))  # the same for Kennel and Horizon
WEB_THREADS = int(os.environ.get("BENCH_WEB_THREADS", "4"))
CELERY_CONCURRENCY = int(os.environ.get("BENCH_CELERY_CONCURRENCY", "2"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://kennel@127.0.0.1:15432/kennel_bench_http")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:16379/14")


def password() -> str:
    """The bench people's password in Kennel (made once; Horizon's user has its own in the cloud)."""
    path = ROOT / "var" / "bench" / "kennel-password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(12))
    return path.read_text().strip()


def kennel_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kennel.settings",
        "KENNEL_MODE": "development",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "OS_CLIENT_CONFIG_FILE": str(_benchcloud.CLOUDS_YAML),
        "OS_CLOUD": "kennel-admin",
        "KENNEL_BASE_URL": f"http://127.0.0.1:{KENNEL_PORT}",
        # 50 simulated users sign in from one address: the per-address limit must not lock them out.
        "KENNEL_LOGIN_FAILURE_LIMIT": "1000",
        "PATH": f"{VENV}:{os.environ.get('PATH', '')}",
    }


def create_database() -> None:
    """CREATE DATABASE for BENCH_DATABASE_URL unless it exists (the server's own ``postgres`` database
    is where the statement runs)."""
    import psycopg

    base, name = DATABASE_URL.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                if answer.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout:.0f} s (see {LOGS})")
        time.sleep(0.5)


# --------------------------------------------------------------------------- Horizon


def horizon_install() -> None:
    """Horizon and gunicorn into var/horizon/venv (once), its local settings, static files (once)."""
    python = HORIZON_VENV / "bin" / "python"
    stamp = HORIZON / f"installed-{HORIZON_VERSION}"
    if not stamp.exists():
        print(f"horizon: installing horizon=={HORIZON_VERSION} into {HORIZON_VENV}", flush=True)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(HORIZON_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"horizon=={HORIZON_VERSION}", "gunicorn"],
            check=True,
        )
        stamp.touch()
    site = subprocess.run(
        [
            str(python),
            "-c",
            "import openstack_dashboard, os; print(os.path.dirname(openstack_dashboard.__file__))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    secret = HORIZON / "secret-key"
    if not secret.exists():
        secret.write_text(secrets.token_urlsafe(50))
    settings = f"""# Written by bench/_stack.py: Horizon as a benchmark peer on the benchmark cloud.
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
SECRET_KEY = {secret.read_text().strip()!r}
WEBROOT = "/"
OPENSTACK_HOST = "127.0.0.1"
OPENSTACK_KEYSTONE_URL = {_benchcloud.KEYSTONE_URL!r}
OPENSTACK_KEYSTONE_DEFAULT_ROLE = "member"
OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT = False
OPENSTACK_ENDPOINT_TYPE = "publicURL"
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
CACHES = {{"default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}}}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STATIC_ROOT = {str(HORIZON / "static")!r}
COMPRESS_OFFLINE = True
COMPRESS_ENABLED = True
TIME_ZONE = "UTC"
"""
    local = Path(site) / "local" / "local_settings.py"
    if not local.exists() or local.read_text() != settings:
        local.write_text(settings)
    static_stamp = HORIZON / f"static-{HORIZON_VERSION}"
    if not static_stamp.exists():
        print("horizon: collectstatic and compress (once)", flush=True)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "openstack_dashboard.settings"}
        admin = str(HORIZON_VENV / "bin" / "django-admin")
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / "horizon-static.log").open("ab") as out:
            subprocess.run([admin, "collectstatic", "--noinput"], env=env, check=True, stdout=out, stderr=out)
            subprocess.run([admin, "compress", "--force"], env=env, check=True, stdout=out, stderr=out)
        static_stamp.touch()


# --------------------------------------------------------------------------- processes


class Stack:
    """Processes started for a benchmark; ``stop`` ends every one of them (their whole process group)."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def kennel(self, *, workers: bool = False) -> str:
        """Kennel's web (gunicorn) on KENNEL_PORT, set up for the bench; with ``workers`` also a Celery
        worker and beat. Returns the base URL."""
        env = kennel_env()
        create_database()
        subprocess.run(
            [str(VENV / "python"), "-m", "bench._kennel_setup", password()], env=env, cwd=ROOT, check=True
        )
        subprocess.run(
            [str(VENV / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
            env=env,
            cwd=ROOT,
            check=True,
        )
        self.spawn(
            "kennel-web",
            [
                str(VENV / "gunicorn"),
                "kennel.wsgi:application",
                "--bind",
                f"127.0.0.1:{KENNEL_PORT}",
                "--workers",
                str(WEB_WORKERS),
                "--worker-class",
                "gthread",
                "--threads",
                str(WEB_THREADS),
                # Clients keep their connections (as behind a proxy): gunicorn's 2 s default closes them
                # under the clients' feet, which they see as connection resets.
                "--keep-alive",
                "75",
                "--timeout",
                "120",
                "--name",
                "kennel-bench-web",
            ],
            env,
        )
        if workers:
            self.spawn(
                "kennel-worker",
                [
                    str(VENV / "celery"),
                    "-A",
                    "kennel",
                    "worker",
                    "--loglevel",
                    "WARNING",
                    "--concurrency",
                    str(CELERY_CONCURRENCY),
                    "-n",
                    f"bench-{os.getpid()}@%h",
                ],
                env,
            )
            self.spawn(
                "kennel-beat",
                [
                    str(VENV / "celery"),
                    "-A",
                    "kennel",
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "--schedule",
                    str(LOGS / "celerybeat-schedule"),
                ],
                env,
            )
        url = f"http://127.0.0.1:{KENNEL_PORT}"
        wait_http(f"{url}/login/")
        return url

    def horizon(self) -> str:
        horizon_install()
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "openstack_dashboard.settings"}
        self.spawn(
            "horizon-web",
            [
                str(HORIZON_VENV / "bin" / "gunicorn"),
                "openstack_dashboard.wsgi:application",
                "--bind",
                f"127.0.0.1:{HORIZON_PORT}",
                "--workers",
                str(WEB_WORKERS),
                "--worker-class",
                "gthread",
                "--threads",
                str(WEB_THREADS),
                # Clients keep their connections (as behind a proxy): gunicorn's 2 s default closes them
                # under the clients' feet, which they see as connection resets.
                "--keep-alive",
                "75",
                "--timeout",
                "300",
                "--name",
                "horizon-bench-web",
            ],
            env,
        )
        url = f"http://127.0.0.1:{HORIZON_PORT}"
        wait_http(f"{url}/auth/login/", timeout=180)
        return url

    def pids(self, name: str) -> list[int]:
        """Every live process of the group started as ``name`` (a gunicorn master and its workers)."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == proc.pid:
                        found.append(int(entry.name))
        return found

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
