"""Writes for team onboarding and offboarding, members' cloud accounts, credentials and orphans.

Onboarding a team runs a chain of steps through the cloud gateway in a worker: Keystone project (named
after the team's short name), the portal's own cloud user made admin there, a Keystone account per
member with its role, a private network and subnet (a range from KENNEL_TENANT_CIDR_POOL that no other
team and no existing subnet overlaps), a router with its gateway on KENNEL_EXTERNAL_NETWORK and an
interface on the subnet, SSH and ICMP allowed in by the project's default security group, and the
quota template applied as an admin-approved quota request (audited and read back by quotas.services).

Each step saves the ids of what it made before the next one starts, and looks for them (or for what a
lost answer may have made, by name) before creating anything, so a retry after a failure, or a second
run, skips what exists. ``CloudUnavailable`` passes through with the row where it was (the task retries
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

import contextlib
import functools
import ipaddress
import logging
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

# A refusal raised in a request is in the reader's language; what a worker writes on a row is in the
# portal's default language (LANGUAGE_CODE), as the worker has no reader.
from django.utils.translation import gettext as _

from inventory.crypto import secret_decrypt, secret_encrypt
from onboarding.models import (
    CloudAccount,
    Onboarding,
    OnboardingStep,
    OrphanCheck,
    QuotaTemplate,
    SubnetAllocation,
)
from portal.access import Action, Capability, can, restrict
from portal.cloud import cloud
from portal.cloud.gateway import (
    CloudNotFound,
    CloudRequestError,
    CloudUnavailable,
    QuotaExceeded,
    SecurityGroup,
    SecurityGroupRule,
)
from portal.models import Membership, Team, User
from portal.origin import SYSTEM, WORKER
from portal.services import audit_record, membership_remove, membership_set, team_create

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
STALE_CLAIM = timedelta(minutes=10)
# Descriptions that mark what Kennel made, so a lost answer and the orphan check recognise it.
USER_MARKER = "Kennel:"
PROJECT_MARKER = "Kennel team"
# What the default security group lets in, from anywhere (IPv4): SSH and ping.
INGRESS_FROM = "0.0.0.0/0"
DEFAULT_RULES: tuple[tuple[str, int | None, int | None], ...] = (("tcp", 22, 22), ("icmp", None, None))
MEMBER_ROLE, ADMIN_ROLE = "member", "admin"
# A new cloud password waits (encrypted) this long for its owner to look at it once.
PASSWORD_SHOW_WINDOW = timedelta(minutes=30)
ORPHAN_CHECKS_KEPT = 20
# States in which a team's members need their cloud accounts.
_ACCOUNT_STATES = (State.QUEUED, State.RUNNING, State.DONE, State.FAILED)


class StepRefused(Exception):
    """A step cannot succeed as things are; ``str()`` says why and what to do."""


class NotYet(Exception):
    """The step waits for the cloud to finish something (VMs being deleted); look again shortly."""


class Advance(StrEnum):
    DONE = "done"  # finished, failed for good, or nothing to do
    WAITING = "waiting"  # a step waits on the cloud: run again in a few seconds


class _LostClaim(Exception):
    """Another worker took the chain over (this one was presumed dead): stop quietly."""


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
        _transition(onboarding, target, message=_("Retry asked by %(user)s.") % {"user": actor.username})
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
        onboarding.steps.filter(phase=Phase.ONBOARD).update(status=StepStatus.PENDING, message="")
        _transition(onboarding, State.QUEUED, message="", finished_at=None)
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
            message=_("Offboarding asked by %(user)s.") % {"user": actor.username},
            finished_at=None,
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

    transaction.on_commit(lambda: onboarding_run.delay(onboarding_id))


# --- the worker --------------------------------------------------------------------------------------


def _claim(onboarding_id: int, token: str) -> Onboarding | None:
    """Hold the chain for this worker unless another holds it (and is alive); queued becomes running."""
    now = timezone.now()
    held = (
        Onboarding.objects.filter(pk=onboarding_id, state__in=Onboarding.WORKING)
        .filter(Q(claim="") | Q(claim=token) | Q(heartbeat_at__lt=now - STALE_CLAIM))
        .update(claim=token, heartbeat_at=now)
    )
    if not held:
        return None
    for waiting, working in ((State.QUEUED, State.RUNNING), (State.OFFBOARD_QUEUED, State.OFFBOARDING)):
        Onboarding.objects.filter(pk=onboarding_id, state=waiting).update(
            state=working, attempts=F("attempts") + 1, message=""
        )
    return Onboarding.objects.select_related("team").get(pk=onboarding_id)


def _hold(onboarding: Onboarding, token: str) -> None:
    if not Onboarding.objects.filter(pk=onboarding.pk, claim=token).update(heartbeat_at=timezone.now()):
        raise _LostClaim


def _release(onboarding: Onboarding, token: str, **fields: Any) -> None:
    Onboarding.objects.filter(pk=onboarding.pk, claim=token).update(
        claim="", updated_at=timezone.now(), **fields
    )


def onboarding_advance(*, onboarding_id: int) -> Advance:
    """Run the chain's remaining steps in order. A refusal fails the step and the chain with the
    reason on the row; CloudUnavailable passes through with the step pending (the task retries).
    Safe to run twice at once: the second finds the chain held and returns."""
    token = uuid.uuid4().hex
    onboarding = _claim(onboarding_id, token)
    if onboarding is None:
        return Advance.DONE
    phase = onboarding.phase
    runners = _ONBOARD_RUNNERS if phase == Phase.ONBOARD else _OFFBOARD_RUNNERS
    for step in onboarding.steps.filter(phase=phase).order_by("position"):
        if step.status == StepStatus.DONE:
            continue
        try:
            _hold(onboarding, token)
        except _LostClaim:
            return Advance.DONE
        _step_update(step, status=StepStatus.RUNNING, message="", started_at=timezone.now())
        try:
            runners[step.name](onboarding, step)
        except NotYet as waiting:
            _step_update(step, message=str(waiting))
            _release(onboarding, token, message=str(waiting))
            return Advance.WAITING
        except CloudUnavailable as error:
            text = _("Waiting for the cloud, which cannot be reached; Kennel retries by itself. (%(e)s)") % {
                "e": str(error)[:300]
            }
            _step_update(step, status=StepStatus.PENDING, message=text)
            _release(onboarding, token, message=text)
            raise
        except (StepRefused, CloudRequestError, CloudNotFound, QuotaExceeded) as error:
            _fail(onboarding, step, str(error), refused_by_cloud=not isinstance(error, StepRefused))
            return Advance.DONE
        except (ValidationError, PermissionDenied) as error:
            reason = _messages(error) if isinstance(error, ValidationError) else _("permission denied")
            _fail(onboarding, step, reason, refused_by_cloud=False)
            return Advance.DONE
        _step_update(step, status=StepStatus.DONE, finished_at=timezone.now())
    _finish(onboarding, token)
    return Advance.DONE


def _step_update(step: OnboardingStep, **fields: Any) -> None:
    for key, value in fields.items():
        setattr(step, key, value)
    step.save(update_fields=list(fields))


def _record(step: OnboardingStep, **resources: Any) -> None:
    """Save what the step made (ids) at once, before anything else can fail."""
    step.resources = {**step.resources, **resources}
    step.save(update_fields=["resources"])


def _fail(onboarding: Onboarding, step: OnboardingStep, reason: str, *, refused_by_cloud: bool) -> None:
    reason = reason.strip().rstrip(".") + "."
    if refused_by_cloud:
        reason = _("The cloud refused: %(reason)s Fix the cause, then Retry: the steps done are skipped.") % {
            "reason": reason
        }
    message = _("%(step)s failed: %(reason)s") % {"step": step.get_name_display(), "reason": reason}
    _step_update(step, status=StepStatus.FAILED, message=message, finished_at=timezone.now())
    failed = State.OFFBOARD_FAILED if onboarding.phase == Phase.OFFBOARD else State.FAILED
    Onboarding.objects.filter(pk=onboarding.pk).update(
        state=failed, message=message, claim="", updated_at=timezone.now(), finished_at=timezone.now()
    )
    onboarding.state, onboarding.message = failed, message
    audit_record(
        actor=None,
        action="team.offboard_failed" if failed == State.OFFBOARD_FAILED else "team.onboard_failed",
        target=onboarding.team,
        source=WORKER,
        outcome="failure",
        detail={"step": step.name, "reason": reason[:500]},
    )


def _finish(onboarding: Onboarding, token: str) -> None:
    done = State.OFFBOARDED if onboarding.phase == Phase.OFFBOARD else State.DONE
    now = timezone.now()
    updated = Onboarding.objects.filter(pk=onboarding.pk, claim=token).update(
        state=done, claim="", message="", finished_at=now, updated_at=now
    )
    if updated:
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
    _fail(onboarding, step, error, refused_by_cloud=False)


def onboardings_resume() -> int:
    """Enqueue chains a dead worker left (held, no heartbeat for STALE_CLAIM; or never picked up).
    Returns how many."""
    now = timezone.now()
    stale = Onboarding.objects.filter(state__in=Onboarding.WORKING).filter(
        Q(heartbeat_at__lt=now - STALE_CLAIM)
        | Q(heartbeat_at__isnull=True, updated_at__lt=now - timedelta(minutes=2))
    )
    ids = list(stale.values_list("pk", flat=True))
    from onboarding.tasks import onboarding_run

    for onboarding_id in ids:
        onboarding_run.delay(onboarding_id)
    return len(ids)


# --- onboarding steps --------------------------------------------------------------------------------


def _resource(onboarding: Onboarding, name: str, key: str) -> str:
    step = onboarding.steps.get(phase=Phase.ONBOARD, name=name)
    value = step.resources.get(key)
    if not value:
        raise StepRefused(
            _("The %(step)s step has no %(key)s recorded; run the chain again.")
            % {"step": step.get_name_display(), "key": key}
        )
    return str(value)


def _project_id(onboarding: Onboarding) -> str:
    return _resource(onboarding, Name.PROJECT, "project_id")


def _project_description(team: Team) -> str:
    return f"{PROJECT_MARKER} {team.slug}: {team.name}"[:255]


def _step_project(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    team = onboarding.team
    recorded = step.resources.get("project_id")
    project = gateway.find_project(recorded) if recorded else None
    if project is None:
        found = gateway.find_project(team.slug)
        if found is not None:
            ours = step.resources.get("creating") == team.slug or found.description.startswith(
                f"{PROJECT_MARKER} {team.slug}:"
            )
            if not ours:
                raise StepRefused(
                    _(
                        "The cloud already has a project named %(name)s that Kennel did not make. Give the "
                        "team another short name (offboard this one and onboard again), or link the "
                        "existing project to a team instead."
                    )
                    % {"name": team.slug}
                )
            project = found
        else:
            _record(step, creating=team.slug)
            project = gateway.create_project(name=team.slug, description=_project_description(team))
    _record(step, project_id=project.id, project_name=project.name)
    access = gateway.access_info()
    Onboarding.objects.filter(pk=onboarding.pk).update(
        auth_url=settings.KENNEL_CLOUD_PUBLIC_AUTH_URL or access.auth_url,
        region_name=access.region_name or "",
        interface=access.interface or "",
    )
    if team.openstack_project_id != project.id:
        team.openstack_project_id = project.id
        team.full_clean()
        team.save(update_fields=["openstack_project_id"])


def _step_portal_access(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    me = gateway.whoami()
    gateway.assign_role(user_id=me.id, project_id=_project_id(onboarding), role=ADMIN_ROLE)
    _record(step, user_id=me.id, user_name=me.name, role=ADMIN_ROLE)


def _step_members(onboarding: Onboarding, step: OnboardingStep) -> None:
    result = team_cloud_roles_sync(team=onboarding.team)
    _record(step, **result)
    Onboarding.objects.filter(pk=onboarding.pk).update(roles_synced_at=timezone.now(), roles_message="")


def _step_network(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    project_id = _project_id(onboarding)
    name = f"{onboarding.team.slug}-net"
    networks = [n for n in gateway.list_networks(project_id=project_id) if not n.external]
    network = next((n for n in networks if n.id == step.resources.get("network_id")), None) or next(
        (n for n in networks if n.name == name), None
    )
    if network is None:
        network = gateway.create_network(project_id=project_id, name=name)
    _record(step, network_id=network.id, name=network.name)


def _step_subnet(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    network_id = _resource(onboarding, Name.NETWORK, "network_id")
    name = f"{onboarding.team.slug}-subnet"
    subnets = gateway.list_subnets(network_id=network_id)
    subnet = next((s for s in subnets if s.id == step.resources.get("subnet_id")), None) or next(
        (s for s in subnets if s.name == name), None
    )
    if subnet is None:
        allocation = subnet_allocate(onboarding=onboarding)
        _record(step, cidr=allocation.cidr)
        subnet = gateway.create_subnet(
            network_id=network_id,
            name=name,
            cidr=allocation.cidr,
            dns_nameservers=tuple(settings.KENNEL_TENANT_DNS),
        )
    _record(step, subnet_id=subnet.id, cidr=subnet.cidr, gateway_ip=subnet.gateway_ip)


def _step_router(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    project_id = _project_id(onboarding)
    wanted = settings.KENNEL_EXTERNAL_NETWORK
    external = next(
        (n for n in gateway.list_networks(external=True) if wanted in (n.name, n.id)),
        None,
    )
    if external is None:
        raise StepRefused(
            _(
                "The cloud has no external network named %(name)s. Set KENNEL_EXTERNAL_NETWORK to the "
                "network floating IPs come from, restart the workers, then Retry."
            )
            % {"name": wanted}
        )
    name = f"{onboarding.team.slug}-router"
    routers = gateway.list_routers(project_id=project_id)
    router = next((r for r in routers if r.id == step.resources.get("router_id")), None) or next(
        (r for r in routers if r.name == name), None
    )
    if router is None:
        router = gateway.create_router(project_id=project_id, name=name, external_network_id=external.id)
    _record(step, router_id=router.id, name=router.name, external_network_id=external.id)
    if router.external_network_id != external.id:
        raise StepRefused(
            _(
                "Router %(router)s has no gateway on %(network)s. Delete the router in the cloud, then "
                "Retry: Kennel makes a new one."
            )
            % {"router": router.name, "network": external.name}
        )


def _step_router_interface(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    router_id = _resource(onboarding, Name.ROUTER, "router_id")
    subnet_id = _resource(onboarding, Name.SUBNET, "subnet_id")
    if subnet_id not in gateway.list_router_interfaces(router_id):
        gateway.add_router_interface(router_id=router_id, subnet_id=subnet_id)
    _record(step, router_id=router_id, subnet_id=subnet_id)


def _matching_rule(
    group: SecurityGroup, protocol: str, low: int | None, high: int | None
) -> SecurityGroupRule | None:
    return next(
        (
            r
            for r in group.rules
            if (r.direction, r.ethertype, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix)
            == ("ingress", "IPv4", protocol, low, high, INGRESS_FROM)
        ),
        None,
    )


def _default_group(project_id: str) -> SecurityGroup:
    groups = cloud().list_security_groups(project_id=project_id)
    default = next((g for g in groups if g.name == "default"), None)
    if default is None:
        raise StepRefused(_("Neutron made no default security group for the project; Retry."))
    return default


def _step_security_group(onboarding: Onboarding, step: OnboardingStep) -> None:
    gateway = cloud()
    project_id = _project_id(onboarding)
    default = _default_group(project_id)
    rule_ids = []
    for protocol, low, high in DEFAULT_RULES:
        rule = _matching_rule(default, protocol, low, high)
        if rule is None:
            try:
                rule = gateway.create_security_group_rule(
                    security_group_id=default.id,
                    direction="ingress",
                    protocol=protocol,
                    port_range_min=low,
                    port_range_max=high,
                    remote_ip_prefix=INGRESS_FROM,
                )
            except CloudRequestError as error:
                # Made by an earlier attempt whose answer was lost: Neutron says it exists.
                if "already exists" not in str(error):
                    raise
                rule = _matching_rule(_default_group(project_id), protocol, low, high)
                if rule is None:
                    raise
        rule_ids.append(rule.id)
        _record(step, security_group_id=default.id, rule_ids=rule_ids)


def _step_quota(onboarding: Onboarding, step: OnboardingStep) -> None:
    from quotas.dimensions import dimension
    from quotas.models import QuotaRequest
    from quotas.selectors import team_quota_table
    from quotas.services import (
        ApplyOutcome,
        quota_request_apply,
        quota_request_approve,
        quota_request_retry,
        quota_request_submit,
        quota_sync,
    )

    team = onboarding.team
    if not onboarding.quota_values:
        _record(step, skipped=_("no quota template: the cloud's defaults stay"))
        return
    actor = onboarding.requested_by
    request_id = step.resources.get("request_id")
    request = QuotaRequest.objects.filter(pk=request_id).first() if request_id else None
    finished = (QuotaRequest.Status.APPLIED, QuotaRequest.Status.REJECTED, QuotaRequest.Status.CANCELLED)
    if request is not None and request.status in finished:
        # Applied before (a second run: look whether the limits drifted) or withdrawn: compare afresh.
        request = None
    if request is None:
        gateway = cloud()
        available = gateway.services()
        quota_sync(team_ids=[team.pk])  # the new project's limits, as the request is checked against them
        current = {line.dimension.key: line.limit for line in team_quota_table(team).lines}
        wanted: dict[str, int] = {}
        skipped = []
        for key, value in onboarding.quota_values.items():
            service = dimension(key).service
            if service is not None and service not in available:
                skipped.append(key)  # e.g. volume storage on a cloud without Cinder
            elif current.get(key) != value:
                wanted[key] = int(value)
        if not wanted:
            _record(step, request_id=None, unchanged=True, skipped=skipped)
            return
        template = onboarding.quota_template.name if onboarding.quota_template else "-"
        request = quota_request_submit(
            actor=actor,
            team=team,
            values=wanted,
            reason=f"Onboarding of team {team.slug}: quota template {template}",
            source=WORKER,
        )
        _record(step, request_id=request.pk, values=wanted, skipped=skipped)
        if request.status in QuotaRequest.UNDECIDED:
            quota_request_approve(
                actor=actor, request=request, comment="Quota template applied by onboarding.", source=WORKER
            )
    request.refresh_from_db()
    if request.status == QuotaRequest.Status.FAILED:
        quota_request_retry(actor=actor, request=request, source=WORKER)
    applicable = request.status in (QuotaRequest.Status.APPROVED, QuotaRequest.Status.APPLYING)
    if applicable and quota_request_apply(request_id=request.pk) == ApplyOutcome.BUSY:
        raise NotYet(_("Another quota change of the team is being applied; waiting for it."))
    request.refresh_from_db()
    if request.status == QuotaRequest.Status.APPLIED:
        _record(step, applied=request.approved_values)
        return
    raise StepRefused(
        _("Quota request #%(id)s is %(status)s: %(error)s Look at the request, fix the cause, then Retry.")
        % {"id": request.pk, "status": request.get_status_display(), "error": request.error or ""}
    )


# --- offboarding steps -------------------------------------------------------------------------------


def _offboard_project_id(onboarding: Onboarding) -> str | None:
    step = onboarding.steps.filter(phase=Phase.ONBOARD, name=Name.PROJECT).first()
    recorded = step.resources.get("project_id") if step else None
    return recorded or onboarding.team.openstack_project_id or None


def _step_servers(onboarding: Onboarding, step: OnboardingStep) -> None:
    from provisioning.models import VmRequest
    from provisioning.services import vm_delete_advance, vm_delete_request

    team = onboarding.team
    actor = onboarding.offboard_requested_by
    assert actor is not None
    project_id = _offboard_project_id(onboarding)
    Status = VmRequest.Status
    deleted = list(step.resources.get("deleted", []))
    for vm in VmRequest.objects.filter(team=team).exclude(status=Status.DELETED):
        if vm.status != Status.DELETING:
            vm = vm_delete_request(actor=actor, vm=vm, source=WORKER)
        if vm.status == Status.DELETING:
            vm_delete_advance(request_id=vm.pk)  # the provisioning task does the same; either is fine
        if vm.name not in deleted:
            deleted.append(vm.name)
    if project_id:
        gateway = cloud()
        kennel_servers = set(VmRequest.objects.filter(team=team).values_list("server_id", flat=True))
        for server in gateway.list_servers(project_id=project_id):
            if server.id in kennel_servers or server.task_state == "deleting":
                continue
            try:
                gateway.delete_server(server.id)  # made outside Kennel; the typed confirmation covers it
            except CloudNotFound:
                continue
            if server.name not in deleted:
                deleted.append(server.name)
    _record(step, deleted=deleted)
    left = list(
        VmRequest.objects.filter(team=team).exclude(status=Status.DELETED).values_list("name", flat=True)
    )
    if project_id:
        left += [s.name for s in cloud().list_servers(project_id=project_id) if s.name not in left]
    if left:
        raise NotYet(
            _("Waiting for %(count)s VMs to be deleted: %(names)s.")
            % {"count": len(left), "names": ", ".join(sorted(left))}
        )


def _step_floating_ips(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    released = []
    if project_id:
        gateway = cloud()
        for fip in gateway.list_floating_ips(project_id=project_id):
            with contextlib.suppress(CloudNotFound):
                gateway.delete_floating_ip(fip.id)
            released.append(fip.address)
    _record(step, released=released)


def _step_routers(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    removed = []
    if project_id:
        gateway = cloud()
        for router in gateway.list_routers(project_id=project_id):
            for subnet_id in gateway.list_router_interfaces(router.id):
                with contextlib.suppress(CloudNotFound):
                    gateway.remove_router_interface(router_id=router.id, subnet_id=subnet_id)
            with contextlib.suppress(CloudNotFound):
                gateway.delete_router(router.id)
            removed.append(router.id)
    _record(step, removed=removed)


def _step_networks(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    removed: dict[str, list[str]] = {"subnets": [], "networks": []}
    if project_id:
        gateway = cloud()
        for network in gateway.list_networks(project_id=project_id):
            if network.external:
                continue
            for subnet in gateway.list_subnets(network_id=network.id):
                with contextlib.suppress(CloudNotFound):
                    gateway.delete_subnet(subnet.id)
                removed["subnets"].append(subnet.cidr)
            with contextlib.suppress(CloudNotFound):
                gateway.delete_network(network.id)
            removed["networks"].append(network.id)
    _record(step, **removed)


def _step_security_groups(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    removed = []
    if project_id:
        gateway = cloud()
        # Listed for every project: asking for this one would make Neutron create its default again.
        for group in gateway.list_security_groups():
            if group.project_id != project_id:
                continue
            with contextlib.suppress(CloudNotFound):
                gateway.delete_security_group(group.id)
            removed.append(group.id)
    _record(step, removed=removed)


def _step_accounts(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    gateway = cloud()
    accounts = list(
        CloudAccount.objects.filter(user__memberships__team=onboarding.team).exclude(keystone_user_id="")
    )
    revoked = []
    if project_id and gateway.find_project(project_id) is not None:
        mine = {a.keystone_user_id for a in accounts}
        for assignment in gateway.list_role_assignments(project_id=project_id):
            if assignment.user_id in mine:
                with contextlib.suppress(CloudNotFound):
                    gateway.revoke_role(
                        user_id=assignment.user_id, project_id=project_id, role=assignment.role
                    )
                revoked.append([assignment.user_id, assignment.role])
    deleted = _accounts_release(accounts, leaving=onboarding.team)
    _record(step, revoked=revoked, deleted_users=deleted)


def _step_project_delete(onboarding: Onboarding, step: OnboardingStep) -> None:
    project_id = _offboard_project_id(onboarding)
    if not project_id:
        _record(step, deleted=None)
        return
    left = project_leftovers(project_id)
    if left:
        raise StepRefused(
            _(
                "The project still holds what Kennel did not remove: %(left)s. Retry removes what was made "
                "since; delete in the cloud what Kennel cannot (it may belong to something Kennel does "
                "not manage), then Retry."
            )
            % {"left": "; ".join(left)}
        )
    with contextlib.suppress(CloudNotFound):
        cloud().delete_project(project_id)
    _record(step, deleted=project_id)


def project_leftovers(project_id: str) -> list[str]:
    """What the cloud still has in the project, one line per kind (empty: nothing)."""
    gateway = cloud()
    kinds: list[tuple[str, list[Any]]] = [
        ("servers", gateway.list_servers(project_id=project_id)),
        ("floating IPs", gateway.list_floating_ips(project_id=project_id)),
        ("routers", gateway.list_routers(project_id=project_id)),
        ("networks", [n for n in gateway.list_networks(project_id=project_id) if not n.external]),
        ("subnets", gateway.list_subnets(project_id=project_id)),
        ("ports", gateway.list_ports(project_id=project_id)),
        ("security groups", [g for g in gateway.list_security_groups() if g.project_id == project_id]),
    ]
    return [
        f"{kind} {', '.join(getattr(item, 'name', '') or item.id for item in items)}"
        for kind, items in kinds
        if items
    ]


def _step_release(onboarding: Onboarding, step: OnboardingStep) -> None:
    from quotas.models import TeamQuota

    team = onboarding.team
    actor = onboarding.offboard_requested_by
    assert actor is not None
    with transaction.atomic():
        released = (
            SubnetAllocation.objects.filter(onboarding=onboarding).values_list("cidr", flat=True).first()
        )
        SubnetAllocation.objects.filter(onboarding=onboarding).delete()
        TeamQuota.objects.filter(team=team).delete()
        members = [m.user for m in team.memberships.select_related("user")]
        for user in members:
            membership_remove(actor=actor, team=team, user=user, source=WORKER)
        if team.openstack_project_id:
            team.openstack_project_id = ""
            team.save(update_fields=["openstack_project_id"])
    _record(step, cidr=released, members=sorted(u.username for u in members))


_ONBOARD_RUNNERS: dict[str, Callable[[Onboarding, OnboardingStep], None]] = {
    Name.PROJECT: _step_project,
    Name.PORTAL_ACCESS: _step_portal_access,
    Name.MEMBERS: _step_members,
    Name.NETWORK: _step_network,
    Name.SUBNET: _step_subnet,
    Name.ROUTER: _step_router,
    Name.ROUTER_INTERFACE: _step_router_interface,
    Name.SECURITY_GROUP: _step_security_group,
    Name.QUOTA: _step_quota,
}
_OFFBOARD_RUNNERS: dict[str, Callable[[Onboarding, OnboardingStep], None]] = {
    Name.SERVERS: _step_servers,
    Name.FLOATING_IPS: _step_floating_ips,
    Name.ROUTERS: _step_routers,
    Name.NETWORKS: _step_networks,
    Name.SECURITY_GROUPS: _step_security_groups,
    Name.ACCOUNTS: _step_accounts,
    Name.PROJECT_DELETE: _step_project_delete,
    Name.RELEASE: _step_release,
}


# --- subnet ranges -----------------------------------------------------------------------------------


def subnet_allocate(*, onboarding: Onboarding) -> SubnetAllocation:
    """The team's private range: its own if it has one, else the first /KENNEL_TENANT_SUBNET_PREFIX of
    KENNEL_TENANT_CIDR_POOL that overlaps neither another team's range (the database) nor any subnet
    the cloud has (one listing). Allocations are serialized by a database lock, and the unique range
    backs it up. StepRefused when the pool is used up."""
    existing = SubnetAllocation.objects.filter(onboarding=onboarding).first()
    if existing is not None:
        return existing
    pool = ipaddress.IPv4Network(settings.KENNEL_TENANT_CIDR_POOL)
    in_cloud = [
        network
        for network in (ipaddress.ip_network(s.cidr, strict=False) for s in cloud().list_subnets())
        if isinstance(network, ipaddress.IPv4Network)
    ]
    for _attempt in range(3):
        try:
            with transaction.atomic():
                _lock_allocations()
                existing = SubnetAllocation.objects.filter(onboarding=onboarding).first()
                if existing is not None:
                    return existing
                taken = [
                    ipaddress.IPv4Network(cidr)
                    for cidr in SubnetAllocation.objects.values_list("cidr", flat=True)
                ]
                for candidate in pool.subnets(new_prefix=settings.KENNEL_TENANT_SUBNET_PREFIX):
                    if any(candidate.overlaps(other) for other in (*taken, *in_cloud)):
                        continue
                    allocation = SubnetAllocation(cidr=str(candidate), onboarding=onboarding)
                    allocation.full_clean(validate_unique=False)
                    allocation.save()
                    return allocation
        except IntegrityError:
            continue  # another allocator won this range under a weaker lock (SQLite): look again
        raise StepRefused(
            _(
                "The subnet pool %(pool)s is used up: %(teams)s ranges are teams' and %(cloud)s overlap "
                "subnets the cloud has. Widen KENNEL_TENANT_CIDR_POOL (or offboard a team), then Retry."
            )
            % {"pool": pool, "teams": len(taken), "cloud": len(in_cloud)}
        )
    raise StepRefused(_("Could not allocate a subnet range after three attempts; Retry."))


def _lock_allocations() -> None:
    """One allocator at a time: a transaction-scoped advisory lock on PostgreSQL (SQLite already lets
    one writer in at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('kennel.subnet_allocate'))")


# --- members' cloud accounts and roles ---------------------------------------------------------------


def cloud_account_ensure(*, user: User, portal_user_id: str) -> CloudAccount:
    """The user's Keystone user, found by the recorded id, else by name (mapped if it was not Kennel's),
    else created (marked ``created_by_kennel`` before the call, so a lost answer is recognised).
    StepRefused when the name is the portal's own cloud user."""
    gateway = cloud()
    account, _created = CloudAccount.objects.get_or_create(
        user=user, defaults={"keystone_name": user.username}
    )
    if account.keystone_user_id:
        found = gateway.find_user(account.keystone_user_id)
        if found is not None:
            return account
        # Deleted behind Kennel's back: find or make it again below.
        CloudAccount.objects.filter(pk=account.pk).update(keystone_user_id="")
    found = gateway.find_user(account.keystone_name)
    if found is not None and found.id == portal_user_id:
        raise StepRefused(
            _(
                "Portal user %(user)s has the name of the portal's own cloud user; Kennel will not hand that "
                "account to a person. Remove %(user)s from the team (or rename the portal user), then Retry."
            )
            % {"user": user.username}
        )
    if found is None:
        CloudAccount.objects.filter(pk=account.pk).update(created_by_kennel=True)
        try:
            found = gateway.create_user(
                name=account.keystone_name,
                email=user.email or None,
                description=f"{USER_MARKER} portal user {user.username}",
            )
        except CloudRequestError:
            found = gateway.find_user(account.keystone_name)  # made meanwhile by a parallel chain
            if found is None:
                raise
    account.refresh_from_db()
    # Kennel's if it said so before creating it (the answer may have been lost) or its mark says so.
    ours = account.created_by_kennel or found.description.startswith(USER_MARKER)
    CloudAccount.objects.filter(pk=account.pk).update(keystone_user_id=found.id, created_by_kennel=ours)
    account.refresh_from_db()
    return account


def _role_for(user: User) -> str:
    return ADMIN_ROLE if user.is_portal_admin else MEMBER_ROLE


def team_cloud_roles_sync(*, team: Team) -> dict[str, Any]:
    """Make the team project's role assignments match its active members: each member's account
    (ensured) holds exactly its role; accounts Kennel knows that are no longer members lose theirs, and
    Kennel-made ones that no onboarded team needs any more are deleted. Assignments of users Kennel does
    not know are left alone (the orphan check lists them). Returns what it found and changed."""
    gateway = cloud()
    project_id = team.openstack_project_id
    if not project_id:
        raise StepRefused(_("Team %(team)s has no cloud project yet.") % {"team": team.name})
    portal_user = gateway.whoami()
    desired: dict[str, str] = {}
    accounts: dict[str, str] = {}
    for membership in Membership.objects.filter(team=team, user__is_active=True).select_related("user"):
        account = cloud_account_ensure(user=membership.user, portal_user_id=portal_user.id)
        desired[account.keystone_user_id] = _role_for(membership.user)
        accounts[membership.user.username] = account.keystone_user_id
    current = gateway.list_role_assignments(project_id=project_id)
    have = {(a.user_id, a.role) for a in current}
    assigned, revoked = [], []
    for user_id, role in sorted(desired.items()):
        if (user_id, role) not in have:
            gateway.assign_role(user_id=user_id, project_id=project_id, role=role)
            assigned.append([user_id, role])
    known = CloudAccount.objects.exclude(keystone_user_id="")
    known_ids = set(known.values_list("keystone_user_id", flat=True))
    for assignment in current:
        if assignment.user_id == portal_user.id or assignment.user_id not in known_ids:
            continue
        if desired.get(assignment.user_id) != assignment.role:
            with contextlib.suppress(CloudNotFound):
                gateway.revoke_role(user_id=assignment.user_id, project_id=project_id, role=assignment.role)
            revoked.append([assignment.user_id, assignment.role])
    gone = known.filter(keystone_user_id__in={user_id for user_id, _role in revoked} - set(desired))
    deleted = _accounts_release(list(gone))
    return {
        "accounts": accounts,
        "assignments": sorted([user_id, role] for user_id, role in desired.items()),
        "assigned": assigned,
        "revoked": revoked,
        "deleted_users": deleted,
    }


def _account_needed(account: CloudAccount, *, leaving: Team | None = None) -> bool:
    """Whether an active member of some onboarded team (other than ``leaving``) still uses it."""
    memberships = Membership.objects.filter(
        user_id=account.user_id, user__is_active=True, team__onboarding__state__in=_ACCOUNT_STATES
    )
    if leaving is not None:
        memberships = memberships.exclude(team=leaving)
    return memberships.exists()


def _accounts_release(accounts: Iterable[CloudAccount], *, leaving: Team | None = None) -> list[str]:
    """Delete the Keystone users Kennel made among ``accounts`` that nobody needs any more (mapped
    ones are only forgotten when unused, never deleted). Returns the deleted users' names."""
    gateway = cloud()
    deleted = []
    for account in accounts:
        if _account_needed(account, leaving=leaving):
            continue
        if account.created_by_kennel and account.keystone_user_id:
            with contextlib.suppress(CloudNotFound):
                gateway.delete_user(account.keystone_user_id)
            deleted.append(account.keystone_name)
        account.delete()
    return deleted


def team_roles_sync_enqueue(*, team_ids: Iterable[int]) -> None:
    """After a membership or portal-role change: bring the role assignments of the onboarded teams
    among ``team_ids`` up to date in a worker, after commit."""
    from onboarding.tasks import team_roles_sync

    ids = list(
        Onboarding.objects.filter(team_id__in=list(team_ids), state__in=_ACCOUNT_STATES).values_list(
            "team_id", flat=True
        )
    )
    for team_id in ids:
        transaction.on_commit(functools.partial(team_roles_sync.delay, team_id))


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
        Onboarding.objects.filter(pk=onboarding.pk).update(roles_message=str(error))
        audit_record(
            actor=None,
            action="team.cloud_roles",
            target=onboarding.team,
            source=WORKER,
            outcome="failure",
            detail={"error": str(error)[:500]},
        )
        return Advance.DONE
    Onboarding.objects.filter(pk=onboarding.pk).update(roles_synced_at=timezone.now(), roles_message="")
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
    Onboarding.objects.filter(team_id=team_id).update(
        roles_message=_("The cloud stayed unreachable while updating roles: %(e)s") % {"e": error[:300]}
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
            password_set_at=None,
        )
        audit_record(actor=actor, action="cloud.password_reset", target=account, source=source)
        account_id = account.pk

        from onboarding.tasks import cloud_password_apply

        transaction.on_commit(lambda: cloud_password_apply.delay(account_id))
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
    CloudAccount.objects.filter(pk=account_id, password_state=Password.SETTING).update(
        password_state=Password.FAILED,
        password_ciphertext="",
        password_message=_("The password could not be set: %(e)s Ask for a new one.") % {"e": error[:300]},
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
        transaction.on_commit(lambda: orphan_check_run.delay(check_id))
    return check


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
    resources: list[tuple[str, Iterable[Any]]] = [
        ("server", gateway.list_servers()),
        ("floating_ip", gateway.list_floating_ips()),
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
    accounts = {a.keystone_user_id: a for a in CloudAccount.objects.exclude(keystone_user_id="")}
    for user in gateway.list_users():
        if not user.description.startswith(USER_MARKER):
            continue
        account = accounts.get(user.id)
        if account is None or not _account_needed(account):
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
