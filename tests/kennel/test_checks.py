"""`manage.py check --deploy` names what a production configuration lacks or has unsafe."""

from __future__ import annotations

import pytest

from kennel import checks
from tests.portal.test_settings import GOOD_FERNET_KEY, GOOD_SECRET, run_django

# The checks read settings.DATABASES only; no connection is made with the overridden one.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES:UserWarning")


def ids(*results) -> set[str]:
    return {message.id for result in results for message in result}


@pytest.fixture
def production(settings, tmp_path):
    """A complete production configuration, as the checks see it."""
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {}\n")
    settings.DEBUG = False
    settings.MODE = "production"
    settings.KENNEL_SECRET_KEY_GENERATED = False
    settings.KENNEL_ENCRYPTION_KEY_GENERATED = False
    settings.DATABASES = {
        "default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"}
    }
    settings.ALLOWED_HOSTS = ["kennel.example.org"]
    settings.REDIS_URL = "redis://redis.example.org:6379/0"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.KENNEL_BASE_URL = "https://kennel.example.org"
    settings.OPENSTACK_CONFIG_FILE = str(clouds)
    settings.KENNEL_LDAP_URL = ""
    for name in checks._LDAP_PARTS:
        setattr(settings, name, {} if name == "KENNEL_LDAP_TEAM_GROUPS" else ([] if "GROUPS" in name else ""))
    return settings


def run_all() -> set[str]:
    return ids(
        checks.check_development_defaults(), checks.check_hosts_and_services(), checks.check_directory()
    )


def test_a_complete_production_configuration_has_nothing_to_say(production):
    assert run_all() == set()


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("DEBUG", True, "kennel.E001"),
        ("MODE", "development", "kennel.E002"),
        ("KENNEL_SECRET_KEY_GENERATED", True, "kennel.E003"),
        ("KENNEL_ENCRYPTION_KEY_GENERATED", True, "kennel.E005"),
        ("ALLOWED_HOSTS", ["*"], "kennel.E006"),
        ("ALLOWED_HOSTS", ["localhost", "127.0.0.1"], "kennel.W001"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0", "kennel.W002"),
        ("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend", "kennel.W003"),
        ("KENNEL_BASE_URL", "http://127.0.0.1:8000", "kennel.W004"),
        ("OPENSTACK_CONFIG_FILE", "/nonexistent/clouds.yaml", "kennel.E007"),
        ("KENNEL_LDAP_USER_BASE", "ou=people,dc=example,dc=org", "kennel.W005"),
    ],
)
def test_each_gap_is_named(production, setting, value, expected):
    setattr(production, setting, value)
    assert run_all() == {expected}


def test_sqlite_is_named(production):
    production.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}}
    assert run_all() == {"kennel.E004"}


def test_a_half_configured_or_clear_text_directory_is_named(production):
    production.KENNEL_LDAP_URL = "ldap://ldap.example.org"
    production.KENNEL_LDAP_BIND_DN = "cn=kennel,dc=example,dc=org"
    assert run_all() == {"kennel.E008", "kennel.E009"}
    production.KENNEL_LDAP_BIND_PASSWORD = "secret"
    production.KENNEL_LDAP_STARTTLS = True
    assert run_all() == set()
    production.KENNEL_LDAP_URL = "ldap://127.0.0.1:16389"  # loopback: nothing crosses a network
    production.KENNEL_LDAP_STARTTLS = False
    assert run_all() == set()


def test_the_development_defaults_fail_the_deploy_check_naming_each():
    result = run_django({}, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for check_id in (
        "kennel.E001",
        "kennel.E002",
        "kennel.E003",
        "kennel.E004",
        "kennel.E005",
        "kennel.W002",
    ):
        assert check_id in result.stderr, check_id


def test_a_production_configuration_missing_only_the_mail_server_fails_with_that(tmp_path):
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {}\n")
    result = run_django(
        {
            "KENNEL_MODE": "production",
            "DJANGO_SECRET_KEY": GOOD_SECRET,
            "DJANGO_ALLOWED_HOSTS": "kennel.example.org",
            "DATABASE_URL": "postgres://k@db.example.org/k",
            "KENNEL_ENCRYPTION_KEY": GOOD_FERNET_KEY,
            "REDIS_URL": "redis://redis.example.org:6379/0",
            "KENNEL_BASE_URL": "https://kennel.example.org",
            "OS_CLIENT_CONFIG_FILE": str(clouds),
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode != 0
    assert "kennel.W003" in result.stderr
    assert "kennel.E" not in result.stderr and "kennel.W00" in result.stderr


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"KENNEL_LDAP_URL": "ldap://ldap.example.org"}, "KENNEL_LDAP_USER_BASE must be set"),
        (
            {
                "KENNEL_LDAP_URL": "ldaps://ldap.example.org",
                "KENNEL_LDAP_USER_BASE": "ou=people,dc=example,dc=org",
                "KENNEL_LDAP_GROUP_BASE": "ou=groups,dc=example,dc=org",
                "KENNEL_LDAP_TEAM_GROUPS": "alpha-devs=alpha:owner",
            },
            "must be group=team-slug:member or :lead",
        ),
        (
            {
                "KENNEL_LDAP_URL": "ldaps://ldap.example.org",
                "KENNEL_LDAP_USER_BASE": "ou=people,dc=example,dc=org",
                "KENNEL_LDAP_GROUP_BASE": "ou=groups,dc=example,dc=org",
            },
            "map at least one group",
        ),
        (
            {"KENNEL_LDAP_URL": "ldaps://ldap.example.org", "KENNEL_LDAP_STARTTLS": "1"},
            "ldaps:// is TLS already",
        ),
        ({"KENNEL_LDAP_CA_FILE": "/nonexistent/ca.pem"}, "KENNEL_LDAP_CA_FILE=/nonexistent/ca.pem"),
    ],
)
def test_a_directory_configuration_that_cannot_work_stops_the_start_naming_why(environment, named):
    result = run_django(environment, "check")
    assert result.returncode != 0 and named in result.stderr
