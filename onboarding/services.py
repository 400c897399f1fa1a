"""Writes for team onboarding and offboarding, members' cloud accounts, credentials and orphans.

Onboarding a team runs a chain of steps through the cloud gateway in a worker: Keystone project (named
after the team's short name), the portal's own cloud user made admin there, a Keystone account per
member with its role, a private network and subnet (a range from KENNEL_TENANT_CIDR_POOL that no other
team and no existing subnet overlaps), a router with its gateway on KENNEL_EXTERNAL_NETWORK and an
interface on the subnet, SSH and ICMP allowed in by the project's default security group, and the
quota template applied as an admin-approved quota request (audited and read back by quotas.services).

The steps themselves live in ``onboarding.steps``; this module starts chains and runs them. Each step
saves the ids of what it made before the next one starts, and looks for them (or for what a lost answer
may have made, by name) before creating anything, so a retry after a failure, or a second run, skips
what exists. ``CloudUnavailable`` passes through with the row where it was (the task retries
with backoff, then gives up onto the row); any other refusal fails the step with a message saying what
to do, and an admin retries. Offboarding deletes the team's VMs (through provisioning's delete
service) and then everything in the project, in reverse, checks the project is empty and deletes it.

Role mapping (documented in the README): every member, lead or not, gets Keystone's ``member`` role on
the team's project; members whose portal role is admin get ``admin`` instead (Keystone's implied roles
give them member and reader too); the portal's own cloud user holds ``admin``, as team_link_project
gives it. A Keystone user is named after the portal user; one that already exists under that name is
mapped, never changed and never deleted; the ones Kennel creates are marked in their description.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

# A refusal raised in a request is in the reader's language; what a worker writes on a row is in the
# portal's default language (LANGUAGE_CODE), as the worker has no reader.
from django.utils.translation import gettext as _

from onboarding import stored_messages as texts
from onboarding.models import (
    CloudAccount,
    Onboarding,
    OnboardingStep,
    OrphanCheck,
    QuotaTemplate,
)
from onboarding.steps import (
    ACCOUNT_STATES,
    OFFBOARD_RUNNERS,
    ONBOARD_RUNNERS,
    PROJECT_MARKER,
    USER_MARKER,
    NotYet,
    StepRefused,
    account_needed,
    team_cloud_roles_sync,
)
from portal.access import Action, Capability, can, restrict
from portal.cloud import cloud
from portal.cloud.gateway import (
    CloudNotFound,
    CloudRequestError,
    CloudUnavailable,
    QuotaExceeded,
)
from portal.crypto import secret_decrypt, secret_encrypt
from portal.failpoints import failpoint
from portal.models import Membership, Team, User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record, membership_remove, membership_set, team_create
from portal.stored_messages import StoredMessage
from portal.worker import LostClaim, claim_keep, claim_release, claim_take, claims_abandoned, work_lock

logger = logging.getLogger(__name__)
State = Onboarding.State
Name = OnboardingStep.Name
Phase = OnboardingStep.Phase
StepStatus = OnboardingStep.Status
Password = CloudAccount.Password

ONBOARD_STEPS = (
    Name.PROJECT,
    Name.PORTAL_ACCESS,
    Name.MEMBERS,
    Name.NETWORK,
    Name.SUBNET,
    Name.ROUTER,
    Name.ROUTER_INTERFACE,
    Name.SECURITY_GROUP,
    Name.QUOTA,
)
OFFBOARD_STEPS = (
    Name.SERVERS,
    Name.FLOATING_IPS,
    Name.ROUTERS,
    Name.NETWORKS,
    Name.SECURITY_GROUPS,
    Name.ACCOUNTS,
    Name.PROJECT_DELETE,
    Name.RELEASE,
)


# A new cloud password waits (encrypted) this long for its owner to look at it once.
PASSWORD_SHOW_WINDOW = timedelta(minutes=30)
ORPHAN_CHECKS_KEPT = 20


class Advance(StrEnum):
    DONE = "done"  # finished, failed for good, or nothing to do
    WAITING = "waiting"  # a step waits on the cloud: run again in a few seconds


def _require_admin(actor: User) -> None:
    if not can(actor, Capability.TEAMS_ONBOARD):
        raise PermissionDenied


def _messages(error: ValidationError) -> str:
    return " ".join(error.messages)


# --- quota templates ---------------------------------------------------------------------------------


def quota_template_save(
    *,
    actor: User,
    name: str,
    values: Mapping[str, Any],
    description: str = "",
    template: QuotaTemplate | None = None,
    source: str = SYSTEM,
) -> QuotaTemplate:
    """Create (``template=None``) or change a quota template. ValidationError names a bad dimension or
    value; teams already onboarded keep the limits they got."""
    _require_admin(actor)
    with transaction.atomic():
        template = template or QuotaTemplate()
        template.name = name.strip()
        template.description = description.strip()
        template.values = dict(values)
        template.full_clean()
        template.save()
        audit_record(
            actor=actor,
            action="quota_template.save",
            target=template,
            source=source,
            detail={"values": template.values},
        )
    return template


def quota_template_delete(*, actor: User, template: QuotaTemplate, source: str = SYSTEM) -> None:
    """Delete a template; onboardings that used it keep their copy of its limits."""
    _require_admin(actor)
    with transaction.atomic():
        audit_record(actor=actor, action="quota_template.delete", target=template, source=source)
        template.delete()


# --- starting, retrying and offboarding --------------------------------------------------------------


def team_onboard(
    *,
    actor: User,
    name: str,
    slug: str,
    members: Iterable[User] = (),
    leads: Iterable[User] = (),
    quota_template: QuotaTemplate | None = None,
    description: str = "",
    source: str = SYSTEM,
) -> Onboarding:
    """Create the team with its members and leads and start the chain that builds its cloud side (in
    a worker, after commit). ValidationError for a taken name or short name; PermissionDenied unless
    the actor is an admin."""
    _require_admin(actor)
    leads = list(leads)
    with transaction.atomic():
        team = team_create(actor=actor, name=name, slug=slug, description=description, source=source)
        for user in {*members, *leads}:
            level = Membership.Level.LEAD if user in leads else Membership.Level.MEMBER
            membership_set(actor=actor, team=team, user=user, level=level, source=source)
        onboarding = Onboarding(
            team=team,
            requested_by=actor,
            quota_template=quota_template,
            quota_values=dict(quota_template.values) if quota_template else {},
        )
        onboarding.full_clean()
        onboarding.save()
        _steps_create(onboarding, Phase.ONBOARD, ONBOARD_STEPS)
        audit_record(
            actor=actor,
            action="team.onboard",
            target=team,
            source=source,
            detail={
                "members": sorted(u.username for u in members),
                "leads": sorted(u.username for u in leads),
                "quota_template": quota_template.name if quota_template else None,
            },
        )
        _enqueue(onboarding.pk)
    return onboarding


def _steps_create(onboarding: Onboarding, phase: str, names: Iterable[str]) -> None:
    OnboardingStep.objects.bulk_create(
        [
            OnboardingStep(onboarding=onboarding, phase=phase, name=name, position=position)
            for position, name in enumerate(names)
        ]
    )


def _locked(actor: User, onboarding: Onboarding) -> Onboarding:
    found = (
        restrict(actor, Onboarding.objects.all(), Action.CHANGE)
        .select_for_update()
        .filter(pk=onboarding.pk)
        .select_related("team")
        .first()
    )
    if found is None:
        raise PermissionDenied
    return found


def _transition(onboarding: Onboarding, to: str, **fields: Any) -> None:
    """Move the (locked) row to ``to`` if the state machine allows it; ValidationError otherwise."""
    if to not in Onboarding.TRANSITIONS[onboarding.state]:
        raise ValidationError(
            _("Team %(team)s is %(state)s: that cannot be done now.")
            % {"team": onboarding.team.name, "state": onboarding.get_state_display()}
        )
    Onboarding.objects.filter(pk=onboarding.pk).update(
        state=to, claim="", updated_at=timezone.now(), **fields
    )
    onboarding.refresh_from_db()


def onboarding_retry(*, actor: User, onboarding: Onboarding, source: str = SYSTEM) -> Onboarding:
    """Resume a failed onboarding at its failed step (steps done are skipped). A failed offboarding
    runs all its steps again: each removes whatever the project holds now, so what appeared after its
    step had run (a VM asked for meanwhile) is removed too."""
    with transaction.atomic():
        onboarding = _locked(actor, onboarding)
        target = State.OFFBOARD_QUEUED if onboarding.state == State.OFFBOARD_FAILED else State.QUEUED
        if onboarding.state not in (State.FAILED, State.OFFBOARD_FAILED):
            raise ValidationError(_("Only a failed chain can be retried."))
        steps = onboarding.steps.filter(phase=onboarding.phase)
        if target == State.QUEUED:
            steps = steps.filter(status=StepStatus.FAILED)
        steps.update(status=StepStatus.PENDING)
        _transition(onboarding, target, **_said(texts.RETRY_ASKED(user=actor.username)))
        audit_record(actor=actor, action="team.onboard_retry", target=onboarding.team, source=source)
        _enqueue(onboarding.pk)
    return onboarding


def onboarding_run_again(*, actor: User, onboarding: Onboarding, source: str = SYSTEM) -> Onboarding:
    """Run every step of a finished onboarding again: each finds what it made and changes nothing, or
    puts back what drifted (a deleted rule, a lost role)."""
    with transaction.atomic():
        onboarding = _locked(actor, onboarding)
        if onboarding.state != State.DONE:
            raise ValidationError(_("Only an onboarded team's chain can be run again."))
        onboarding.steps.filter(phase=Phase.ONBOARD).update(status=StepStatus.PENDING, **_said(None))
        _transition(onboarding, State.QUEUED, finished_at=None, **_said(None))
        audit_record(actor=actor, action="team.onboard_again", target=onboarding.team, source=source)
        _enqueue(onboarding.pk)
    return onboarding


def team_offboard(*, actor: User, onboarding: Onboarding, confirm: str, source: str = SYSTEM) -> Onboarding:
    """Start removing the team's cloud side: its VMs first (deleted through provisioning), then
    everything in its project, in reverse, and the project itself. ``confirm`` must be the team's
    short name, typed by the admin; the refusal lists the VMs that would be deleted. Only a team
    Kennel onboarded (done, or failed half-way) can be offboarded."""
    from onboarding.selectors import offboard_victims

    with transaction.atomic():
        onboarding = _locked(actor, onboarding)
        team = onboarding.team
        if onboarding.state not in (State.DONE, State.FAILED):
            raise ValidationError(
                _(
                    "Team %(team)s is %(state)s: only an onboarded team, or one whose onboarding failed, "
                    "can be offboarded."
                )
                % {"team": team.name, "state": onboarding.get_state_display()}
            )
        if confirm.strip() != team.slug:
            victims = offboard_victims(team)
            if victims:
                message = _(
                    "Team %(team)s still has %(count)s VMs (%(names)s). Type the team's short name "
                    "%(slug)s to delete them with the team."
                ) % {"team": team.name, "count": len(victims), "names": ", ".join(victims), "slug": team.slug}
            else:
                message = _("Type the team's short name %(slug)s to confirm.") % {"slug": team.slug}
            raise ValidationError({"confirm": message})
        OnboardingStep.objects.filter(onboarding=onboarding, phase=Phase.OFFBOARD).delete()
        _steps_create(onboarding, Phase.OFFBOARD, OFFBOARD_STEPS)
        _transition(
            onboarding,
            State.OFFBOARD_QUEUED,
            offboard_requested_by=actor,
            finished_at=None,
            **_said(texts.OFFBOARD_ASKED(user=actor.username)),
        )
        audit_record(
            actor=actor,
            action="team.offboard",
            target=team,
            source=source,
            detail={"vms": offboard_victims(team)},
        )
        _enqueue(onboarding.pk)
    return onboarding


def _enqueue(onboarding_id: int) -> None:
    from onboarding.tasks import onboarding_run

    enqueue(onboarding_run, onboarding_id)


# --- the worker --------------------------------------------------------------------------------------


def _claim(onboarding_id: int, token: str) -> Onboarding | None:
    """Hold the chain for this worker unless another holds it (and is alive); queued becomes running."""
    if not claim_take(Onboarding.objects.filter(pk=onboarding_id, state__in=Onboarding.WORKING), token):
        return None
    for waiting, working in ((State.QUEUED, State.RUNNING), (State.OFFBOARD_QUEUED, State.OFFBOARDING)):
        Onboarding.objects.filter(pk=onboarding_id, state=waiting).update(
            state=working, attempts=F("attempts") + 1, message=""
        )
    return Onboarding.objects.select_related("team").get(pk=onboarding_id)


def _release(onboarding: Onboarding, token: str, **fields: Any) -> None:
    claim_release(Onboarding.objects.filter(pk=onboarding.pk), token, updated_at=timezone.now(), **fields)


def onboarding_advance(*, onboarding_id: int) -> Advance:
    """Run the chain's remaining steps in order. A refusal fails the step and the chain with the
    reason on the row; CloudUnavailable passes through with the step pending (the task retries).
    Safe to run twice at once: the second finds the chain held and returns."""
    token = uuid.uuid4().hex
    onboarding = _claim(onboarding_id, token)
    if onboarding is None:
        return Advance.DONE
    phase = onboarding.phase
    runners = ONBOARD_RUNNERS if phase == Phase.ONBOARD else OFFBOARD_RUNNERS
    for step in onboarding.steps.filter(phase=phase).order_by("position"):
        if step.status == StepStatus.DONE:
            continue
        try:
            claim_keep(Onboarding.objects.filter(pk=onboarding.pk), token)
        except LostClaim:
            return Advance.DONE
        _step_update(step, status=StepStatus.RUNNING, started_at=timezone.now(), **_said(None))
        try:
            runners[step.name](onboarding, step)
            failpoint(f"onboarding-after-{step.name}")  # done in the cloud, not yet marked done
        except NotYet as waiting:
            _step_update(step, **_said(waiting.message))
            _release(onboarding, token, **_said(waiting.message))
            return Advance.WAITING
        except CloudUnavailable as error:
            text = texts.WAITING_FOR_CLOUD(e=str(error)[:300])
            _step_update(step, status=StepStatus.PENDING, **_said(text))
            _release(onboarding, token, **_said(text))
            raise
        except StepRefused as error:
            _fail(onboarding, step, error.message)
            return Advance.DONE
        except (CloudRequestError, CloudNotFound, QuotaExceeded) as error:
            _fail(onboarding, step, texts.CLOUD_REFUSED(reason=_sentence(str(error))))
            return Advance.DONE
        except (ValidationError, PermissionDenied) as error:
            reason = (
                texts.REFUSED(reason=_sentence(_messages(error)))
                if isinstance(error, ValidationError)
                else texts.PERMISSION_DENIED()
            )
            _fail(onboarding, step, reason)
            return Advance.DONE
        _step_update(step, status=StepStatus.DONE, finished_at=timezone.now())
    _finish(onboarding, token)
    return Advance.DONE


def _step_update(step: OnboardingStep, **fields: Any) -> None:
    for key, value in fields.items():
        setattr(step, key, value)
    step.save(update_fields=list(fields))


def _said(message: StoredMessage | None) -> dict[str, Any]:
    """A row's message fields: the English text (audit, search) and the id with its parameters."""
    if message is None:
        return {"message": "", "message_ref": None}
    return {"message": message.english(), "message_ref": message.ref()}


def _sentence(text: str) -> str:
    """The cloud's (or a check's) words as one sentence: ends with a full stop."""
    return text.strip().rstrip(".") + "."


def _fail(onboarding: Onboarding, step: OnboardingStep, reason: StoredMessage) -> None:
    said = texts.STEP_FAILED(step=texts.STEP_NAMES[step.name](), reason=reason)
    _step_update(step, status=StepStatus.FAILED, finished_at=timezone.now(), **_said(said))
    failed = State.OFFBOARD_FAILED if onboarding.phase == Phase.OFFBOARD else State.FAILED
    Onboarding.objects.filter(pk=onboarding.pk).update(
        state=failed, claim="", updated_at=timezone.now(), finished_at=timezone.now(), **_said(said)
    )
    onboarding.state, onboarding.message, onboarding.message_ref = failed, said.english(), said.ref()
    audit_record(
        actor=None,
        action="team.offboard_failed" if failed == State.OFFBOARD_FAILED else "team.onboard_failed",
        target=onboarding.team,
        source=WORKER,
        outcome="failure",
        detail={"step": step.name, "reason": reason.english()[:500]},
    )


def _finish(onboarding: Onboarding, token: str) -> None:
    done = State.OFFBOARDED if onboarding.phase == Phase.OFFBOARD else State.DONE
    now = timezone.now()
    if claim_release(
        Onboarding.objects.filter(pk=onboarding.pk),
        token,
        state=done,
        finished_at=now,
        **_said(None),
        updated_at=now,
    ):
        onboarding.state = done
        audit_record(
            actor=None,
            action="team.offboarded" if done == State.OFFBOARDED else "team.onboarded",
            target=onboarding.team,
            source=WORKER,
        )


def onboarding_give_up(*, onboarding_id: int, error: str) -> None:
    """The cloud stayed unreachable (or a step waited) through every retry: fail the chain where it
    stands, with the reason, for an admin to retry."""
    onboarding = Onboarding.objects.filter(pk=onboarding_id, state__in=Onboarding.WORKING).first()
    if onboarding is None:
        return
    step = (
        onboarding.steps.filter(phase=onboarding.phase)
        .exclude(status=StepStatus.DONE)
        .order_by("position")
        .first()
    )
    if step is None:
        return
    _fail(onboarding, step, texts.REFUSED(reason=_sentence(error)))


def onboardings_resume() -> int:
    """Enqueue chains a dead worker left (held, no heartbeat for KENNEL_STALE_WORK_SECONDS; or never
    picked up). Returns how many."""
    stale = claims_abandoned(
        Onboarding.objects.filter(state__in=Onboarding.WORKING), waiting_since="updated_at"
    )
    ids = list(stale.values_list("pk", flat=True))
    from onboarding.tasks import onboarding_run

    for onboarding_id in ids:
        enqueue_now(onboarding_run, onboarding_id)
    return len(ids)


# --- membership changes ------------------------------------------------------------------------------


def team_roles_sync_enqueue(*, team_ids: Iterable[int]) -> None:
    """After a membership or portal-role change: bring the role assignments of the onboarded teams
    among ``team_ids`` up to date in a worker, after commit."""
    from onboarding.tasks import team_roles_sync

    ids = list(
        Onboarding.objects.filter(team_id__in=list(team_ids), state__in=ACCOUNT_STATES).values_list(
            "team_id", flat=True
        )
    )
    for team_id in ids:
        enqueue(team_roles_sync, team_id)


def team_roles_sync_run(*, team_id: int) -> Advance:
    """The task's body: sync the team's roles, or wait while its chain has not done its members step
    (the step reads the memberships itself). A refusal lands on the row (``roles_message``)."""
    onboarding = Onboarding.objects.filter(team_id=team_id).select_related("team").first()
    if onboarding is None or onboarding.offboarding:
        return Advance.DONE
    members_done = onboarding.steps.filter(
        phase=Phase.ONBOARD, name=Name.MEMBERS, status=StepStatus.DONE
    ).exists()
    if not members_done:
        return Advance.WAITING if onboarding.working else Advance.DONE
    if onboarding.working:
        return Advance.WAITING
    try:
        result = team_cloud_roles_sync(team=onboarding.team)
    except (StepRefused, CloudRequestError, CloudNotFound) as error:
        said = error.message if isinstance(error, StepRefused) else texts.REFUSED(reason=str(error))
        Onboarding.objects.filter(pk=onboarding.pk).update(
            roles_message=said.english(), roles_message_ref=said.ref()
        )
        audit_record(
            actor=None,
            action="team.cloud_roles",
            target=onboarding.team,
            source=WORKER,
            outcome="failure",
            detail={"error": str(error)[:500]},
        )
        return Advance.DONE
    Onboarding.objects.filter(pk=onboarding.pk).update(
        roles_synced_at=timezone.now(), roles_message="", roles_message_ref=None
    )
    if result["assigned"] or result["revoked"] or result["deleted_users"]:
        audit_record(
            actor=None,
            action="team.cloud_roles",
            target=onboarding.team,
            source=WORKER,
            detail={k: result[k] for k in ("assigned", "revoked", "deleted_users")},
        )
    return Advance.DONE


def team_roles_sync_give_up(*, team_id: int, error: str) -> None:
    said = texts.ROLES_CLOUD_AWAY(e=error[:300])
    Onboarding.objects.filter(team_id=team_id).update(
        roles_message=said.english(), roles_message_ref=said.ref()
    )


def team_member_set(*, actor: User, team: Team, user: User, level: str, source: str = SYSTEM) -> Membership:
    """An admin adds a member (or changes a level); the worker updates the project's roles."""
    _require_admin(actor)
    if not user.is_active:
        raise ValidationError({"user": _("%(user)s is deactivated.") % {"user": user.username}})
    return membership_set(actor=actor, team=team, user=user, level=level, source=source)


def team_member_remove(*, actor: User, team: Team, user: User, source: str = SYSTEM) -> None:
    """An admin removes a member; the worker revokes the role (and deletes an unused Kennel account)."""
    _require_admin(actor)
    membership_remove(actor=actor, team=team, user=user, source=source)


# --- credentials: a new password, shown once -------------------------------------------------------


def _own_account(actor: User) -> CloudAccount:
    account = (
        restrict(actor, CloudAccount.objects.select_for_update(), Action.OPERATE)
        .filter(user=actor)
        .exclude(keystone_user_id="")
        .first()
    )
    if account is None:
        raise ValidationError(
            _("You have no cloud account yet: it is made when a team you belong to is onboarded.")
        )
    return account


def cloud_password_reset(*, actor: User, source: str = SYSTEM) -> CloudAccount:
    """Give the actor's Kennel-made Keystone user a new random password (set by a worker, then shown
    to its owner once). The old password stops working when the new one is set. Refused for a mapped
    account (it existed before Kennel; its password is its owner's business)."""
    with transaction.atomic():
        account = _own_account(actor)
        if not account.created_by_kennel:
            raise ValidationError(
                _(
                    "Your cloud account %(name)s existed before Kennel, which only maps it: keep using its "
                    "own password, or ask the cloud's admins to reset it."
                )
                % {"name": account.keystone_name}
            )
        if account.password_state == Password.SETTING:
            raise ValidationError(_("A new password is being set already; wait a moment."))
        password = secrets.token_urlsafe(18)
        CloudAccount.objects.filter(pk=account.pk).update(
            password_state=Password.SETTING,
            password_ciphertext=secret_encrypt(password),
            password_message="",
            password_message_ref=None,
            password_set_at=None,
        )
        audit_record(actor=actor, action="cloud.password_reset", target=account, source=source)
        account_id = account.pk

        from onboarding.tasks import cloud_password_apply

        enqueue(cloud_password_apply, account_id)
    account.refresh_from_db()
    return account


def cloud_password_apply_run(*, account_id: int) -> None:
    """The worker's half: set the waiting password in Keystone. CloudUnavailable passes through."""
    account = CloudAccount.objects.filter(pk=account_id, password_state=Password.SETTING).first()
    if account is None:
        return
    try:
        cloud().set_user_password(account.keystone_user_id, secret_decrypt(account.password_ciphertext))
    except (CloudRequestError, CloudNotFound) as error:
        cloud_password_give_up(account_id=account_id, error=str(error))
        return
    CloudAccount.objects.filter(pk=account_id, password_state=Password.SETTING).update(
        password_state=Password.READY, password_set_at=timezone.now()
    )


def cloud_password_give_up(*, account_id: int, error: str) -> None:
    said = texts.PASSWORD_NOT_SET(e=error[:300])
    CloudAccount.objects.filter(pk=account_id, password_state=Password.SETTING).update(
        password_state=Password.FAILED,
        password_ciphertext="",
        password_message=said.english(),
        password_message_ref=said.ref(),
    )


def cloud_password_reveal(*, actor: User, source: str = SYSTEM) -> str:
    """The new password, once: it is erased as it is returned. ValidationError when there is none
    (never asked, already shown, or older than PASSWORD_SHOW_WINDOW)."""
    with transaction.atomic():
        account = _own_account(actor)
        if account.password_state != Password.READY or not account.password_ciphertext:
            raise ValidationError(_("There is no new password to show. Ask for a new one."))
        set_at = account.password_set_at
        expired = set_at is None or set_at < timezone.now() - PASSWORD_SHOW_WINDOW
        # Erased whether shown or expired: the only copy leaves the database here.
        CloudAccount.objects.filter(pk=account.pk).update(
            password_state=Password.SHOWN, password_ciphertext=""
        )
        if not expired:
            audit_record(actor=actor, action="cloud.password_shown", target=account, source=source)
    if expired:
        raise ValidationError(
            _("The new password waited more than 30 minutes and was erased unseen. Ask for a new one.")
        )
    return secret_decrypt(account.password_ciphertext)


# --- orphans -----------------------------------------------------------------------------------------


def orphan_check_request(*, actor: User | None, source: str = SYSTEM) -> OrphanCheck:
    """Ask a worker to look for orphans now (admins; ``actor=None``: the schedule)."""
    if actor is not None:
        _require_admin(actor)
    with transaction.atomic():
        check = OrphanCheck.objects.create(requested_by=actor)
        if actor is not None:
            audit_record(actor=actor, action="cloud.orphan_check", target=check, source=source)
        from onboarding.tasks import orphan_check_run

        check_id = check.pk
        enqueue(orphan_check_run, check_id)
    return check


# The schedule's check runs every six hours; one asked for this recently (or still waiting) is enough.
ORPHAN_SCHEDULE_GAP = timedelta(hours=1)


def orphan_check_schedule() -> OrphanCheck | None:
    """The schedule's check (beat's ``cloud-orphans-check``): asked for once however many copies of the
    schedule's message arrive at once (two beats, a redelivered message): not when one was asked for
    within ``ORPHAN_SCHEDULE_GAP``. None when left to that one."""
    # The lock is held until the new row is committed, so the next run sees it.
    with work_lock("orphan-check-schedule", 0) as held:
        if not held:
            return None
        with transaction.atomic():
            if OrphanCheck.objects.filter(created_at__gte=timezone.now() - ORPHAN_SCHEDULE_GAP).exists():
                return None
            return orphan_check_request(actor=None)


def orphan_check_run_now(*, check_id: int) -> None:
    """The worker's half: look, and store what was found. CloudUnavailable passes through."""
    if not OrphanCheck.objects.filter(pk=check_id, state=OrphanCheck.State.QUEUED).exists():
        return
    findings = cloud_orphans_find()
    OrphanCheck.objects.filter(pk=check_id).update(
        state=OrphanCheck.State.DONE, findings=findings, finished_at=timezone.now(), message=""
    )
    # The page shows the latest; a few earlier ones are kept to compare, the rest go.
    keep = OrphanCheck.objects.order_by("-created_at", "-id").values_list("pk", flat=True)[
        :ORPHAN_CHECKS_KEPT
    ]
    OrphanCheck.objects.exclude(pk__in=list(keep)).delete()


def orphan_check_give_up(*, check_id: int, error: str) -> None:
    OrphanCheck.objects.filter(pk=check_id, state=OrphanCheck.State.QUEUED).update(
        state=OrphanCheck.State.FAILED, message=error[:500], finished_at=timezone.now()
    )


def cloud_orphans_find() -> list[dict[str, str]]:
    """What no team accounts for, each with the reason: resources whose project no longer exists,
    projects Kennel made that no team links, Keystone users Kennel made whose person is in no onboarded
    team, and role assignments on onboarded teams' projects that Kennel did not give."""
    gateway = cloud()
    findings: list[dict[str, str]] = []

    def found(kind: str, item_id: str, name: str, project_id: str, reason: str) -> None:
        findings.append(
            {"kind": kind, "id": item_id, "name": name, "project_id": project_id, "reason": reason}
        )

    projects = {p.id: p for p in gateway.list_projects()}
    linked = set(Team.objects.exclude(openstack_project_id="").values_list("openstack_project_id", flat=True))
    for project in projects.values():
        if project.description.startswith(PROJECT_MARKER) and project.id not in linked:
            found(
                "project", project.id, project.name, project.id, "made by Kennel for a team; no team links it"
            )
    floating_ips = gateway.list_floating_ips()
    resources: list[tuple[str, Iterable[Any]]] = [
        ("server", gateway.list_servers()),
        ("floating_ip", floating_ips),
        ("router", gateway.list_routers()),
        ("network", gateway.list_networks()),
        ("subnet", gateway.list_subnets()),
        ("port", gateway.list_ports()),
        ("security_group", gateway.list_security_groups()),
    ]
    for kind, items in resources:
        for item in items:
            if item.project_id and item.project_id not in projects:
                name = getattr(item, "name", None) or getattr(item, "address", None) or ""
                found(kind, item.id, name, item.project_id, "its project no longer exists")
    # An address allocated and attached to nothing (a VM deleted without releasing it): it still
    # counts against its project's floating-IP quota. Those of deleted projects are listed above.
    teams = dict(Team.objects.exclude(openstack_project_id="").values_list("openstack_project_id", "slug"))
    for fip in floating_ips:
        if fip.port_id is None and fip.project_id in projects:
            owner = f"team {teams[fip.project_id]}" if fip.project_id in teams else "its project"
            found(
                "floating_ip",
                fip.id,
                fip.address,
                fip.project_id,
                f"allocated and attached to nothing (no port); it counts against {owner}'s quota",
            )
    accounts = {a.keystone_user_id: a for a in CloudAccount.objects.exclude(keystone_user_id="")}
    for user in gateway.list_users():
        if not user.description.startswith(USER_MARKER):
            continue
        account = accounts.get(user.id)
        if account is None or not account_needed(account):
            found("user", user.id, user.name, "", "made by Kennel; its person is in no onboarded team")
    portal_user = gateway.whoami()
    for onboarding in Onboarding.objects.filter(state=State.DONE).select_related("team"):
        project_id = onboarding.team.openstack_project_id
        if not project_id or project_id not in projects:
            continue
        expected = {portal_user.id} | {
            accounts_id
            for accounts_id in CloudAccount.objects.filter(
                user__memberships__team=onboarding.team, user__is_active=True
            ).values_list("keystone_user_id", flat=True)
        }
        for assignment in gateway.list_role_assignments(project_id=project_id):
            if assignment.user_id not in expected:
                found(
                    "role_assignment",
                    f"{assignment.user_id}:{assignment.role}",
                    assignment.role,
                    project_id,
                    f"a role on team {onboarding.team.slug}'s project that Kennel did not give",
                )
    return findings
