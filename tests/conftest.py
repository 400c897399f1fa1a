from __future__ import annotations

import os
from ipaddress import ip_network

import pytest
from hypothesis import settings as hypothesis_settings

# The fixtures more than one app's tests use, by what they provide (tests/fixtures/__init__.py).
pytest_plugins = [
    "tests.fixtures.people",
    "tests.fixtures.cache",
    "tests.fixtures.tasks",
    "tests.fixtures.fake_cloud",
    "tests.fixtures.local_cloud",
    "tests.fixtures.quotas",
    "tests.fixtures.bmcs",
    "tests.fixtures.demo",
    "tests.fixtures.directory",
]

# Locally, property tests explore new examples on every run; in CI they replay a fixed set, so a
# submission lands or not on its own merits. A failure found locally becomes a regression test.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.LANGUAGE_CODE = "en"
    # Real hashing costs ~0.3 s per user; the hasher is not what these tests test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # BMCs: loopback (the emulators, on random ports) and the documentation-style 10.x addresses the
    # tests store. tests/inventory/test_bmc_allowlist.py checks the refusals with its own lists.
    settings.KENNEL_BMC_ALLOWED_NETWORKS = [
        ip_network("127.0.0.0/8"),
        ip_network("::1/128"),
        ip_network("10.0.0.0/8"),
    ]
    settings.KENNEL_BMC_ALLOWED_PORTS = [(1, 65535)]
    # Metrics are off unless a test points Kennel at its own Prometheus (tests/usage/conftest.py).
    settings.KENNEL_PROMETHEUS_URL = None
    settings.KENNEL_PROMETHEUS_CACHE_SECONDS = 0  # each test sees Prometheus as it is (tests/usage/)
