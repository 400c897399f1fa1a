"""The company directory (LDAP), read-only: the one module that speaks LDAP (through ldap3).

Kennel searches with its own account (``KENNEL_LDAP_BIND_DN``), finds a person by their user name
under ``KENNEL_LDAP_USER_BASE``, checks a password by binding as that person's entry, and reads the
``groupOfNames`` groups under ``KENNEL_LDAP_GROUP_BASE`` whose ``member`` names them. Everything
else sees plain ``DirectoryPerson`` values; what they mean for an account is decided in
``portal.directory_sync``.

A directory that cannot be reached (or refuses Kennel's own account) raises DirectoryUnavailable, which
is never taken for "this person is gone": sign-in falls back to local accounts, the sync changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass

import ldap3
from django.conf import settings
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

logger = logging.getLogger(__name__)


class DirectoryUnavailable(Exception):
    """The directory did not answer, refused TLS, or refused Kennel's own account."""


@dataclass(frozen=True)
class DirectoryPerson:
    dn: str
    username: str
    email: str
    first_name: str
    last_name: str
    groups: frozenset[str]  # the cn of every group under the group base naming them as member


def directory_enabled() -> bool:
    return bool(settings.KENNEL_LDAP_URL)


def _server() -> ldap3.Server:
    url = settings.KENNEL_LDAP_URL
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        version=ssl.PROTOCOL_TLS_CLIENT,
        ca_certs_file=settings.KENNEL_LDAP_CA_FILE or None,
    )
    return ldap3.Server(
        url,
        use_ssl=url.startswith("ldaps://"),
        tls=tls,
        connect_timeout=settings.KENNEL_LDAP_TIMEOUT,
        get_info=ldap3.NONE,
    )


def _bind(dn: str, password: str) -> ldap3.Connection | None:
    """A connection bound as ``dn``, or None if the directory refused that password. Raises
    DirectoryUnavailable when it cannot be reached or TLS fails."""
    connection = ldap3.Connection(
        _server(),
        user=dn or None,
        password=password or None,
        receive_timeout=settings.KENNEL_LDAP_TIMEOUT,
        raise_exceptions=False,
        read_only=True,
    )
    try:
        connection.open()
        if settings.KENNEL_LDAP_STARTTLS and not connection.start_tls():
            raise DirectoryUnavailable(f"StartTLS refused: {connection.result}")
        if connection.bind():
            return connection
    except LDAPException as exc:
        _close(connection)
        raise DirectoryUnavailable(f"{type(exc).__name__}: {exc}") from exc
    _close(connection)
    return None


def _close(connection: ldap3.Connection) -> None:
    with contextlib.suppress(LDAPException, OSError):  # a socket TLS or the server already closed
        connection.unbind()


def _service_connection() -> ldap3.Connection:
    connection = _bind(settings.KENNEL_LDAP_BIND_DN, settings.KENNEL_LDAP_BIND_PASSWORD)
    if connection is None:
        raise DirectoryUnavailable("the directory refused KENNEL_LDAP_BIND_DN and its password")
    return connection


def _first(attributes: dict, name: str) -> str:
    value = attributes.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "")


def _person(entry: dict, groups: frozenset[str]) -> DirectoryPerson:
    attributes = entry["attributes"]
    return DirectoryPerson(
        dn=entry["dn"],
        username=_first(attributes, settings.KENNEL_LDAP_USERNAME_ATTRIBUTE),
        email=_first(attributes, "mail"),
        first_name=_first(attributes, "givenName"),
        last_name=_first(attributes, "sn"),
        groups=groups,
    )


def _search(connection: ldap3.Connection, base: str, search_filter: str, attributes: list[str]) -> list[dict]:
    try:
        entries = connection.extend.standard.paged_search(
            search_base=base,
            search_filter=search_filter,
            search_scope=ldap3.SUBTREE,
            attributes=attributes,
            paged_size=500,
            generator=False,
        )
    except LDAPException as exc:
        raise DirectoryUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if connection.result and connection.result.get("result") not in (0, None):
        raise DirectoryUnavailable(f"search under {base} failed: {connection.result.get('description')}")
    return [entry for entry in entries if entry.get("type") == "searchResEntry"]


_PERSON_ATTRIBUTES = ["mail", "givenName", "sn"]


def person_authenticate(*, username: str, password: str) -> DirectoryPerson | None:
    """The directory person with this user name and password, with their groups; None if there is no
    such person or the password is wrong. Raises DirectoryUnavailable."""
    if not username or not password:  # an empty password would be an anonymous bind: never a sign-in
        return None
    connection = _service_connection()
    try:
        attribute = settings.KENNEL_LDAP_USERNAME_ATTRIBUTE
        found = _search(
            connection,
            settings.KENNEL_LDAP_USER_BASE,
            f"(&{settings.KENNEL_LDAP_USER_FILTER}({attribute}={escape_filter_chars(username)}))",
            [attribute, *_PERSON_ATTRIBUTES],
        )
        if len(found) != 1:
            return None
        entry = found[0]
        groups = _search(
            connection,
            settings.KENNEL_LDAP_GROUP_BASE,
            f"(&(objectClass=groupOfNames)(member={escape_filter_chars(entry['dn'])}))",
            ["cn"],
        )
    finally:
        _close(connection)
    own = _bind(entry["dn"], password)
    if own is None:
        return None
    _close(own)
    return _person(entry, frozenset(_first(group["attributes"], "cn") for group in groups))


def people_list() -> dict[str, DirectoryPerson]:
    """Everyone under the user base, by user name, with their groups. Raises DirectoryUnavailable."""
    connection = _service_connection()
    try:
        attribute = settings.KENNEL_LDAP_USERNAME_ATTRIBUTE
        entries = _search(
            connection,
            settings.KENNEL_LDAP_USER_BASE,
            settings.KENNEL_LDAP_USER_FILTER,
            [attribute, *_PERSON_ATTRIBUTES],
        )
        groups = _search(
            connection, settings.KENNEL_LDAP_GROUP_BASE, "(objectClass=groupOfNames)", ["cn", "member"]
        )
    finally:
        _close(connection)
    groups_of: dict[str, set[str]] = {}
    for group in groups:
        cn = _first(group["attributes"], "cn")
        for member in group["attributes"].get("member", []):
            groups_of.setdefault(str(member).lower(), set()).add(cn)
    people = {}
    for entry in entries:
        person = _person(entry, frozenset(groups_of.get(entry["dn"].lower(), ())))
        if person.username:
            people[person.username] = person
    return people
