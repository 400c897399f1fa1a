"""Settings come from the environment and fail loudly; production refuses unsafe defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal import env

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "k" * 20 + "e" * 20 + "n" * 10 + "e1l-Secret"
GOOD_FERNET_KEY = "a2VubmVsLXRlc3QtZW5jcnlwdGlvbi1rZXktMzJiISE="


def run_django(extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``manage.py args`` in a fresh process with only the given environment (plus PATH)."""
    environment = {
        "PATH": os.environ["PATH"],
        "KENNEL_VAR_DIR": str(ROOT / "var" / "settings-test"),
        **extra_env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_without_a_secret_key_refuses_to_start_and_says_why():
    result = run_django(
        {
            "KENNEL_MODE": "production",
            "DJANGO_ALLOWED_HOSTS": "kennel.example.org",
            "DATABASE_URL": "postgres://k@127.0.0.1/k",
        },
        "check",
    )
    assert result.returncode != 0
    assert "KENNEL_MODE=production needs DJANGO_SECRET_KEY" in result.stderr


def test_production_without_allowed_hosts_refuses_to_start():
    result = run_django(
        {
            "KENNEL_MODE": "production",
            "DJANGO_SECRET_KEY": GOOD_SECRET,
            "DATABASE_URL": "postgres://k@127.0.0.1/k",
        },
        "check",
    )
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_production_deploy_check_is_clean(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(GOOD_SECRET)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {}\n")
    result = run_django(
        {
            "KENNEL_MODE": "production",
            "DJANGO_SECRET_KEY_FILE": str(secret),
            "DJANGO_ALLOWED_HOSTS": "kennel.example.org",
            "DATABASE_URL": "postgres://k@127.0.0.1/k",
            "KENNEL_ENCRYPTION_KEY": GOOD_FERNET_KEY,
            # what kennel/checks.py asks of a deployment on more than one machine
            "REDIS_URL": "redis://redis.example.org:6379/0",
            "EMAIL_HOST": "smtp.example.org",
            "KENNEL_BASE_URL": "https://kennel.example.org",
            "OS_CLIENT_CONFIG_FILE": str(clouds),
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_without_an_encryption_key_refuses_to_start_and_says_why():
    result = run_django(
        {
            "KENNEL_MODE": "production",
            "DJANGO_SECRET_KEY": GOOD_SECRET,
            "DJANGO_ALLOWED_HOSTS": "kennel.example.org",
            "DATABASE_URL": "postgres://k@127.0.0.1/k",
        },
        "check",
    )
    assert result.returncode != 0
    assert "KENNEL_MODE=production needs KENNEL_ENCRYPTION_KEY" in result.stderr


def test_an_encryption_key_that_is_not_a_fernet_key_is_refused(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("too-short\n")
    result = run_django({"KENNEL_ENCRYPTION_KEY_FILE": str(key_file)}, "check")
    assert result.returncode != 0
    assert "KENNEL_ENCRYPTION_KEY must be Fernet keys" in result.stderr


def test_development_mode_needs_no_environment_at_all():
    result = run_django({}, "check")
    assert result.returncode == 0, result.stderr
    assert (ROOT / "var" / "settings-test" / "dev-secret-key").stat().st_mode & 0o077 == 0
    assert (ROOT / "var" / "settings-test" / "dev-encryption-key").stat().st_mode & 0o077 == 0


def test_a_bad_mode_is_named_in_the_error():
    result = run_django({"KENNEL_MODE": "prod"}, "check")
    assert "KENNEL_MODE='prod' must be one of: development, production" in result.stderr


def test_env_bool_rejects_what_is_not_a_boolean(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        env.env_bool("X_FLAG", False)
    monkeypatch.setenv("X_FLAG", "Yes")
    assert env.env_bool("X_FLAG", False) is True


def test_env_int_checks_type_and_bound(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env.env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "3")
    with pytest.raises(ImproperlyConfigured, match="at least 10"):
        env.env_int("X_NUM", 1, minimum=10)


def test_secrets_can_come_from_a_file(monkeypatch, tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("X_PASSWORD_FILE", str(tmp_path / "pw"))
    assert env.env_str("X_PASSWORD") == "s3cret"
    monkeypatch.setenv("X_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match=r"X_PASSWORD_FILE=.* cannot be read"):
        env.env_str("X_PASSWORD")


def test_a_required_variable_names_itself(monkeypatch):
    monkeypatch.delenv("X_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="X_REQUIRED must be set"):
        env.env_str("X_REQUIRED")


def test_env_list_splits_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("X_HOSTS", "a.example, b.example,,")
    assert env.env_list("X_HOSTS") == ["a.example", "b.example"]


def test_a_trusted_proxy_that_is_no_network_stops_the_start_naming_it():
    result = run_django({"KENNEL_TRUSTED_PROXIES": "10.0.0.5, proxy.example.org"}, "check")
    assert result.returncode != 0
    assert "KENNEL_TRUSTED_PROXIES: 'proxy.example.org' is not an IP address or network" in result.stderr


def test_sign_in_limits_and_token_days_come_from_the_environment():
    result = run_django(
        {
            "KENNEL_TRUSTED_PROXIES": "10.0.0.0/24,2001:db8::1",
            "KENNEL_LOGIN_FAILURE_LIMIT": "7",
            "KENNEL_LOGIN_COOLOFF_SECONDS": "120",
            "KENNEL_API_TOKEN_DAYS": "30",
        },
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds(), s.KENNEL_API_TOKEN_DAYS, "
        "s.KENNEL_TRUSTED_PROXIES)",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "7 120.0 30 ['10.0.0.0/24', '2001:db8::1']"
    refused = run_django({"KENNEL_LOGIN_FAILURE_LIMIT": "0"}, "check")
    assert refused.returncode != 0 and "KENNEL_LOGIN_FAILURE_LIMIT=0 must be at least 1" in refused.stderr


def test_bmc_networks_and_ports_come_from_the_environment_and_nonsense_stops_the_start():
    result = run_django(
        {
            "KENNEL_BMC_ALLOWED_NETWORKS": "10.20.0.0/16, fd00:b::/64",
            "KENNEL_BMC_ALLOWED_PORTS": "443,8000-8099",
        },
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print([str(n) for n in s.KENNEL_BMC_ALLOWED_NETWORKS], s.KENNEL_BMC_ALLOWED_PORTS)",
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip().splitlines()[-1] == "['10.20.0.0/16', 'fd00:b::/64'] [(443, 443), (8000, 8099)]"
    )
    for name, value, says in [
        ("KENNEL_BMC_ALLOWED_NETWORKS", "10.0.0.0/8,bmc.example", "'bmc.example' is not an IP network"),
        ("KENNEL_BMC_ALLOWED_PORTS", "443,99999", "must be ports from 1 to 65535"),
        ("KENNEL_BMC_ALLOWED_PORTS", "443,http", "'http' is not a port"),
    ]:
        refused = run_django({name: value}, "check")
        assert refused.returncode != 0 and says in refused.stderr, refused.stderr
