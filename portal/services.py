"""Writes for people, teams, tokens and the audit log. Every state change goes through here."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from portal.access import Capability, can
from portal.hooks import Event, hooks_run
from portal.models import ApiToken, AuditEvent, Membership, Role, Team, User
from portal.origin import SYSTEM


def audit_record(
    *,
    actor: User | None,
    action: str,
    target: models.Model | None = None,
    team: Team | None = None,
    source: str = SYSTEM,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
    actor_name: str | None = None,
) -> AuditEvent:
    """Append one entry to the audit log. ``actor=None`` is the system (or, with ``actor_name``, an
    unauthenticated party such as a failed login)."""
    event = AuditEvent(
        actor=actor if actor is not None and actor.pk else None,
        actor_name=actor_name or (actor.get_username() if actor is not None else SYSTEM),
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        team=team if team is not None else (target if isinstance(target, Team) else None),
        source=source[:64],
        outcome=outcome,
        detail=detail or {},
    )
    event.full_clean()
    event.save()
    return event


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    username: str,
    password: str | None,
    email: str = "",
    role: str = Role.DEVELOPER,
    first_name: str = "",
    last_name: str = "",
    source: str = SYSTEM,
    directory_dn: str = "",
) -> User:
    """Create a person with a portal role. ``password=None`` leaves it unusable (SSO or reset later).
    ``directory_dn`` makes it a company account that follows the directory (portal.directory_sync)."""
    user = User(
        username=username,
        email=email,
        role=role,
        first_name=first_name,
        last_name=last_name,
        directory_dn=directory_dn,
    )
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean()
    user.save()
    detail = {"role": role, **({"directory_dn": directory_dn} if directory_dn else {})}
    audit_record(actor=actor, action="user.create", target=user, source=source, detail=detail)
    return user


@transaction.atomic
def user_set_role(*, actor: User | None, user: User, role: str, source: str = SYSTEM) -> User:
    """Change a person's portal role (developer, manager, admin). ``actor=None`` is the system (the
    demo); a person must be an admin, and may not change their own role (ask another admin).

    A superuser is an admin whatever their stored role says, so demoting one also removes the
    superuser (and staff) flag: the role shown is always the role that applies."""
    if actor is not None:
        if not can(actor, Capability.TEAMS_ONBOARD):
            raise PermissionDenied
        if user.pk == actor.pk and role != user.portal_role:
            raise ValidationError(gettext("You cannot change your own role; ask another admin."))
    before = user.portal_role
    user.role = role
    fields = ["role"]
    detail: dict[str, Any] = {"from": before, "to": role}
    if user.is_superuser and role != Role.ADMIN:
        user.is_superuser = user.is_staff = False
        fields += ["is_superuser", "is_staff"]
        detail["superuser_removed"] = True
    user.full_clean()
    user.save(update_fields=fields)
    audit_record(actor=actor, action="user.set_role", target=user, source=source, detail=detail)
    if before != role:  # a portal admin gets Keystone's admin role in their teams' projects
        _cloud_roles_changed(list(user.memberships.values_list("team_id", flat=True)))
    return user


@transaction.atomic
def user_set_active(*, actor: User | None, user: User, active: bool, source: str = SYSTEM) -> User:
    """Let a person in, or keep them out (admins only; never oneself; ``actor=None`` is the system: the
    company directory's sync, portal.directory_sync). An inactive person cannot sign in, and a worker
    removes their roles in the projects of their teams that Kennel onboarded. Keeping someone out ends
    their web sessions and deletes their API tokens for good: letting them in again brings neither back
    (the session epoch moves, so sessions in any store stop matching). Their VMs stay with their team.
    Raises PermissionDenied or ValidationError."""
    if actor is not None and not can(actor, Capability.TEAMS_ONBOARD):
        raise PermissionDenied
    if actor is not None and user.pk == actor.pk and not active:
        raise ValidationError(gettext("You cannot deactivate yourself; ask another admin."))
    if user.is_active == active:
        return user
    user.is_active = active
    detail: dict[str, Any] = {}
    if active:
        user.save(update_fields=["is_active"])
    else:
        user.session_epoch += 1
        user.save(update_fields=["is_active", "session_epoch"])
        revoked, _ = ApiToken.objects.filter(user=user).delete()
        detail = {"tokens_revoked": revoked, "sessions_ended": True}
    audit_record(
        actor=actor,
        action="user.activate" if active else "user.deactivate",
        target=user,
        source=source,
        detail=detail,
    )
    _cloud_roles_changed(list(user.memberships.values_list("team_id", flat=True)))
    return user


@transaction.atomic
def team_create(
    *, actor: User | None, name: str, slug: str, description: str = "", source: str = SYSTEM
) -> Team:
    """Create a team (its OpenStack project is made by onboarding, not here)."""
    team = Team(name=name, slug=slug, description=description)
    team.full_clean()
    team.save()
    audit_record(actor=actor, action="team.create", target=team, source=source)
    return team


@transaction.atomic
def membership_set(
    *, actor: User | None, team: Team, user: User, level: str = Membership.Level.MEMBER, source: str = SYSTEM
) -> Membership:
    """Make ``user`` a member or lead of ``team``; changes the level if already a member."""
    membership, created = Membership.objects.select_for_update().get_or_create(
        team=team, user=user, defaults={"level": level}
    )
    if not created and membership.level == level:
        return membership
    before = None if created else membership.level
    membership.level = level
    membership.full_clean()
    membership.save()
    audit_record(
        actor=actor,
        action="team.member_set",
        target=team,
        source=source,
        detail={"user": user.username, "from": before, "to": level},
    )
    if created:
        _cloud_roles_changed([team.pk])
    return membership


@transaction.atomic
def membership_remove(*, actor: User | None, team: Team, user: User, source: str) -> None:
    deleted, _ = Membership.objects.filter(team=team, user=user).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="team.member_remove",
            target=team,
            source=source,
            detail={"user": user.username},
        )
        _cloud_roles_changed([team.pk])


def _cloud_roles_changed(team_ids: list[int]) -> None:
    """Membership (or a member's portal role) changed: the apps that keep roles elsewhere react through
    their hooks (onboarding: a worker updates the role assignments in the teams' cloud projects)."""
    hooks_run(Event.TEAM_ROLES_CHANGED, team_ids=team_ids)


class ApiTokenExpired(Exception):
    """The key is a token that ran out (``expires_at``): refused, with the date to say so."""

    def __init__(self, expires_at: datetime) -> None:
        super().__init__(f"token expired at {expires_at.isoformat()}")
        self.expires_at = expires_at


def api_token_longest() -> timedelta | None:
    """How long a token may live (``KENNEL_API_TOKEN_DAYS``), or None when the operator set no limit."""
    days = settings.KENNEL_API_TOKEN_DAYS
    return timedelta(days=days) if days else None


@transaction.atomic
def api_token_create(
    *,
    user: User,
    name: str,
    source: str,
    expires_at: datetime | None = None,
    read_only: bool = False,
) -> tuple[ApiToken, str]:
    """Issue a personal API token. Returns the row and the key, which is shown once and never stored.

    ``expires_at`` defaults to ``KENNEL_API_TOKEN_DAYS`` from now, and may be sooner, never later (nor
    in the past): ValidationError. A ``read_only`` token may only read: any other method gets 403."""
    now = timezone.now()
    longest = api_token_longest()
    if expires_at is None and longest is not None:
        expires_at = now + longest
    elif expires_at is not None:
        if expires_at <= now:
            raise ValidationError({"expires_at": gettext("Give a time in the future.")})
        if longest is not None and expires_at > now + longest + timedelta(minutes=1):
            raise ValidationError(
                {
                    "expires_at": gettext("A token lives at most %(days)d days.")
                    % {"days": settings.KENNEL_API_TOKEN_DAYS}
                }
            )
    key = "kn_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name.strip() or "token",
        prefix=key[:10],
        digest=ApiToken.digest_of(key),
        expires_at=expires_at,
        read_only=read_only,
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=user,
        action="token.create",
        target=token,
        source=source,
        detail={"read_only": read_only, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    return token, key


@transaction.atomic
def api_token_revoke(*, actor: User, token: ApiToken, source: str) -> None:
    audit_record(actor=actor, action="token.revoke", target=token, source=source)
    token.delete()


def api_token_authenticate(key: str) -> User | None:
    """The active owner of a valid, unexpired token, or None. Records when it was last used."""
    try:
        token = api_token_use(key)
    except ApiTokenExpired:
        return None
    return token.user if token is not None else None


def api_token_use(key: str) -> ApiToken | None:
    """The valid token of an active user for ``key`` (its user loaded), or None. Raises ApiTokenExpired
    for a token that ran out, so the answer can say so. Records when it was last used. The API's
    authentication keeps the token so that logout can revoke it (and the read-only scope applies)."""
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=ApiToken.digest_of(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    if token.expires_at is not None and token.expires_at <= now:
        raise ApiTokenExpired(token.expires_at)
    # Cheap bookkeeping: at most one write a minute per token.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def worker_heartbeat_record(*, queue: str = "housekeeping") -> None:
    """Called by the beat-scheduled task on a worker of ``queue``: proves broker, beat and a worker all
    run (/health/), and that this queue has a worker (/metrics, per queue)."""
    import time

    from django.core.cache import cache

    from portal.selectors import HEARTBEAT_KEY, heartbeat_key

    now = time.time()
    cache.set_many({HEARTBEAT_KEY: now, heartbeat_key(queue): now}, timeout=None)


def cloud_reachability_record() -> bool:
    """Called every minute by a beat-scheduled task on a worker: asks the cloud one cheap question
    (who the portal's user is) and keeps the answer for /health/, so the web never waits on the cloud
    to say whether it is there. Returns whether it answered."""
    import time

    from django.core.cache import cache

    from portal.cloud import cloud
    from portal.cloud.gateway import CloudError
    from portal.selectors import CLOUD_CHECK_KEY

    try:
        cloud().whoami()
        ok, detail = True, "reachable"
    except CloudError as exc:
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:200]
    cache.set(CLOUD_CHECK_KEY, {"ok": ok, "detail": detail, "at": time.time()}, timeout=None)
    return ok


def team_link_project(*, actor: User | None, team: Team, project: str, source: str = SYSTEM) -> Team:
    """Link ``team`` to an existing cloud project (name or id) and give the portal's cloud user the
    admin role there, which it needs to create the team's VMs. Idempotent. Calls the cloud: use it
    from a worker or a command, never in a web request. Raises ValidationError if there is no such
    project, and the gateway's CloudError if the cloud refuses."""
    from portal.cloud import cloud

    gateway = cloud()
    found = gateway.find_project(project)
    if found is None:
        raise ValidationError({"project": f"The cloud has no project {project!r}."})
    gateway.assign_role(user_id=gateway.whoami().id, project_id=found.id, role="admin")
    if team.openstack_project_id != found.id:
        team.openstack_project_id = found.id
        team.full_clean()
        team.save(update_fields=["openstack_project_id"])
        audit_record(
            actor=actor,
            action="team.link_project",
            target=team,
            source=source,
            detail={"project": found.name, "project_id": found.id},
        )
    return team


# --- people added by an admin: a local account and its first sign-in link ------------------------------


@transaction.atomic
def person_add(
    *,
    actor: User,
    username: str,
    email: str,
    role: str = Role.DEVELOPER,
    first_name: str = "",
    last_name: str = "",
    source: str = SYSTEM,
) -> User:
    """An admin adds a person with a local account (no password yet) and sends them a first sign-in
    link by mail (``person_sign_in_link_send``). PermissionDenied for anyone but an admin;
    ValidationError for a taken user name, a bad e-mail address or role. Audited (``user.create``)."""
    if not can(actor, Capability.TEAMS_ONBOARD):
        raise PermissionDenied
    if not email.strip():
        raise ValidationError({"email": gettext("Give an e-mail address: the sign-in link goes there.")})
    if role not in Role.values:
        raise ValidationError({"role": gettext("Unknown role.")})
    if User.objects.filter(username__iexact=username.strip()).exists():
        raise ValidationError({"username": gettext("Someone already has this user name.")})
    user = user_create(
        actor=actor,
        username=username.strip(),
        password=None,
        email=email.strip(),
        role=role,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        source=source,
    )
    person_sign_in_link_send(actor=actor, user=user, source=source)
    return user


def person_sign_in_link_send(*, actor: User, user: User, source: str = SYSTEM) -> None:
    """Mail ``user`` a link to set their password (again: a lost first link), through the mail queue.
    The link is Django's password-reset token: it works once (setting the password changes what it
    signs) and expires after PASSWORD_RESET_TIMEOUT. Admins only; not for company (directory) accounts,
    whose password is the directory's; not for someone kept out. Audited (``user.sign_in_link``)."""
    if not can(actor, Capability.TEAMS_ONBOARD):
        raise PermissionDenied
    if user.directory_dn:
        raise ValidationError(gettext("A company account signs in with its directory password."))
    if not user.is_active:
        raise ValidationError(gettext("This person may not sign in; let them in first."))
    if not user.email:
        raise ValidationError(gettext("This person has no e-mail address."))
    audit_record(
        actor=actor, action="user.sign_in_link", target=user, source=source, detail={"to": user.email}
    )
    from portal.queue import enqueue
    from portal.tasks import sign_in_link_mail

    enqueue(sign_in_link_mail, user.pk)


def sign_in_link_email(*, user_id: int) -> bool:
    """Worker side (mail queue): send the link. False when the person is gone, kept out or has a
    directory account meanwhile. Lets the mail server's OSError through (the task retries)."""
    from django.contrib.auth.tokens import default_token_generator
    from django.core.mail import send_mail
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    user = User.objects.filter(pk=user_id, is_active=True, directory_dn="").first()
    if user is None or not user.email:
        return False
    path = reverse(
        "password-set",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    days = max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)
    send_mail(
        gettext("Your Kennel account"),
        gettext(
            "An admin made you a Kennel account, user name %(username)s. Choose your password here "
            "(the link works once, for %(days)s days):\n\n%(url)s\n"
        )
        % {"username": user.get_username(), "days": days, "url": settings.KENNEL_BASE_URL.rstrip("/") + path},
        None,
        [user.email],
    )
    return True
