"""``manage.py check --deploy``: what a deployment's configuration still lacks, or has that is unsafe.

Kennel's settings already refuse to start on what can never work (see kennel/settings.py); these are
the things that start but are wrong for production: development defaults left in place, a broker that
other machines cannot reach, a directory reached without TLS. Errors are unsafe or lose data; warnings
are very likely mistakes. ``--fail-level WARNING`` makes both fail a deployment pipeline.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]", "testserver"}
_LDAP_PARTS = (
    "KENNEL_LDAP_BIND_DN",
    "KENNEL_LDAP_BIND_PASSWORD",
    "KENNEL_LDAP_USER_BASE",
    "KENNEL_LDAP_GROUP_BASE",
    "KENNEL_LDAP_ADMIN_GROUPS",
    "KENNEL_LDAP_MANAGER_GROUPS",
    "KENNEL_LDAP_TEAM_GROUPS",
    "KENNEL_LDAP_CA_FILE",
)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@register(Tags.security, deploy=True)
def check_development_defaults(app_configs=None, **kwargs) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if settings.DEBUG:
        messages.append(
            Error(
                "DEBUG is on: error pages show settings and code.",
                id="kennel.E001",
                hint="Set KENNEL_MODE=production (DJANGO_DEBUG off).",
            )
        )
    if settings.MODE != "production":
        messages.append(
            Error(
                "KENNEL_MODE is not production: cookies are not marked secure, no HSTS.",
                id="kennel.E002",
                hint="Set KENNEL_MODE=production.",
            )
        )
    if settings.KENNEL_SECRET_KEY_GENERATED:
        messages.append(
            Error(
                "The secret key was generated into var/ on this machine: other web "
                "replicas sign sessions with another one.",
                id="kennel.E003",
                hint="Set DJANGO_SECRET_KEY_FILE (at least 50 random characters).",
            )
        )
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        messages.append(
            Error(
                "The database is not PostgreSQL (SQLite in var/ by default): one machine "
                "only, and not what the backups in README.md restore.",
                id="kennel.E004",
                hint="Set DATABASE_URL=postgres://…",
            )
        )
    if settings.KENNEL_ENCRYPTION_KEY_GENERATED:
        messages.append(
            Error(
                "The encryption key of BMC passwords was generated into var/ on this "
                "machine: workers elsewhere cannot read the passwords, and a backup of the "
                "database is useless without it.",
                id="kennel.E005",
                hint="Set KENNEL_ENCRYPTION_KEY_FILE and keep a copy with the backups.",
            )
        )
    return messages


@register(Tags.security, deploy=True)
def check_hosts_and_services(app_configs=None, **kwargs) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    hosts = settings.ALLOWED_HOSTS
    if "*" in hosts:
        messages.append(
            Error(
                "DJANGO_ALLOWED_HOSTS allows any host name.",
                id="kennel.E006",
                hint="Name the portal's host names, e.g. kennel.example.org.",
            )
        )
    elif all(_is_loopback(host) for host in hosts):
        messages.append(
            Warning(
                "DJANGO_ALLOWED_HOSTS names only this machine's loopback addresses.",
                id="kennel.W001",
                hint="Name the portal's host names.",
            )
        )
    if _is_loopback(urlsplit(settings.REDIS_URL).hostname):
        messages.append(
            Warning(
                "REDIS_URL (the broker and cache) is on loopback: workers and web "
                "replicas on other machines cannot reach it.",
                id="kennel.W002",
                hint="Point REDIS_URL at the Redis every machine shares.",
            )
        )
    if settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
        messages.append(
            Warning(
                "E-mail is printed to the console (no EMAIL_HOST): lease reminders and "
                "notifications reach nobody.",
                id="kennel.W003",
                hint="Set EMAIL_HOST.",
            )
        )
    base = urlsplit(settings.KENNEL_BASE_URL)
    if base.scheme != "https" or _is_loopback(base.hostname):
        messages.append(
            Warning(
                f"KENNEL_BASE_URL is {settings.KENNEL_BASE_URL}: links in e-mails point there.",
                id="kennel.W004",
                hint="Set it to the portal's https:// address.",
            )
        )
    if not Path(settings.OPENSTACK_CONFIG_FILE).is_file():
        messages.append(
            Error(
                f"OS_CLIENT_CONFIG_FILE={settings.OPENSTACK_CONFIG_FILE} is not a file: "
                "workers cannot reach the cloud.",
                id="kennel.E007",
                hint="Point it at the clouds.yaml with the portal's cloud (OS_CLOUD).",
            )
        )
    return messages


@register(Tags.security, deploy=True)
def check_directory(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Company accounts (LDAP): the settings refuse what cannot work; these are the halves."""
    messages: list[CheckMessage] = []
    url = settings.KENNEL_LDAP_URL
    if not url:
        given = [name for name in _LDAP_PARTS if getattr(settings, name)]
        if given:
            messages.append(
                Warning(
                    f"{', '.join(given)} set, but KENNEL_LDAP_URL is not: sign-in "
                    "against the directory is off.",
                    id="kennel.W005",
                    hint="Set KENNEL_LDAP_URL, or remove the other KENNEL_LDAP_*.",
                )
            )
        return messages
    if bool(settings.KENNEL_LDAP_BIND_DN) != bool(settings.KENNEL_LDAP_BIND_PASSWORD):
        messages.append(
            Error(
                "Only one of KENNEL_LDAP_BIND_DN and KENNEL_LDAP_BIND_PASSWORD is set.",
                id="kennel.E008",
                hint="Kennel searches the directory as that account: "
                "give both (the password as KENNEL_LDAP_BIND_PASSWORD_FILE).",
            )
        )
    if (
        url.startswith("ldap://")
        and not settings.KENNEL_LDAP_STARTTLS
        and not _is_loopback(urlsplit(url).hostname)
    ):
        messages.append(
            Error(
                "KENNEL_LDAP_URL is plain ldap:// without StartTLS: people's passwords "
                "cross the network in clear.",
                id="kennel.E009",
                hint="Set KENNEL_LDAP_STARTTLS=1 or use ldaps://, with KENNEL_LDAP_CA_FILE.",
            )
        )
    return messages
