"""Who may reach a team's VMs: the ingress rules of the ``default`` security group of the team's project
(every VM Kennel builds is in it), shown in plain words, changed by the team's leads and admins.

Pages and the API read the mirror (``SecurityRule`` rows), refreshed by a worker every minute from one
Neutron listing and again after each change, so no request waits on the cloud. A change is a row in
``adding`` or ``removing`` that a worker carries out through the gateway; the team page follows it live.
Egress is not managed here: Neutron's default group lets every VM reach out.

Opening SSH to every address (0.0.0.0/0 or ::/0) is refused to leads; an admin may do it, and must
confirm it. Onboarding adds the defaults: SSH and ICMP from ``KENNEL_DEFAULT_INGRESS_FROM``.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from onboarding.models import SecurityRule
from portal.access import Action, Capability, can, restrict
from portal.cloud import cloud
from portal.cloud.gateway import (
    CloudError,
    CloudNotFound,
    CloudRequestError,
    CloudUnavailable,
    SecurityGroup,
    SecurityGroupRule,
)
from portal.models import AuditEvent, Membership, Team, User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue, enqueue_now
from portal.services import audit_record

logger = logging.getLogger(__name__)

SYNC_PART = "security_rules"
STALE_AFTER = timedelta(minutes=5)
DEFAULT_GROUP = "default"
# Stored untranslated (the worker has no reader's language); translated when shown.
WAITING_FOR_CLOUD = gettext_noop(
    "Waiting for the cloud, which cannot be reached right now; Kennel retries by itself."
)
NOT_ONBOARDED = gettext_noop("The team has no cloud project yet.")


# --- reads ----------------------------------------------------------------------------------------------


def security_rule_list(*, user: User | object, team: Team | None = None) -> QuerySet[SecurityRule]:
    """The rules ``user`` may see (their teams'; every team's for managers and admins)."""
    queryset = SecurityRule.objects.select_related("team", "requested_by")
    if team is not None:
        queryset = queryset.filter(team=team)
    return restrict(user, queryset)


def security_rules_may_change(*, user: User | object, team: Team) -> bool:
    """May ``user`` add and remove ``team``'s rules? Its leads and admins (the services check again)."""
    if can(user, Capability.TEAMS_ONBOARD):
        return True
    return (
        isinstance(user, User)
        and user.is_active
        and Membership.objects.filter(team=team, user=user, level=Membership.Level.LEAD).exists()
    )


def security_rules_synced_at():
    """When the mirror was last refreshed (None: never); pages show its age."""
    from provisioning.models import CloudSync

    sync = CloudSync.objects.filter(part=SYNC_PART).first()
    return sync.succeeded_at if sync else None


def default_ingress_rules() -> list[tuple[str, int | None, int | None, str]]:
    """What onboarding lets in to a new team's VMs: SSH and ICMP (ping) from each network of
    ``KENNEL_DEFAULT_INGRESS_FROM`` (the company's internal networks or its SSH proxy)."""
    return [
        (protocol, low, high, cidr)
        for cidr in settings.KENNEL_DEFAULT_INGRESS_FROM
        for protocol, low, high in (("tcp", 22, 22), ("icmp", None, None))
    ]


# --- the mirror -----------------------------------------------------------------------------------------


def _mirror_fields(rule: SecurityGroupRule) -> dict:
    return {
        "security_group_id": rule.security_group_id,
        "protocol": rule.protocol or "",
        "port_min": rule.port_range_min,
        "port_max": rule.port_range_max,
        "ethertype": rule.ethertype,
        "remote_cidr": rule.remote_ip_prefix or "",
        "remote_group": bool(rule.remote_group_id),
    }


def security_rules_refresh() -> int:
    """Worker side (every minute): mirror the ingress rules of every team project's ``default`` group
    from one Neutron listing. Rows on their way (adding, removing) are left to their worker; rules made
    or removed outside Kennel appear and disappear. Records the outcome in CloudSync (a failure keeps
    the last mirror; pages show its age). Returns how many rules it saw. Raises CloudError."""
    from provisioning.models import CloudSync

    now = timezone.now()
    CloudSync.objects.update_or_create(part=SYNC_PART, defaults={"attempted_at": now})
    try:
        groups = cloud().list_security_groups()
    except CloudError as error:
        CloudSync.objects.filter(part=SYNC_PART).update(error=str(error)[:2000])
        raise
    teams = dict(Team.objects.exclude(openstack_project_id="").values_list("openstack_project_id", "pk"))
    seen: dict[str, tuple[int, SecurityGroupRule]] = {}
    for group in groups:
        if group.name == DEFAULT_GROUP and group.project_id in teams:
            for rule in group.rules:
                if rule.direction == "ingress":
                    seen[rule.id] = (teams[group.project_id], rule)
    with transaction.atomic():
        known = {r.cloud_id: r for r in SecurityRule.objects.select_for_update().exclude(cloud_id="")}
        for cloud_id, (team_id, rule) in seen.items():
            row = known.get(cloud_id)
            if row is None:
                SecurityRule.objects.create(
                    team_id=team_id, cloud_id=cloud_id, seen_at=now, **_mirror_fields(rule)
                )
            elif row.state != SecurityRule.State.ADDING:
                SecurityRule.objects.filter(pk=row.pk).update(seen_at=now, **_mirror_fields(rule))
        # Gone from Neutron (removed outside Kennel, or the project is gone): forget it, unless a
        # worker is on it right now.
        SecurityRule.objects.exclude(cloud_id="").exclude(cloud_id__in=list(seen)).filter(
            state__in=(SecurityRule.State.ACTIVE, SecurityRule.State.FAILED)
        ).delete()
        CloudSync.objects.filter(part=SYNC_PART).update(succeeded_at=now, error="")
    security_rules_resume()
    return len(seen)


# --- changes by a team lead or an admin -----------------------------------------------------------------


def security_rule_add(
    *,
    actor: User,
    team: Team,
    protocol: str,
    port_min: int | None = None,
    port_max: int | None = None,
    remote_cidr: str,
    confirm_open: bool = False,
    source: str = SYSTEM,
) -> SecurityRule:
    """A lead (or an admin) lets ``protocol`` traffic on ``port_min`` to ``port_max`` (tcp and udp; one
    port when only one is given) in from ``remote_cidr`` to the team's VMs; a worker adds it. Raises
    PermissionDenied (not a lead of the team nor an admin) or ValidationError: a wrong protocol, port
    or network, a team without a cloud project, the same rule already there, or SSH opened to every
    address (admins only, with ``confirm_open``)."""
    if not security_rules_may_change(user=actor, team=team):
        raise PermissionDenied
    if not team.openstack_project_id:
        raise ValidationError(_(NOT_ONBOARDED))
    rule = SecurityRule(
        team=team,
        protocol=(protocol or "").strip().lower(),
        port_min=port_min,
        port_max=port_max,
        remote_cidr=(remote_cidr or "").strip(),
        state=SecurityRule.State.ADDING,
        requested_by=actor,
    )
    if not rule.protocol:
        raise ValidationError({"protocol": _("Choose TCP, UDP or ICMP.")})
    if not rule.remote_cidr:
        raise ValidationError(
            {"remote_cidr": _("Say from which network, e.g. 10.0.0.0/8 (0.0.0.0/0 is every address).")}
        )
    rule.full_clean(exclude=["team", "requested_by"])
    if rule.world and rule.covers_ssh:
        if not can(actor, Capability.TEAMS_ONBOARD):
            raise ValidationError(
                {
                    "remote_cidr": _(
                        "SSH open to every address invites the whole internet to guess passwords; only an "
                        "admin may allow it. Name your office network or SSH proxy instead."
                    )
                }
            )
        if not confirm_open:
            raise ValidationError(
                {"confirm_open": _("This opens SSH to every address. Confirm that this is what you want.")}
            )
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()  # one change of a team at a time
        same = SecurityRule.objects.filter(
            team=team,
            protocol=rule.protocol,
            port_min=rule.port_min,
            port_max=rule.port_max,
            remote_cidr=rule.remote_cidr,
            remote_group=False,
        ).exclude(state=SecurityRule.State.FAILED)
        if same.exists():
            raise ValidationError(_("The team already has this rule: %(rule)s.") % {"rule": rule.describe()})
        rule.save()
        audit_record(
            actor=actor,
            action="security_rule.add",
            target=rule,
            team=team,
            source=source,
            detail={"rule": _rule_detail(rule), "open_to_every_address": rule.world},
        )
        _enqueue_apply(rule.pk)
    return rule


def security_rule_remove(*, actor: User, rule: SecurityRule, source: str = SYSTEM) -> SecurityRule | None:
    """A lead (or an admin) removes one of the team's rules; a worker deletes it in Neutron. A rule that
    failed to be added is simply dropped (returns None). Raises PermissionDenied, or ValidationError
    for a rule already on its way, or one of Neutron's rules letting the team's own VMs talk."""
    with transaction.atomic():
        locked = (
            restrict(actor, SecurityRule.objects.select_for_update(of=("self",)), Action.CHANGE)
            .select_related("team")
            .filter(pk=rule.pk)
            .first()
        )
        if locked is None:
            raise PermissionDenied
        if locked.pending:
            raise ValidationError(_("This rule is already being changed; wait for it to finish."))
        if locked.remote_group:
            raise ValidationError(_("This rule lets the team's own VMs reach each other; Kennel keeps it."))
        detail = {"rule": _rule_detail(locked)}
        if not locked.cloud_id:  # a failed add: nothing in Neutron
            audit_record(
                actor=actor,
                action="security_rule.remove",
                target=locked,
                team=locked.team,
                source=source,
                detail=detail,
            )
            locked.delete()
            return None
        locked.state, locked.requested_by, locked.error = SecurityRule.State.REMOVING, actor, ""
        locked.changed_at = timezone.now()
        locked.save(update_fields=["state", "requested_by", "error", "changed_at"])
        audit_record(
            actor=actor,
            action="security_rule.remove",
            target=locked,
            team=locked.team,
            source=source,
            detail=detail,
        )
        _enqueue_apply(locked.pk)
    return locked


def _rule_detail(rule: SecurityRule) -> dict:
    return {
        "protocol": rule.protocol,
        "port_min": rule.port_min,
        "port_max": rule.port_max,
        "remote_cidr": rule.remote_cidr,
    }


def _enqueue_apply(rule_pk: int) -> None:
    from onboarding.tasks import security_rule_apply

    enqueue(security_rule_apply, rule_pk)


# --- the worker's side ----------------------------------------------------------------------------------


def _default_group(project_id: str) -> SecurityGroup:
    groups = cloud().list_security_groups(project_id=project_id)
    default = next((g for g in groups if g.name == DEFAULT_GROUP), None)
    if default is None:
        raise CloudRequestError(_("Neutron has no default security group for the project."))
    return default


def _matching(group: SecurityGroup, rule: SecurityRule) -> SecurityGroupRule | None:
    wanted = ("ingress", rule.ethertype, rule.protocol, rule.port_min, rule.port_max, rule.remote_cidr)
    return next(
        (
            r
            for r in group.rules
            if (
                r.direction,
                r.ethertype,
                r.protocol or "",
                r.port_range_min,
                r.port_range_max,
                r.remote_ip_prefix,
            )
            == wanted
        ),
        None,
    )


def security_group_rule_ensure(*, project_id: str, rule: SecurityRule) -> SecurityGroupRule:
    """Make ``rule`` in the project's default group unless Neutron has it already (an earlier attempt
    whose answer was lost). Used by the worker and by onboarding. Raises CloudError."""
    group = _default_group(project_id)
    existing = _matching(group, rule)
    if existing is not None:
        return existing
    try:
        return cloud().create_security_group_rule(
            security_group_id=group.id,
            direction="ingress",
            protocol=rule.protocol or None,
            port_range_min=rule.port_min,
            port_range_max=rule.port_max,
            remote_ip_prefix=rule.remote_cidr or None,
            ethertype=rule.ethertype,
        )
    except CloudRequestError as error:
        if "already exists" not in str(error):
            raise
        existing = _matching(_default_group(project_id), rule)
        if existing is None:
            raise
        return existing


def security_rule_apply(*, rule_pk: int) -> SecurityRule | None:
    """Worker side: carry out the change the row asks for (add it in Neutron, or delete it). Safe to
    repeat: an add finds the rule Neutron already has, a delete of a rule already gone is done. An
    outage leaves the row as it is, with a note (``CloudUnavailable`` raised for the task to retry);
    any other refusal lands on the row as ``failed``. Returns the row (None once removed or gone)."""
    rule = SecurityRule.objects.select_related("team", "requested_by").filter(pk=rule_pk).first()
    if rule is None or not rule.pending:
        return rule
    actor_name = getattr(rule.requested_by, "username", "")
    try:
        if rule.state == SecurityRule.State.ADDING:
            made = security_group_rule_ensure(project_id=rule.team.openstack_project_id, rule=rule)
        else:
            with contextlib.suppress(CloudNotFound):  # gone already: what was asked for
                cloud().delete_security_group_rule(rule.cloud_id)
    except CloudUnavailable:
        SecurityRule.objects.filter(pk=rule.pk).update(error=WAITING_FOR_CLOUD)
        raise
    except CloudError as error:
        return _failed(rule, str(error)[:500], actor_name=actor_name)
    if rule.state == SecurityRule.State.ADDING:
        with transaction.atomic():
            # The minute's refresh may have mirrored it already, as a row of its own.
            SecurityRule.objects.filter(cloud_id=made.id).exclude(pk=rule.pk).delete()
            SecurityRule.objects.filter(pk=rule.pk, state=SecurityRule.State.ADDING).update(
                state=SecurityRule.State.ACTIVE,
                cloud_id=made.id,
                security_group_id=made.security_group_id,
                error="",
                changed_at=timezone.now(),
                seen_at=timezone.now(),
            )
            audit_record(
                actor=None,
                action="security_rule.added",
                target=rule,
                team=rule.team,
                source=WORKER,
                detail={"rule": _rule_detail(rule), "cloud_id": made.id, "requested_by": actor_name},
            )
        rule.refresh_from_db()
        return rule
    audit_record(
        actor=None,
        action="security_rule.removed",
        target=rule,
        team=rule.team,
        source=WORKER,
        detail={"rule": _rule_detail(rule), "cloud_id": rule.cloud_id, "requested_by": actor_name},
    )
    rule.delete()
    return None


def _failed(rule: SecurityRule, error: str, *, actor_name: str) -> SecurityRule:
    adding = rule.state == SecurityRule.State.ADDING
    SecurityRule.objects.filter(pk=rule.pk).update(
        # A removal that failed leaves the rule in force, with why.
        state=SecurityRule.State.FAILED if adding else SecurityRule.State.ACTIVE,
        error=error,
        changed_at=timezone.now(),
    )
    audit_record(
        actor=None,
        action="security_rule.added" if adding else "security_rule.removed",
        target=rule,
        team=rule.team,
        source=WORKER,
        outcome=AuditEvent.Outcome.FAILURE,
        detail={"rule": _rule_detail(rule), "error": error, "requested_by": actor_name},
    )
    rule.refresh_from_db()
    return rule


def security_rules_resume() -> list[int]:
    """Re-enqueue changes left on their way (an outage longer than the task's retries, a lost worker):
    asking Neutron again is harmless."""
    waiting = list(
        SecurityRule.objects.filter(
            state__in=(SecurityRule.State.ADDING, SecurityRule.State.REMOVING),
            changed_at__lt=timezone.now() - timedelta(minutes=1),
        ).values_list("pk", flat=True)
    )
    from onboarding.tasks import security_rule_apply

    for pk in waiting:
        enqueue_now(security_rule_apply, pk)
    return waiting


def ports_parse(text: str) -> tuple[int | None, int | None]:
    """``"22"`` → (22, 22), ``"8000-8100"`` → (8000, 8100), ``""`` → (None, None) (every port). Raises
    ValidationError for anything else; the range itself is checked by the rule's ``clean()``."""
    text = (text or "").strip().replace("\u2013", "-").replace(" ", "")
    if not text:
        return None, None
    low, sep, high = text.partition("-")
    if not low.isdigit() or (sep and not high.isdigit()):
        raise ValidationError(
            {"ports": _("Write one port (22) or a range (8000-8100); leave it empty for every port.")}
        )
    return int(low), int(high) if sep else int(low)


def security_rules_section(*, user: User, team: Team) -> dict:
    """What the team page's section shows: the rules in plain words, whether ``user`` may change them,
    whether a change is on its way (the section then follows it), and the mirror's age."""
    rules = list(security_rule_list(user=user, team=team))
    may_change = security_rules_may_change(user=user, team=team)
    return {
        "security_rules": rules,
        "security_rules_pending": any(r.pending for r in rules),
        "security_rules_may_change": may_change and bool(team.openstack_project_id),
        "security_rules_may_open_ssh": can(user, Capability.TEAMS_ONBOARD),
        "security_rules_synced_at": security_rules_synced_at(),
        "security_rules_defaults": settings.KENNEL_DEFAULT_INGRESS_FROM,
    }
