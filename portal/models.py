"""People, teams and the audit log: what every other part of Kennel refers to."""

from __future__ import annotations

import hashlib
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from portal.validators import validate_single_line, validate_text


class Role(models.TextChoices):
    """A portal-wide role. Team membership (member, lead) is separate and per team."""

    DEVELOPER = "developer", _("Developer")
    MANAGER = "manager", _("Manager")
    ADMIN = "admin", _("Admin")


class KennelUserManager(UserManager):
    """``createsuperuser`` makes an admin: a superuser's stored role is the role that applies."""

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """A person. ``role`` decides what they may see across teams. A superuser is an admin, and their
    stored role says so (demoting one removes the superuser flag: portal.services.user_set_role).

    ``session_epoch`` goes up when the person is kept out: it is part of the hash every session
    carries, so sessions from before (in any session store) never come back when they are let in again.
    """

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    # Django's own, with the names rule of every other name (portal.validators).
    first_name = models.CharField(
        _("first name"), max_length=150, blank=True, validators=[validate_single_line]
    )
    last_name = models.CharField(
        _("last name"), max_length=150, blank=True, validators=[validate_single_line]
    )
    session_epoch = models.PositiveIntegerField(default=0, editable=False)
    # Company accounts (portal.directory): the person's entry in the directory, empty for a local
    # account; and when the directory sync kept them out (they left it or all its mapped groups), so
    # that coming back lets them in again, while someone an admin kept out stays out.
    # db_default: the previous release, still running during an upgrade, inserts users without it.
    directory_dn = models.CharField(
        _("directory entry"), max_length=255, blank=True, default="", db_default="", editable=False
    )
    left_directory_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects: ClassVar[KennelUserManager] = KennelUserManager()

    def _get_session_auth_hash(self, secret=None):
        # Django's hash covers the password only; the epoch is added once it moved, so that sessions
        # of people never kept out stay valid across this change.
        key_salt = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
        value = self.password if not self.session_epoch else f"{self.password}:{self.session_epoch}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()

    @property
    def is_directory_account(self) -> bool:
        return bool(self.directory_dn)

    @property
    def portal_role(self) -> str:
        return Role.ADMIN if self.is_superuser else self.role

    @property
    def portal_role_label(self) -> str:
        return str(Role(self.portal_role).label)

    @property
    def is_portal_admin(self) -> bool:
        return self.is_active and self.portal_role == Role.ADMIN

    @property
    def is_portal_manager(self) -> bool:
        """Managers read everything; admins can do whatever managers can."""
        return self.is_active and self.portal_role in (Role.MANAGER, Role.ADMIN)


class Team(models.Model):
    """A development team: one OpenStack project, its members and its quota."""

    name = models.CharField(_("name"), max_length=100, unique=True, validators=[validate_single_line])
    slug = models.SlugField(_("short name"), max_length=64, unique=True)
    description = models.TextField(_("description"), blank=True, validators=[validate_text])
    openstack_project_id = models.CharField(_("OpenStack project id"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    members = models.ManyToManyField(User, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in a team. Leads may request quota and manage the team's VMs."""

    class Level(models.TextChoices):
        MEMBER = "member", _("Member")
        LEAD = "lead", _("Lead")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    level = models.CharField(_("level"), max_length=8, choices=Level.choices, default=Level.MEMBER)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.level})"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("the audit log is append-only")

    def delete(self):
        raise TypeError("the audit log is append-only")


class AuditEvent(models.Model):
    """One state-changing action: who did what to which object, when, from where, and how it ended.

    Append-only: the model refuses updates and deletes, and on PostgreSQL a trigger refuses them too.
    Users are deactivated, never deleted, so ``actor`` stays resolvable; ``actor_name`` keeps the name
    as it was.
    """

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success")
        FAILURE = "failure", _("Failure")
        DENIED = "denied", _("Denied")

    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField(_("who"), max_length=150)
    action = models.CharField(_("what"), max_length=64, db_index=True)
    target_type = models.CharField(_("object type"), max_length=64, blank=True, db_index=True)
    target_id = models.CharField(_("object id"), max_length=64, blank=True)
    target_repr = models.CharField(_("object"), max_length=200, blank=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    source = models.CharField(_("from where"), max_length=64, blank=True)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices, default=Outcome.SUCCESS)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("the audit log is append-only")


class ApiToken(models.Model):
    """A personal API token (for the ``kennel`` CLI and scripts). Only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, validators=[validate_single_line])
    prefix = models.CharField(_("starts with"), max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    read_only = models.BooleanField(
        _("read-only"), default=False, help_text=_("Only reads (GET, HEAD, OPTIONS); any change gets 403.")
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class QueuedTask(models.Model):
    """A task the broker could not take when it was asked for (Redis away): kept here, with what it
    was given, until ``portal.queue.queue_outbox_flush`` sends it. The row it works on stays as it was
    (queued, approved ...), so nothing asked for is lost and nobody has to retry by hand."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # The request id of the work that asked for it (portal.request_ids), sent with it when it goes.
    request_id = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"
