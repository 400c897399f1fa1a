"""Kennel's settings, all read from the environment through portal.env.

With no environment at all Kennel runs in development mode: SQLite in var/, a development secret
generated once into var/, e-mail printed to the console, Redis on loopback, and the local OpenStack
(devcloud) as its cloud. ``KENNEL_MODE=production`` refuses to start without a real secret key, allowed
hosts and HTTPS settings; see README.md for the variables.
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from portal.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_optional,
    env_pairs,
    env_port_ranges,
    env_str,
)
from portal.origin import trusted_proxy_networks

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("KENNEL_VAR_DIR", str(BASE_DIR / "var")))

MODE = env_choice("KENNEL_MODE", ("development", "production"), "development")
PRODUCTION = MODE == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off when KENNEL_MODE=production")


def _development_secret() -> str:
    """A secret generated on first start and kept in var/, so sessions survive restarts."""
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


if PRODUCTION:
    SECRET_KEY = env_optional("DJANGO_SECRET_KEY") or ""
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "KENNEL_MODE=production needs DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE): at least 50 random "
            "characters, e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "KENNEL_MODE=production needs DJANGO_ALLOWED_HOSTS, e.g. kennel.example.org"
        )
else:
    SECRET_KEY = env_optional("DJANGO_SECRET_KEY") or _development_secret()
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
# What `manage.py check --deploy` calls out (kennel/checks.py): secrets generated into var/ by this machine.
KENNEL_SECRET_KEY_GENERATED = not env_optional("DJANGO_SECRET_KEY")

CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")


def _development_encryption_key() -> str:
    """A Fernet key generated on first start and kept in var/, like the development secret."""
    path = VAR_DIR / "dev-encryption-key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


# Encrypts stored secrets (BMC passwords). A comma-separated list: the first key encrypts, every key
# decrypts, so a key is rotated by putting the new one first and re-saving (portal.crypto).
KENNEL_ENCRYPTION_KEYS = env_list("KENNEL_ENCRYPTION_KEY")
if not KENNEL_ENCRYPTION_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "KENNEL_MODE=production needs KENNEL_ENCRYPTION_KEY (or KENNEL_ENCRYPTION_KEY_FILE): a Fernet "
            "key, e.g. from: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    KENNEL_ENCRYPTION_KEYS = [_development_encryption_key()]
KENNEL_ENCRYPTION_KEY_GENERATED = not env_list("KENNEL_ENCRYPTION_KEY")
for _key in KENNEL_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "KENNEL_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64-encoded bytes), comma-separated"
        ) from None

# HTTPS. In production Kennel sits behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", PRODUCTION)
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = env_int("KENNEL_SESSION_SECONDS", 12 * 3600, minimum=300)

# Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated). None by
# default: the client's address is the TCP peer, whatever headers a client sends (portal.origin).
KENNEL_TRUSTED_PROXIES = env_list("KENNEL_TRUSTED_PROXIES", [])
trusted_proxy_networks(tuple(KENNEL_TRUSTED_PROXIES))  # a typo stops the start, with the bad entry

# Sign-in limits (django-axes), on the web form and the API's login alike: after this many failed
# attempts for one account, or from one client address, sign-ins for it wait the cool-off (each
# further failure starts it again). Failures are kept in the database, so limits hold across workers.
KENNEL_LOGIN_FAILURE_LIMIT = env_int("KENNEL_LOGIN_FAILURE_LIMIT", 10, minimum=1)
KENNEL_LOGIN_COOLOFF_SECONDS = env_int("KENNEL_LOGIN_COOLOFF_SECONDS", 900, minimum=1)
AXES_ENABLED = True
AXES_FAILURE_LIMIT = KENNEL_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=KENNEL_LOGIN_COOLOFF_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either one reaching the limit locks
AXES_CLIENT_IP_CALLABLE = "portal.origin.client_ip"
AXES_LOCKOUT_CALLABLE = "portal.views.login_locked_out"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in Kennel's own audit log
AXES_VERBOSE = False

# API tokens live this many days unless made shorter (0: no expiry by default, and none required).
KENNEL_API_TOKEN_DAYS = env_int("KENNEL_API_TOKEN_DAYS", 90, minimum=0)
if KENNEL_API_TOKEN_DAYS > 36_500:
    raise ImproperlyConfigured("KENNEL_API_TOKEN_DAYS must be at most 36500 (100 years); 0 means no expiry")
# A secret that lets monitoring read /health/'s details with "Authorization: Bearer <it>"; unset: only
# signed-in admins see them, everyone else gets ok / not ok.
KENNEL_HEALTH_TOKEN = env_optional("KENNEL_HEALTH_TOKEN")

# Company accounts (LDAP): off unless KENNEL_LDAP_URL is set. People sign in with their directory
# password; their groups decide their portal role and team memberships (README, "Company accounts").
# Local accounts keep working, first (the admins' way in when the directory is down).
KENNEL_LDAP_URL = env_str("KENNEL_LDAP_URL", "")  # ldap://host:389 (with STARTTLS) or ldaps://host:636
KENNEL_LDAP_BIND_DN = env_str("KENNEL_LDAP_BIND_DN", "")  # the account Kennel searches with
KENNEL_LDAP_BIND_PASSWORD = env_str("KENNEL_LDAP_BIND_PASSWORD", "")
KENNEL_LDAP_USER_BASE = env_str("KENNEL_LDAP_USER_BASE", "")
KENNEL_LDAP_USER_FILTER = env_str("KENNEL_LDAP_USER_FILTER", "(objectClass=inetOrgPerson)")
KENNEL_LDAP_USERNAME_ATTRIBUTE = env_str("KENNEL_LDAP_USERNAME_ATTRIBUTE", "uid")
KENNEL_LDAP_GROUP_BASE = env_str("KENNEL_LDAP_GROUP_BASE", "")  # groupOfNames, members in "member"
KENNEL_LDAP_STARTTLS = env_bool("KENNEL_LDAP_STARTTLS", False)
KENNEL_LDAP_CA_FILE = env_str("KENNEL_LDAP_CA_FILE", "")  # PEM; unset: the system's trusted CAs
KENNEL_LDAP_TIMEOUT = env_int("KENNEL_LDAP_TIMEOUT", 5, minimum=1)
# Directory groups (their cn) that make a portal admin or manager; everyone else is a developer.
KENNEL_LDAP_ADMIN_GROUPS = env_list("KENNEL_LDAP_ADMIN_GROUPS")
KENNEL_LDAP_MANAGER_GROUPS = env_list("KENNEL_LDAP_MANAGER_GROUPS")
# group=team-slug:member or group=team-slug:lead, comma-separated. Only these teams' memberships
# follow the directory; a person in none of the mapped groups (roles or teams) cannot sign in.
KENNEL_LDAP_TEAM_GROUPS: dict[str, tuple[str, str]] = {}
for _group, _target in env_pairs("KENNEL_LDAP_TEAM_GROUPS").items():
    _slug, _colon, _level = _target.partition(":")
    if not _slug or _level not in ("member", "lead"):
        raise ImproperlyConfigured(
            f"KENNEL_LDAP_TEAM_GROUPS: {_group}={_target!r} must be group=team-slug:member or :lead"
        )
    KENNEL_LDAP_TEAM_GROUPS[_group] = (_slug, _level)
KENNEL_LDAP_SYNC_SECONDS = env_int("KENNEL_LDAP_SYNC_SECONDS", 900, minimum=60)
if KENNEL_LDAP_URL:
    if not KENNEL_LDAP_URL.startswith(("ldap://", "ldaps://")):
        raise ImproperlyConfigured(f"KENNEL_LDAP_URL={KENNEL_LDAP_URL!r} must start with ldap:// or ldaps://")
    if KENNEL_LDAP_STARTTLS and KENNEL_LDAP_URL.startswith("ldaps://"):
        raise ImproperlyConfigured("KENNEL_LDAP_STARTTLS is for ldap:// URLs; ldaps:// is TLS already")
    for _name in ("KENNEL_LDAP_USER_BASE", "KENNEL_LDAP_GROUP_BASE"):
        if not globals()[_name]:
            raise ImproperlyConfigured(f"KENNEL_LDAP_URL is set: {_name} must be set too")
    if not (KENNEL_LDAP_ADMIN_GROUPS or KENNEL_LDAP_MANAGER_GROUPS or KENNEL_LDAP_TEAM_GROUPS):
        raise ImproperlyConfigured(
            "KENNEL_LDAP_URL is set: map at least one group (KENNEL_LDAP_ADMIN_GROUPS, "
            "KENNEL_LDAP_MANAGER_GROUPS or KENNEL_LDAP_TEAM_GROUPS), or nobody can sign in with it"
        )
if KENNEL_LDAP_CA_FILE and not Path(KENNEL_LDAP_CA_FILE).is_file():
    raise ImproperlyConfigured(f"KENNEL_LDAP_CA_FILE={KENNEL_LDAP_CA_FILE} is not a readable file")

INSTALLED_APPS = [
    "portal.apps.KennelAdminConfig",  # Django's admin at /admin/, for portal admins, read-mostly
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "axes",
    "portal",
    "provisioning",
    "inventory",
    "catalog",
    "quotas",
    "onboarding",
    "usage",
    "blueprints",
    "kennel",  # the top floor: composes the apps (demo_load)
]

MIDDLEWARE = [
    # First: every request gets its id (logs, tasks, cloud calls) and is timed and counted (/metrics).
    "portal.middleware.RequestIdMiddleware",
    "portal.metrics.RequestMetricsMiddleware",
    # An untrusted peer's X-Forwarded-* headers are gone before anything believes them.
    "portal.origin.UntrustedForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # First after security: a database that is away is a 503 with a page that needs no database.
    "portal.middleware.DatabaseUnavailableMiddleware",
    # gunicorn has no static file server; in development runserver serves them.
    *(["whitenoise.middleware.WhiteNoiseMiddleware"] if PRODUCTION else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A NUL in a page's query string: the portal's 400 page before any view (portal/errors.py).
    "portal.errors.HtmlInputGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Work the broker could not take is kept for later; the person is told it is delayed.
    "portal.middleware.WorkDelayedMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A NUL in an API path or query string, or an absurdly long query string: 400 before any view.
    "portal.api.middleware.ApiInputGuardMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in (web or API) into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy on every response (django-csp). Scripts and styles come only from our own
# static files: no inline <script>, no on*= handlers, no eval (htmx runs with allowEval off, see
# base.html), no inline style attributes. data: images are Pico's form icons, drawn in its CSS (and
# Swagger UI's on /api/docs/, whose start-up script is a file of its own: SpectacularSwaggerSplitView).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "kennel.urls"
# A refused CSRF check is the portal's own page (in its layout, translated), as are 400/403/404/500.
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"
WSGI_APPLICATION = "kennel.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "kennel.context_processors.navigation",
            ],
            # The one date format (``|when``) needs no {% load %} in any template.
            "builtins": ["portal.templatetags.dates"],
        },
    },
]

# Database: DATABASE_URL (PostgreSQL in production and CI); SQLite in var/ when unset.
_database_url = env_optional("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {
            "default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
        }
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A database that is away is noticed in seconds (the web answers 503, portal.middleware),
        # not after the operating system's TCP timeout.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env_int("KENNEL_DB_CONNECT_TIMEOUT", 3, minimum=1)
        )
else:
    if PRODUCTION:
        raise ImproperlyConfigured("KENNEL_MODE=production needs DATABASE_URL (postgres://user:pass@host/db)")
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "kennel.sqlite3"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "portal.User"
# django-axes first: it refuses a locked-out sign-in before any password is checked. It needs the
# request, which every sign-in of ours passes (the login form, the API's login, and so the CLI).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Local accounts first: they never wait for the directory. Does nothing without KENNEL_LDAP_URL.
    "portal.auth_backends.DirectoryBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "portal" / "locale"]
USE_I18N = True
TIME_ZONE = env_str("KENNEL_TIME_ZONE", "UTC")
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("KENNEL_STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# E-mail: printed to the console unless an SMTP host is given.
EMAIL_HOST = env_optional("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "kennel@localhost")

# Redis: Celery's broker and the portal's shared cache.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kennel",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # results live on our own rows, not in Celery
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With Redis, a message whose worker died unacknowledged (SIGKILL, power loss) comes back only after the
# visibility timeout; it must outlast the longest task and countdown (a backoff of up to
# KENNEL_CLOUD_BACKOFF_CAP), or a running task is delivered twice. Work a dead worker left is picked up
# sooner by the resume tasks below (KENNEL_STALE_WORK_SECONDS), so this stays long.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("KENNEL_BROKER_VISIBILITY_TIMEOUT", 3600, minimum=60),
    # A broker that is down is noticed in seconds: the web keeps what was asked (portal.queue).
    "socket_connect_timeout": 2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Publishing gives up within a second: the web keeps the task in the database instead (portal.queue).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.2,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# A worker or beat that loses Redis keeps reconnecting instead of exiting after 100 tries.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# How often beat runs the resume tasks, and how long work may go without progress (no heartbeat, no
# change) before it is presumed left by a dead worker and taken over. Safe either way: every step
# looks before it acts, so work resumed twice is done once.
KENNEL_RESUME_SECONDS = env_int("KENNEL_RESUME_SECONDS", 60, minimum=1)
KENNEL_STALE_WORK_SECONDS = env_int("KENNEL_STALE_WORK_SECONDS", 300, minimum=5)
# Fault tests only: a worker that reaches the named point (portal.failpoints) says so with a file in
# KENNEL_FAILPOINT_DIR and stops there, so a test can kill it at exactly that moment. Empty: no effect.
KENNEL_FAILPOINT = env_str("KENNEL_FAILPOINT", "")
KENNEL_FAILPOINT_DIR = env_str("KENNEL_FAILPOINT_DIR", "")
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Celery queues, so that a slow BMC sweep or a mail outage never delays a VM build: each queue can have
# workers of its own (README, "Running on more than one machine"). Every task is named here, once; a
# task left out goes to "housekeeping", and tests/kennel/test_queues.py fails until it is placed.
KENNEL_TASK_QUEUES: dict[str, tuple[str, ...]] = {
    # Everything that talks to the cloud: VM builds and actions, the mirror, quotas, onboarding, drains.
    "cloud": (
        "portal.tasks.cloud_check",
        "provisioning.tasks.vm_request_build",
        "provisioning.tasks.vm_request_delete",
        "provisioning.tasks.vm_action",
        "provisioning.tasks.vm_refresh",
        "provisioning.tasks.vm_resize",
        "provisioning.tasks.vm_rebuild",
        "provisioning.tasks.vm_snapshot",
        "provisioning.tasks.vm_requests_resume",
        "provisioning.tasks.vm_reconcile",
        "provisioning.tasks.vm_floating_ip",
        "provisioning.tasks.vm_console",
        "provisioning.tasks.vm_console_log",
        "provisioning.tasks.catalog_refresh",
        "provisioning.tasks.hosts_refresh",
        "provisioning.tasks.floating_ips_refresh",
        "provisioning.tasks.floating_ip_release",
        "provisioning.tasks.vm_floating_ip_release",
        "provisioning.tasks.volume_advance",
        "provisioning.tasks.volumes_resume",
        "provisioning.tasks.volumes_refresh",
        "catalog.tasks.image_properties_apply",
        "catalog.tasks.image_import_run",
        "catalog.tasks.image_import_clean",
        "catalog.tasks.image_imports_resume",
        "quotas.tasks.quota_request_apply",
        "quotas.tasks.quota_sync",
        "quotas.tasks.quota_requests_resume",
        "onboarding.tasks.onboarding_run",
        "onboarding.tasks.onboardings_resume",
        "onboarding.tasks.team_roles_sync",
        "onboarding.tasks.cloud_password_apply",
        "onboarding.tasks.orphan_check_run",
        "onboarding.tasks.cloud_orphans_check",
        "onboarding.tasks.security_rules_refresh",
        "onboarding.tasks.security_rule_apply",
        "inventory.tasks.server_drain_run",
        "inventory.tasks.server_drain_migrate_run",
        "inventory.tasks.server_drains_resume",
        "inventory.tasks.server_drains_check",
        "blueprints.tasks.service_advance",
        "blueprints.tasks.services_resume",
    ),
    # BMCs: the minute's poll of every BMC and the power actions.
    "bmc": (
        "inventory.tasks.bmc_poll",
        "inventory.tasks.power_request_run",
        "inventory.tasks.power_requests_recover",
    ),
    # E-mail: a mail server that is away holds up only mail.
    "mail": (
        "quotas.tasks.quota_request_notify",
        "provisioning.tasks.vm_lease_reminder_send",
        "portal.tasks.sign_in_link_mail",
    ),
    # Upkeep: the outbox, leases, utilization history, and the company directory's periodic sync (it
    # only reads the directory; cloud roles it takes away are cloud tasks of their own).
    "housekeeping": (
        "portal.tasks.heartbeat",
        "portal.tasks.directory_sync",
        "portal.tasks.queue_outbox_flush",
        "provisioning.tasks.vm_leases_enforce",
        "inventory.tasks.utilization_snapshot",
        "inventory.tasks.utilization_history_compact",
        "usage.tasks.idle_vm_scan",  # Prometheus, then one mail per newly idle VM
        "usage.tasks.usage_renew",  # every host's and VM's figures, kept for the pages
    ),
}
CELERY_TASK_DEFAULT_QUEUE = "housekeeping"
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in KENNEL_TASK_QUEUES]
CELERY_TASK_ROUTES = {
    task: {"queue": queue, "routing_key": queue}
    for queue, tasks in KENNEL_TASK_QUEUES.items()
    for task in tasks
}
CELERY_BEAT_SCHEDULE = {
    # One heartbeat per queue: /health/ reads the housekeeping one; /metrics shows each queue's age
    # (kennel_worker_heartbeat_age_seconds), so a queue without a worker is noticed.
    **{
        f"heartbeat-{queue}": {
            "task": "portal.tasks.heartbeat",
            "schedule": timedelta(seconds=30),
            "args": (queue,),
            "options": {"queue": queue, "routing_key": queue, "expires": 25},
        }
        for queue in KENNEL_TASK_QUEUES
    },
    # Whether the cloud answers, for /health/'s details (the web never asks the cloud itself).
    "cloud-check": {
        "task": "portal.tasks.cloud_check",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 55},
    },
    # The cloud mirror. Outside changes must show within: servers 60 s (Nova's changes-since every 15 s,
    # a complete listing every 5 minutes inside the same task), hosts 60 s, images, flavors and
    # quotas 5 minutes. Each run claims its part (a slow run is never joined by a second one), and a
    # run that waited in the queue longer than its period is dropped: the next one is fresher.
    # Idle VMs: flagged (their owners told once) or unflagged, from Prometheus.
    "idle-vm-scan": {
        "task": "usage.tasks.idle_vm_scan",
        "schedule": timedelta(hours=1),
        "options": {"expires": 3000},
    },
    "vm-reconcile": {
        "task": "provisioning.tasks.vm_reconcile",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 14},
    },
    "hosts-refresh": {
        "task": "provisioning.tasks.hosts_refresh",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 29},
    },
    "catalog-refresh": {
        "task": "provisioning.tasks.catalog_refresh",
        "schedule": timedelta(minutes=2),
        "options": {"expires": 110},
    },
    # Tasks the broker could not take when they were asked for (portal.queue), sent again.
    "queue-outbox-flush": {
        "task": "portal.tasks.queue_outbox_flush",
        "schedule": timedelta(seconds=min(KENNEL_RESUME_SECONDS, 30)),
    },
    "services-resume": {
        "task": "blueprints.tasks.services_resume",
        "schedule": timedelta(seconds=KENNEL_RESUME_SECONDS),
    },
    "vm-requests-resume": {
        "task": "provisioning.tasks.vm_requests_resume",
        "schedule": timedelta(seconds=KENNEL_RESUME_SECONDS),
    },
    "vm-leases": {"task": "provisioning.tasks.vm_leases_enforce", "schedule": timedelta(hours=1)},
    # Every project's floating IPs in one listing (the team pages read it); lost releases go on.
    "floating-ips-refresh": {
        "task": "provisioning.tasks.floating_ips_refresh",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 55},
    },
    # Every project's volumes in one listing: what the cloud did outside Kennel; lost steps go on.
    "volumes-refresh": {
        "task": "provisioning.tasks.volumes_refresh",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 55},
    },
    "volumes-resume": {
        "task": "provisioning.tasks.volumes_resume",
        "schedule": timedelta(seconds=KENNEL_RESUME_SECONDS),
    },
    # Every team's security group rules in one listing (the team pages read it); lost changes go on.
    "security-rules-refresh": {
        "task": "onboarding.tasks.security_rules_refresh",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 55},
    },
    # Disk imports a dead worker left half-done (no heartbeat for KENNEL_STALE_WORK_SECONDS) go on.
    "image-imports-resume": {
        "task": "catalog.tasks.image_imports_resume",
        "schedule": timedelta(seconds=KENNEL_RESUME_SECONDS),
    },
    # Team limits and the cloud's own usage counts; an hourly usage sample for the approval page.
    "quota-sync": {
        "task": "quotas.tasks.quota_sync",
        "schedule": timedelta(minutes=2),
        "options": {"expires": 110},
    },
    "quota-requests-resume": {
        "task": "quotas.tasks.quota_requests_resume",
        "schedule": timedelta(seconds=KENNEL_RESUME_SECONDS),
    },
    # Onboarding and offboarding chains a dead worker left (no heartbeat for as long) go on.
    "onboardings-resume": {
        "task": "onboarding.tasks.onboardings_resume",
        "schedule": timedelta(seconds=KENNEL_RESUME_SECONDS),
    },
    # Orphans: resources of deleted projects, Kennel-made projects and users without a team.
    "cloud-orphans-check": {"task": "onboarding.tasks.cloud_orphans_check", "schedule": timedelta(hours=6)},
    # A poll left waiting longer than its period is dropped: the next one is fresher.
    "bmc-poll": {
        "task": "inventory.tasks.bmc_poll",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 55},
    },
    # Utilization history: a snapshot every 5 minutes, rolled up into hourly averages every hour.
    "utilization-snapshot": {
        "task": "inventory.tasks.utilization_snapshot",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 240},
    },
    "utilization-history-compact": {
        "task": "inventory.tasks.utilization_history_compact",
        "schedule": timedelta(hours=1),
    },
    # Company accounts: who left the directory or its groups loses access (does nothing without LDAP).
    "directory-sync": {
        "task": "portal.tasks.directory_sync",
        "schedule": timedelta(seconds=KENNEL_LDAP_SYNC_SECONDS),
        "options": {"expires": KENNEL_LDAP_SYNC_SECONDS - 10},
    },
    # Drained compute nodes: the VMs still on them, and a check fresh enough to allow a power-off.
    "drains-check": {
        "task": "inventory.tasks.server_drains_check",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 55},
    },
    # Drains left waiting (an outage longer than the task's retries, a worker killed mid-step).
    "drains-resume": {"task": "inventory.tasks.server_drains_resume", "schedule": timedelta(minutes=5)},
    # Power actions whose worker was killed mid-action: finished from what the BMC shows now.
    "power-requests-recover": {
        "task": "inventory.tasks.power_requests_recover",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 55},
    },
}
# Longest wait, in seconds, between retries of a cloud call during an outage.
KENNEL_CLOUD_BACKOFF_CAP = env_int("KENNEL_CLOUD_BACKOFF_CAP", 300, minimum=1)
# VM leases: how long a new VM lives before it expires (developers may extend it).
KENNEL_VM_LEASE_DAYS = env_int("KENNEL_VM_LEASE_DAYS", 30, minimum=1)
# A lease is extended at most this far from now; a reminder goes out this many days before expiry;
# an expired VM is stopped (or deleted).
KENNEL_VM_LEASE_MAX_DAYS = env_int("KENNEL_VM_LEASE_MAX_DAYS", 90, minimum=1)
KENNEL_VM_LEASE_REMINDER_DAYS = env_int("KENNEL_VM_LEASE_REMINDER_DAYS", 3, minimum=0)
KENNEL_VM_EXPIRY_ACTION = env_choice("KENNEL_VM_EXPIRY_ACTION", ("stop", "delete"), "stop")
KENNEL_EXTERNAL_NETWORK = env_str("KENNEL_EXTERNAL_NETWORK", "public")  # where floating IPs come from
# Team onboarding: each team's private subnet is a /KENNEL_TENANT_SUBNET_PREFIX carved from this pool,
# never overlapping another team's or any subnet the cloud already has; DNS servers handed to its VMs;
# the address (not the portal's own, if that differs) members' openstack clients reach Keystone at.
KENNEL_TENANT_CIDR_POOL = env_str("KENNEL_TENANT_CIDR_POOL", "10.64.0.0/12")
KENNEL_TENANT_SUBNET_PREFIX = env_int("KENNEL_TENANT_SUBNET_PREFIX", 24, minimum=16)
KENNEL_TENANT_DNS = env_list("KENNEL_TENANT_DNS", [])
# Onboarding lets SSH (22/tcp) and ICMP in to a new team's VMs from these networks only: the company's
# internal networks or its SSH proxy (RFC 1918 by default). Leads and admins change them per team later.
KENNEL_DEFAULT_INGRESS_FROM = [
    str(n) for n in env_networks("KENNEL_DEFAULT_INGRESS_FROM", "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16")
]
KENNEL_CLOUD_PUBLIC_AUTH_URL = env_str("KENNEL_CLOUD_PUBLIC_AUTH_URL", "")
try:
    _pool = ipaddress.IPv4Network(KENNEL_TENANT_CIDR_POOL)
except ValueError as _error:
    raise ImproperlyConfigured(
        f"KENNEL_TENANT_CIDR_POOL={KENNEL_TENANT_CIDR_POOL!r} is not an IPv4 network ({_error}), "
        "e.g. 10.64.0.0/12"
    ) from None
if not _pool.prefixlen <= KENNEL_TENANT_SUBNET_PREFIX <= 29:
    raise ImproperlyConfigured(
        f"KENNEL_TENANT_SUBNET_PREFIX={KENNEL_TENANT_SUBNET_PREFIX} must be between the pool's own prefix "
        f"(/{_pool.prefixlen}) and 29"
    )
for _dns in KENNEL_TENANT_DNS:
    try:
        ipaddress.ip_address(_dns)
    except ValueError:
        raise ImproperlyConfigured(f"KENNEL_TENANT_DNS: {_dns!r} is not an IP address") from None
# Quota requests: the most volume storage (GB) and floating IPs any team could be given. Instances,
# vCPUs, RAM and local disk are bounded by the compute hosts' capacity instead (Placement's rule).
KENNEL_QUOTA_MAX_VOLUME_GB = env_int("KENNEL_QUOTA_MAX_VOLUME_GB", 1_048_576, minimum=0)
# The largest volume one may ask for (GB); the team's volume quota bounds them all together.
KENNEL_VOLUME_MAX_GB = env_int("KENNEL_VOLUME_MAX_GB", 1024, minimum=1)
KENNEL_QUOTA_MAX_FLOATING_IPS = env_int("KENNEL_QUOTA_MAX_FLOATING_IPS", 4096, minimum=0)
KENNEL_BASE_URL = env_str("KENNEL_BASE_URL", "http://127.0.0.1:8000")
# A worker is "up" when its heartbeat is younger than this.
KENNEL_HEARTBEAT_MAX_AGE = env_int("KENNEL_HEARTBEAT_MAX_AGE", 90, minimum=10)

# BMC polling: each BMC gets this many seconds per poll, and of them this many for its first answer
# (a dead or hanging BMC costs only that); this many are polled at once (they mostly wait on the
# network). A BMC that failed is asked again after 2, 4, 8 ... minutes, at most the last setting.
KENNEL_BMC_TIMEOUT = env_int("KENNEL_BMC_TIMEOUT", 10, minimum=1)
KENNEL_BMC_ANSWER_TIMEOUT = env_int("KENNEL_BMC_ANSWER_TIMEOUT", 3, minimum=1)
KENNEL_BMC_POLL_WORKERS = env_int("KENNEL_BMC_POLL_WORKERS", 32, minimum=1)
KENNEL_BMC_RETRY_MAX_MINUTES = env_int("KENNEL_BMC_RETRY_MAX_MINUTES", 30, minimum=1)
# The only networks and ports a BMC address may point into (inventory.bmc.allowlist): an address
# outside them is refused when saved and never connected to, so the BMC fields cannot be used to make
# Kennel's workers reach other hosts or services. The default is loopback with the usual BMC ports
# (HTTP, HTTPS, IPMI) and the demo emulators' ports (make run); list your BMC management networks.
KENNEL_BMC_ALLOWED_NETWORKS = env_networks("KENNEL_BMC_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
KENNEL_BMC_ALLOWED_PORTS = env_port_ranges("KENNEL_BMC_ALLOWED_PORTS", "80,443,623,16200-16299,18000-18099")
# After a power action on a server, further ones wait this long (one mistaken reboot, not three).
KENNEL_POWER_COOLDOWN = env_int("KENNEL_POWER_COOLDOWN", 300, minimum=0)
# A compute node may be powered off only if a check younger than this (seconds) found it drained and empty.
KENNEL_DRAIN_MAX_AGE = env_int("KENNEL_DRAIN_MAX_AGE", 120, minimum=10)
# A drain that moves VMs off gives one live migration this long (seconds) before it says it failed.
KENNEL_DRAIN_MIGRATION_TIMEOUT = env_int("KENNEL_DRAIN_MIGRATION_TIMEOUT", 600, minimum=30)
# A power action still running this long (seconds) after a worker claimed it lost its worker: it is
# finished from what its BMC shows (one BMC call is bounded by KENNEL_BMC_TIMEOUT).
KENNEL_POWER_STUCK_AFTER = env_int("KENNEL_POWER_STUCK_AFTER", 300, minimum=60)
# Redfish over HTTPS: check the BMC's certificate? Off by default because most BMCs present
# self-signed certificates; each server may override it. The CA bundle (a PEM file) is used when
# checking; without it, the system's trusted CAs are.
KENNEL_BMC_TLS_VERIFY = env_bool("KENNEL_BMC_TLS_VERIFY", False)
KENNEL_BMC_CA_BUNDLE = env_str("KENNEL_BMC_CA_BUNDLE", "")
if KENNEL_BMC_CA_BUNDLE and not Path(KENNEL_BMC_CA_BUNDLE).is_file():
    raise ImproperlyConfigured(f"KENNEL_BMC_CA_BUNDLE={KENNEL_BMC_CA_BUNDLE} is not a readable file")
# Alerts on the manager's dashboard: a BMC temperature sensor above this (°C); a host, or the forecast
# of an architecture, at or above this share of a resource's capacity (%).
KENNEL_TEMPERATURE_ALERT_C = env_int("KENNEL_TEMPERATURE_ALERT_C", 80, minimum=1)
KENNEL_CAPACITY_ALERT_PERCENT = env_int("KENNEL_CAPACITY_ALERT_PERCENT", 90, minimum=1)
# The forecast fits a straight line to this many days of hourly utilization history.
KENNEL_FORECAST_WINDOW_DAYS = env_int("KENNEL_FORECAST_WINDOW_DAYS", 30, minimum=2)

# What servers and VMs really use, read from Prometheus (usage/). Unset: every page says that metrics
# are not configured. ``make run`` starts one on loopback (exportersim) and sets the URL.
KENNEL_PROMETHEUS_URL = env_optional("KENNEL_PROMETHEUS_URL")
if KENNEL_PROMETHEUS_URL and not KENNEL_PROMETHEUS_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"KENNEL_PROMETHEUS_URL={KENNEL_PROMETHEUS_URL!r} must start with http(s)://")
KENNEL_PROMETHEUS_USERNAME = env_optional("KENNEL_PROMETHEUS_USERNAME")  # basic auth, or:
KENNEL_PROMETHEUS_PASSWORD = env_optional("KENNEL_PROMETHEUS_PASSWORD")
KENNEL_PROMETHEUS_TOKEN = env_optional("KENNEL_PROMETHEUS_TOKEN")  # a bearer token
KENNEL_PROMETHEUS_TIMEOUT = env_int("KENNEL_PROMETHEUS_TIMEOUT", 5, minimum=1)
# Answers are kept this long (0: never): about one scrape interval, Prometheus has nothing newer sooner.
KENNEL_PROMETHEUS_CACHE_SECONDS = env_int("KENNEL_PROMETHEUS_CACHE_SECONDS", 15, minimum=0)
if KENNEL_PROMETHEUS_URL and KENNEL_PROMETHEUS_CACHE_SECONDS:
    # Every host's and VM's real use, asked before a page needs it: the host list, the host pages and
    # the long lists of VMs read the kept answers.
    CELERY_BEAT_SCHEDULE["usage-renew"] = {
        "task": "usage.tasks.usage_renew",
        "schedule": timedelta(seconds=KENNEL_PROMETHEUS_CACHE_SECONDS),
        "options": {"expires": KENNEL_PROMETHEUS_CACHE_SECONDS},
    }
# rate() looks this far back: at least four scrape intervals of the exporters.
KENNEL_PROMETHEUS_RATE_SECONDS = env_int("KENNEL_PROMETHEUS_RATE_SECONDS", 300, minimum=1)
# The label naming a host in the node and libvirt exporters' series (its value without a port matches a
# server's name or hypervisor host name), and the label holding a VM's Nova id in the libvirt series.
KENNEL_PROMETHEUS_HOST_LABEL = env_str("KENNEL_PROMETHEUS_HOST_LABEL", "instance")
KENNEL_PROMETHEUS_VM_LABEL = env_str("KENNEL_PROMETHEUS_VM_LABEL", "uuid")
# Prometheus evaluates Kennel's recording rules (``python manage.py prometheus_rules``): the lists of
# VMs and hosts read the VMs' recorded rates instead of rate() over every VM's raw series at each read.
# Without the rules loaded, a list finds no recorded rate and asks the raw expression (slower, same figures).
KENNEL_PROMETHEUS_RULES = env_bool("KENNEL_PROMETHEUS_RULES", False)
# A host whose CPUs are busier than this (%) is an alert on the dashboard.
KENNEL_HOT_HOST_CPU_PERCENT = env_int("KENNEL_HOT_HOST_CPU_PERCENT", 85, minimum=1)
# A VM is idle when, over this many days, its CPU stayed below this share of its vCPUs (%) and its
# network (received + sent) below this many bytes per second on average.
KENNEL_IDLE_DAYS = env_int("KENNEL_IDLE_DAYS", 14, minimum=1)
KENNEL_IDLE_CPU_PERCENT = env_int("KENNEL_IDLE_CPU_PERCENT", 2, minimum=0)
KENNEL_IDLE_NETWORK_BYTES = env_int("KENNEL_IDLE_NETWORK_BYTES", 2048, minimum=0)

# The portal's own cloud credentials, in openstacksdk's convention: OS_CLOUD names an entry of the
# clouds.yaml found at OS_CLIENT_CONFIG_FILE. By default the local devcloud's admin cloud.
OPENSTACK_CLOUD = env_str("OS_CLOUD", "kennel-admin")
OPENSTACK_CONFIG_FILE = env_str("OS_CLIENT_CONFIG_FILE", str(VAR_DIR / "devcloud" / "clouds.yaml"))

# Disk imports: admins may name a file only under KENNEL_IMPORT_DIR (copied there with scp or rsync);
# uploads and conversions live in KENNEL_IMPORT_WORK_DIR. Both must be on the host (or volume) that the
# web process and the Celery worker share.
KENNEL_IMPORT_DIR = Path(env_str("KENNEL_IMPORT_DIR", str(VAR_DIR / "imports" / "incoming")))
KENNEL_IMPORT_WORK_DIR = Path(env_str("KENNEL_IMPORT_WORK_DIR", str(VAR_DIR / "imports" / "work")))
# Longest a single qemu-img convert may run, in seconds.
KENNEL_IMPORT_CONVERT_TIMEOUT = env_int("KENNEL_IMPORT_CONVERT_TIMEOUT", 6 * 3600, minimum=60)
# Uploaded files stream to disk in blocks and are never held in memory, whatever their size: only the
# temporary-file handler, with a tiny in-memory threshold, in the import work directory (where the
# import then moves the file without copying it).
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.TemporaryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
FILE_UPLOAD_TEMP_DIR = str(KENNEL_IMPORT_WORK_DIR / "uploading")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)

# cloud-init's JSON schema for user-data (scripts/cloudinit-schema.sh extracts it from Debian's package).
KENNEL_CLOUDINIT_SCHEMA = Path(
    env_str("KENNEL_CLOUDINIT_SCHEMA", str(VAR_DIR / "cloud-init" / "schema-cloud-config-v1.json"))
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.PageNumbers",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.KennelAutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.api_exception_handler",
    # Bounded JSON (depth, size, no lone surrogate or NUL) that must be an object: portal/api/parsers.py.
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kennel API",
    "DESCRIPTION": "Self-service portal for the team's OpenStack cloud.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "VmStatusEnum": "provisioning.models.VmRequest.Status",
        "ServerStateEnum": "provisioning.server_states.ServerState",
        "VmStateEnum": "provisioning.api.serializers.VM_STATES",
        "VmActionEnum": "provisioning.api.serializers.VM_ACTIONS",
        "PowerActionEnum": "inventory.models.PowerActionChoice",
        "QuotaRequestStatusEnum": "quotas.models.QuotaRequest.Status",
        "SecurityRuleProtocolEnum": "onboarding.models.SecurityRule.Protocol",
        "ServiceStatusEnum": "blueprints.models.Service.Status",
        "VolumeStatusEnum": "provisioning.models.Volume.Status",
    },
}

# Logs: plain text, or one JSON object per line for log collectors (portal.logs). Every line carries
# the request id of its work (portal.request_ids), in the web, the workers and the cloud's own logs.
KENNEL_LOG_FORMAT = env_choice("KENNEL_LOG_FORMAT", ("plain", "json"), "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "portal.logs.RequestIdFilter"},
        "client_errors": {"()": "portal.logs.ClientErrorsWithoutTraceback"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": KENNEL_LOG_FORMAT,
            "filters": ["request_id", "client_errors"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("KENNEL_LOG_LEVEL", "INFO")},
    "loggers": {
        "openstack": {"level": "WARNING"},
        "keystoneauth": {"level": "WARNING"},
        "sushy": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # every attempt at INFO; lock-outs are warnings
        # Django's own console handler (DEBUG only) would write each of its lines a second time, unformatted:
        # its lines go through the root's handler like everyone else's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# /metrics (Prometheus): answered to a scraper holding KENNEL_METRICS_TOKEN ("Authorization: Bearer")
# or coming from KENNEL_METRICS_ALLOWED_NETWORKS (the client's address, portal.origin.client_ip); 404 to
# everyone else. Loopback by default in development, nobody by default in production.
KENNEL_METRICS_TOKEN = env_optional("KENNEL_METRICS_TOKEN")
KENNEL_METRICS_ALLOWED_NETWORKS = env_networks(
    "KENNEL_METRICS_ALLOWED_NETWORKS", "" if PRODUCTION else "127.0.0.0/8,::1/128"
)
# A worker on a machine without the web serves its own counters (tasks, cloud calls) on this
# host:port, e.g. 0.0.0.0:9808; empty: off (the web's /metrics shows the workers that share its
# PROMETHEUS_MULTIPROC_DIR). No token: bind it to a network only Prometheus reaches.
KENNEL_WORKER_METRICS_LISTEN = env_str("KENNEL_WORKER_METRICS_LISTEN", "")
if KENNEL_WORKER_METRICS_LISTEN and not KENNEL_WORKER_METRICS_LISTEN.rpartition(":")[2].isdigit():
    raise ImproperlyConfigured(
        f"KENNEL_WORKER_METRICS_LISTEN={KENNEL_WORKER_METRICS_LISTEN!r} must be host:port, e.g. 0.0.0.0:9808"
    )
