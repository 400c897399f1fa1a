from __future__ import annotations

import os
from ipaddress import ip_network

import pytest
from django.core.cache import cache
from hypothesis import settings as hypothesis_settings

from portal.models import Membership, Role
from tests.factories import MembershipFactory, TeamFactory, UserFactory

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


@pytest.fixture
def team(db):
    return TeamFactory(name="Alpha", slug="alpha")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Beta", slug="beta")


@pytest.fixture
def member(team):
    user = UserFactory(username="member")
    MembershipFactory(user=user, team=team, level=Membership.Level.MEMBER)
    return user


@pytest.fixture
def lead(team):
    user = UserFactory(username="lead")
    MembershipFactory(user=user, team=team, level=Membership.Level.LEAD)
    return user


@pytest.fixture
def outsider(other_team):
    user = UserFactory(username="outsider")
    MembershipFactory(user=user, team=other_team)
    return user


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", role=Role.MANAGER)


@pytest.fixture
def admin(db):
    return UserFactory(username="admin", role=Role.ADMIN)


@pytest.fixture
def people(member, outsider, manager, admin):
    """Everyone the permission matrix asks, by name (see tests/matrix.py)."""
    return {"member": member, "outsider": outsider, "manager": manager, "admin": admin}


@pytest.fixture
def clean_cache():
    """The real Redis cache, emptied before and after the test."""
    cache.clear()
    yield cache
    cache.clear()
