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


# ---- the company directory: one real slapd for the whole run (devldap), with StartTLS and LDAPS


DIRECTORY_PEOPLE = [
    # uid, password, given name, surname
    ("alice", "alice-secret", "Alice", "Admin"),
    ("bob", "bob-secret", "Bob", "Lead"),
    ("carol", "carol-secret", "Carol", "Dev"),
    ("dave", "dave-secret", "Dave", "Nogroup"),
    ("mona", "mona-secret", "Mona", "Manager"),
    ("member", "member-directory-secret", "Clash", "Local"),  # the user name of a local account
]
DIRECTORY_GROUPS = {
    "kennel-admins": ("alice",),
    "kennel-managers": ("mona",),
    "alpha-devs": ("bob", "carol", "member"),
    "alpha-leads": ("bob",),
    "gamma-devs": (),
    "unrelated": ("dave",),
}


@pytest.fixture(scope="session")
def slapd(tmp_path_factory):
    """A real OpenLDAP slapd on free loopback ports (ldap:// with StartTLS, and ldaps://), its
    certificate signed by a CA made for the run. Tests that change people or groups put them back."""
    from devldap import Directory, Group, Person, make_tls

    root = tmp_path_factory.mktemp("slapd")
    directory = Directory(
        root=root,
        people=[Person(uid, pw, given, sn, f"{uid}@example.test") for uid, pw, given, sn in DIRECTORY_PEOPLE],
        groups=[Group(cn, members) for cn, members in DIRECTORY_GROUPS.items()],
        tls=make_tls(root / "tls"),
    )
    directory.start()
    yield directory
    directory.stop()


@pytest.fixture
def ldap_settings(settings, slapd):
    """Kennel signing in against the test directory (plain ldap://; the TLS tests change the URL)."""
    settings.KENNEL_LDAP_URL = slapd.url
    settings.KENNEL_LDAP_BIND_DN = slapd.reader_dn
    settings.KENNEL_LDAP_BIND_PASSWORD = slapd.reader_password
    settings.KENNEL_LDAP_USER_BASE = slapd.people_base
    settings.KENNEL_LDAP_GROUP_BASE = slapd.groups_base
    settings.KENNEL_LDAP_STARTTLS = False
    settings.KENNEL_LDAP_CA_FILE = ""
    settings.KENNEL_LDAP_TIMEOUT = 3
    settings.KENNEL_LDAP_ADMIN_GROUPS = ["kennel-admins"]
    settings.KENNEL_LDAP_MANAGER_GROUPS = ["kennel-managers"]
    settings.KENNEL_LDAP_TEAM_GROUPS = {
        "alpha-devs": ("alpha", "member"),
        "alpha-leads": ("alpha", "lead"),
        "gamma-devs": ("gamma", "member"),
    }
    return settings
