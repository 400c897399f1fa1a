"""Company accounts: what a person's entry and groups in the directory mean for their portal account.

A directory person may use Kennel while they are in at least one mapped group (an admin or manager
group, or a team group). Their role, name, e-mail and the memberships of the mapped teams follow the
directory, at each sign-in and every ``KENNEL_LDAP_SYNC_SECONDS`` (portal.tasks.directory_sync).
Someone who leaves the directory, or every mapped group, is kept out exactly as an admin keeps someone
out (``user_set_active``: sessions end, API tokens go, a worker removes their cloud roles); coming back
lets them in again, but never someone an admin kept out. Teams not named in the mapping are managed
in the portal as before. Local accounts are never touched, and a directory person whose user name is
already a local account's is refused rather than given that account.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal import directory
from portal.directory import DirectoryPerson, DirectoryUnavailable
from portal.models import Membership, Role, Team, User
from portal.services import (
    audit_record,
    membership_remove,
    membership_set,
    user_create,
    user_set_active,
    user_set_role,
)

logger = logging.getLogger(__name__)
DIRECTORY = "directory"  # the audit log's "from where" for the periodic sync


def _mapped_groups() -> set[str]:
    return (
        set(settings.KENNEL_LDAP_ADMIN_GROUPS)
        | set(settings.KENNEL_LDAP_MANAGER_GROUPS)
        | set(settings.KENNEL_LDAP_TEAM_GROUPS)
    )


def directory_role(person: DirectoryPerson) -> str:
    if person.groups & set(settings.KENNEL_LDAP_ADMIN_GROUPS):
        return Role.ADMIN
    if person.groups & set(settings.KENNEL_LDAP_MANAGER_GROUPS):
        return Role.MANAGER
    return Role.DEVELOPER


def directory_memberships(person: DirectoryPerson) -> dict[str, str | None]:
    """Every mapped team's slug, with the level the person should have there (None: not a member)."""
    wanted: dict[str, str | None] = {slug: None for slug, _ in settings.KENNEL_LDAP_TEAM_GROUPS.values()}
    for group, (slug, level) in settings.KENNEL_LDAP_TEAM_GROUPS.items():
        if group in person.groups and wanted[slug] != Membership.Level.LEAD:
            wanted[slug] = level
    return wanted


def _keep_out(*, user: User, reason: str, source: str) -> None:
    if not user.is_active:
        return
    user_set_active(actor=None, user=user, active=False, source=source)
    User.objects.filter(pk=user.pk).update(left_directory_at=timezone.now())
    user.left_directory_at = timezone.now()
    audit_record(
        actor=None, action="user.directory_sync", target=user, source=source, detail={"left": reason}
    )


@transaction.atomic
def directory_person_sync(*, person: DirectoryPerson, source: str = DIRECTORY) -> User | None:
    """Create or update the account of a directory person from their entry and groups, and return it
    (inactive if they are in no mapped group), or None when they have no account and may not have one,
    or their user name belongs to a local account. Audited through the services it calls, plus one
    ``user.directory_sync`` entry when their name, e-mail or directory entry changed."""
    allowed = bool(person.groups & _mapped_groups())
    user = User.objects.select_for_update().filter(username=person.username).first()
    if user is not None and not user.is_directory_account:
        logger.warning("directory person %s has the user name of a local account: refused", person.username)
        return None
    if user is None:
        if not allowed:
            return None
        try:
            user = user_create(
                actor=None,
                username=person.username,
                password=None,
                email=person.email,
                first_name=person.first_name[:150],
                last_name=person.last_name[:150],
                role=directory_role(person),
                source=source,
                directory_dn=person.dn,
            )
        except ValidationError as exc:
            logger.warning("directory person %s cannot be an account: %s", person.username, exc)
            return None
    if not allowed:
        _keep_out(user=user, reason="no mapped group", source=source)
        return user

    changed = {
        name: value
        for name, value in (
            ("directory_dn", person.dn),
            ("email", person.email),
            ("first_name", person.first_name[:150]),
            ("last_name", person.last_name[:150]),
        )
        if getattr(user, name) != value
    }
    if changed:
        for name, value in changed.items():
            setattr(user, name, value)
        user.full_clean()
        user.save(update_fields=list(changed))
        audit_record(actor=None, action="user.directory_sync", target=user, source=source, detail=changed)
    if user.portal_role != directory_role(person):
        user_set_role(actor=None, user=user, role=directory_role(person), source=source)
    if not user.is_active and user.left_directory_at is not None:  # back in the directory's groups
        user_set_active(actor=None, user=user, active=True, source=source)
        User.objects.filter(pk=user.pk).update(left_directory_at=None)
        user.left_directory_at = None

    teams = {team.slug: team for team in Team.objects.filter(slug__in=directory_memberships(person))}
    current = {m.team.slug: m.level for m in Membership.objects.filter(user=user).select_related("team")}
    for slug, level in directory_memberships(person).items():
        team = teams.get(slug)
        if team is None:
            logger.warning("KENNEL_LDAP_TEAM_GROUPS names team %r, which does not exist", slug)
        elif level is None and slug in current:
            membership_remove(actor=None, team=team, user=user, source=source)
        elif level is not None and current.get(slug) != level:
            membership_set(actor=None, team=team, user=user, level=level, source=source)
    return user


@dataclass
class DirectorySyncResult:
    ok: bool
    people: int = 0
    kept_out: list[str] = field(default_factory=list)  # who the directory keeps out now
    error: str = ""


def directory_people_sync(*, source: str = DIRECTORY) -> DirectorySyncResult:
    """Bring every company account in line with the directory: who left it is kept out, everyone in a
    mapped group gets (or keeps) an account with the directory's role and team memberships.

    Changes nothing when the directory cannot be read, or lists nobody at all (a wrong base or filter
    looks the same as everyone leaving, and only the second should keep everyone out)."""
    if not directory.directory_enabled():
        return DirectorySyncResult(ok=True)
    try:
        people = directory.people_list()
    except DirectoryUnavailable as exc:
        logger.warning("directory sync skipped, the directory is unavailable: %s", exc)
        return DirectorySyncResult(ok=False, error=str(exc))
    if not people:
        logger.warning("directory sync skipped: the directory lists nobody under KENNEL_LDAP_USER_BASE")
        return DirectorySyncResult(ok=False, error="the directory lists nobody")
    result = DirectorySyncResult(ok=True, people=len(people))
    for user in User.objects.exclude(directory_dn="").filter(is_active=True):
        if user.username not in people:
            with transaction.atomic():
                _keep_out(user=user, reason="not in the directory", source=source)
            result.kept_out.append(user.username)
    for person in people.values():
        user = directory_person_sync(person=person, source=source)
        if user is not None and user.left_directory_at is not None and user.username not in result.kept_out:
            result.kept_out.append(user.username)
    return result


def directory_people_sync_scheduled() -> DirectorySyncResult | None:
    """Beat's sync: one at a time across all workers (two at once would keep the same person out
    twice: two audit entries, two role removals). None, and nothing done, while another one runs."""
    from portal.worker import work_lock

    with work_lock("directory-sync", 0) as held:
        return directory_people_sync() if held else None
