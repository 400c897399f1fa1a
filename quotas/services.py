"""Writes for quotas: request, decide, apply to the cloud, mirror, and the VM-time check.

A request moves pending → approved → applying → applied / failed (or rejected, cancelled; an admin may
ask for information, which the requester answers). Approving enqueues the apply task after commit. The
apply task writes each service's limits through the cloud gateway and records each result on the row, so
a retry skips what is applied; it then reads the limits back, and a mismatch is a failure. At most one
request per team is applying at a time (a partial unique index), oldest approval first.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

# Stored untranslated and translated when shown: the worker has no reader's language.
from django.utils.translation import gettext
from django.utils.translation import gettext_noop as _

from portal.access import Action, Capability, can, restrict
from portal.cloud import cloud
from portal.cloud.gateway import CloudRequestError, QuotaService
from portal.failpoints import failpoint
from portal.models import Team, User
from portal.origin import SYSTEM, WORKER
from portal.queue import enqueue
from portal.services import audit_record
from portal.worker import claim, stale_before, work_lock
from provisioning.sync import Part, mirror_run
from quotas.dimensions import PER_ARCHITECTURE, arch_key, cloud_dimensions, dimension, vm_need
from quotas.models import QuotaPolicy, QuotaRequest, QuotaRequestEvent, QuotaRule, TeamQuota, TeamUsageSample
from quotas.selectors import (
    QUOTA_VALUE_MAX,
    hardware_capacity,
    hardware_limit,
    quota_may_request,
    quota_rules,
    quota_tables,
    quota_value_bound,
    team_usage,
)

logger = logging.getLogger(__name__)
Status = QuotaRequest.Status
PORTAL = "portal"  # the results key for the dimensions Kennel enforces alone
APPLY_ORDER = (PORTAL, QuotaService.NETWORK, QuotaService.VOLUME, QuotaService.COMPUTE)
# OpenStack's "no limit".
UNLIMITED = -1


# --- mirror ------------------------------------------------------------------------------------------


def quota_sync(*, team_ids: list[int] | None = None) -> int:
    """Read each onboarded team's limits and the cloud's own usage counts into ``TeamQuota``, for every
    quota service the cloud has (one call per team and service). The rows are read once and only the
    changed ones written, so the queries do not grow with the teams when nothing changed. Returns how
    many teams were read. Raises CloudUnavailable."""
    gateway = cloud()
    services = gateway.services()
    teams = list(Team.objects.exclude(openstack_project_id=""))
    if team_ids is not None:
        teams = [team for team in teams if team.pk in team_ids]
    now = timezone.now()
    rows = {(row.team_id, row.key): row for row in TeamQuota.objects.filter(team__in=teams)}
    created: list[TeamQuota] = []
    changed: list[TeamQuota] = []
    read: list[int] = []
    for team in teams:
        try:
            answers = {
                service: gateway.get_quotas_with_usage(team.openstack_project_id, service)
                for service in services
            }
        except CloudRequestError as error:
            # A project removed behind Kennel's back: the team keeps its last known limits.
            logger.warning("quota sync: team %s: %s", team.slug, error)
            continue
        read.append(team.pk)
        for service, (limits, used) in answers.items():
            for d in cloud_dimensions(service):
                assert d.cloud_name is not None
                value = limits[d.cloud_name]
                limit, cloud_used = (None if value == UNLIMITED else value), used[d.cloud_name]
                row = rows.get((team.pk, d.key))
                if row is None:
                    created.append(
                        TeamQuota(team=team, key=d.key, limit=limit, cloud_used=cloud_used, synced_at=now)
                    )
                elif (row.limit, row.cloud_used) != (limit, cloud_used):
                    row.limit, row.cloud_used = limit, cloud_used
                    changed.append(row)
    cloud_keys = [d.key for service in services for d in cloud_dimensions(service)]
    with transaction.atomic():
        TeamQuota.objects.bulk_create(created)
        TeamQuota.objects.bulk_update(changed, ["limit", "cloud_used"])
        TeamQuota.objects.filter(team_id__in=read, key__in=cloud_keys).update(synced_at=now)
        # Block storage removed from the cloud: its dimension is gone too.
        TeamQuota.objects.filter(team_id__in=read, key__in=_missing_service_keys(services)).delete()
    return len(read)


def quota_mirror_refresh() -> int | None:
    """The scheduled mirror of every team's limits (``quota_sync``), one run at a time: returns how
    many teams were read, or None when another run held the quotas. Success or the error is recorded
    in CloudSync (the quota pages show the data's age). Raises CloudUnavailable."""
    with mirror_run(Part.QUOTAS, stale_after=timedelta(minutes=10)) as run:
        if run is None:
            return None
        read = quota_sync()
        run.full = True
        return read


def _missing_service_keys(services: frozenset[QuotaService]) -> list[str]:
    return [d.key for service in QuotaService if service not in services for d in cloud_dimensions(service)]


def _mirror_limits(
    team: Team, service: QuotaService, limits: Mapping[str, int], used: Mapping[str, int] | None
) -> None:
    now = timezone.now()
    for d in cloud_dimensions(service):
        assert d.cloud_name is not None
        value = limits[d.cloud_name]
        defaults: dict[str, Any] = {"limit": None if value == UNLIMITED else value, "synced_at": now}
        if used is not None:
            defaults["cloud_used"] = used[d.cloud_name]
        TeamQuota.objects.update_or_create(team=team, key=d.key, defaults=defaults)


def team_usage_sample_record() -> int:
    """Record every team's usage for the current hour (idempotent within the hour); keep 400 days."""
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    teams = list(Team.objects.all())
    for table in quota_tables(teams):
        used = {line.dimension.key: line.used for line in table.lines}
        TeamUsageSample.objects.update_or_create(team=table.team, at=hour, defaults={"used": used})
    TeamUsageSample.objects.filter(at__lt=now - timedelta(days=400)).delete()
    return len(teams)


# --- the check a VM request passes -------------------------------------------------------------------


def quota_vm_refusal(
    *, team: Team, vcpus: int, ram_mb: int, disk_gb: int, architecture: str, instances: int = 1
) -> str | None:
    """Why one more VM of this size (``instances=0``: this much more for a VM already counted, as a
    resize) would break the team's quota, or None. Call it inside the transaction that accepts the VM,
    after locking the team row: usage is counted from the rows, so concurrent requests for one team
    see each other and the quota holds exactly."""
    need = vm_need(vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb, instances=instances)
    keys = [*need, *(arch_key(base, architecture) for base in PER_ARCHITECTURE)]
    limits = dict(
        TeamQuota.objects.filter(team=team, key__in=keys, limit__isnull=False).values_list("key", "limit")
    )
    if not limits:
        return None
    used = team_usage(team)
    for key in keys:
        limit = limits.get(key)
        d = dimension(key)
        amount = need[d.base]
        if limit is not None and amount > 0 and used.get(key, 0) + amount > limit:
            return gettext(
                "Team %(team)s's quota allows %(limit)s %(unit)s of %(dimension)s; %(used)s are in use and "
                "this VM needs %(need)s more. Ask for more quota on the team's page, or delete a VM."
            ) % {
                "team": team.name,
                "limit": limit,
                "unit": d.unit,
                "dimension": d.label,
                "used": used.get(key, 0),
                "need": amount,
            }
    return None


def quota_volume_refusal(*, team: Team, size_gb: int) -> str | None:
    """Why one more volume of ``size_gb`` would break the team's volume quota, or None. The cloud's
    count (volumes made outside Kennel included) or Kennel's (volumes asked for and not yet made
    included), whichever is more; call it after locking the team row, as ``quota_vm_refusal``."""
    from provisioning.services.volumes import team_volume_gb

    quota = TeamQuota.objects.filter(team=team, key="volume_gb").first()
    d = dimension("volume_gb")
    if quota is None:
        return gettext("This cloud does not offer %(dimension)s.") % {"dimension": d.label}
    if quota.limit is None or quota.limit < 0:
        return None
    used = max(quota.cloud_used or 0, team_volume_gb(team))
    if used + size_gb > quota.limit:
        return gettext(
            "Team %(team)s's quota allows %(limit)s %(unit)s of %(dimension)s; %(used)s are in use and "
            "this volume needs %(need)s more. Ask for more quota on the team's page, or delete a volume."
        ) % {
            "team": team.name,
            "limit": quota.limit,
            "unit": d.unit,
            "dimension": d.label,
            "used": used,
            "need": size_gb,
        }
    return None


# --- requesting --------------------------------------------------------------------------------------


def _clean_values(
    *, team: Team, values: Mapping[str, Any], enforce_ceiling: bool
) -> tuple[dict[str, int], dict[str, int | None]]:
    """Validate new limits for ``team``; returns (the values that change something, the limits they
    replace). ValidationError names each bad dimension and says why."""
    table = quota_tables([team])[0]
    current = {line.dimension.key: line for line in table.lines}
    counted = team_usage(team)  # for the dimensions the team has no limit on yet
    rules = quota_rules() if enforce_ceiling else {}
    capacity = hardware_capacity()
    errors: dict[str, str] = {}
    cleaned: dict[str, int] = {}
    for key, raw in values.items():
        try:
            d = dimension(key)
        except ValueError:
            errors[key] = gettext("%(key)s is not a quota dimension.") % {"key": key}
            continue
        if d.enforced_by_cloud and key not in current:
            errors[key] = gettext("This cloud does not offer %(dimension)s.") % {"dimension": d.label}
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            errors[key] = gettext("Give a whole number.")
            continue
        try:
            value = int(raw)
        except ValueError:
            errors[key] = gettext("Give a whole number.")
            continue
        line = current.get(key)
        used = line.used if line else counted.get(key, 0)
        limit = line.limit if line else None
        ceiling = rules[key].ceiling if key in rules else None
        hardware = hardware_limit(key, capacity)
        bound = quota_value_bound(key, capacity)
        if value < 0:
            errors[key] = gettext("A quota cannot be negative.")
        elif value < used:
            errors[key] = gettext(
                "%(value)s is below what the team uses now (%(used)s). Free some first, then ask."
            ) % {"value": value, "used": used}
        elif ceiling is not None and value > ceiling:
            errors[key] = gettext(
                "%(value)s is above the most admins allow for %(dimension)s (%(ceiling)s). "
                "Ask an admin if the team needs more."
            ) % {"value": value, "dimension": d.label, "ceiling": ceiling}
        elif hardware is None and value > bound:
            errors[key] = gettext("%(value)s is more than any cloud quota can be (at most %(bound)s).") % {
                "value": value,
                "bound": bound,
            }
        elif hardware is not None and value > hardware:
            errors[key] = gettext(
                "%(value)s is more than the hardware can hold (%(hardware)s %(unit)s%(where)s)."
            ) % {
                "value": value,
                "hardware": hardware,
                "unit": d.unit,
                "where": gettext(" on %(arch)s") % {"arch": d.architecture} if d.architecture else "",
            }
        elif value != limit:
            cleaned[key] = value
    if errors:
        raise ValidationError(errors)
    if not cleaned:
        raise ValidationError(gettext("Nothing would change: give at least one new value."))
    previous = {key: current[key].limit if key in current else None for key in cleaned}
    return cleaned, previous


def _visible_team(actor: User, team: Team) -> Team:
    found = restrict(actor, Team.objects.filter(pk=team.pk)).first()
    if found is None:
        raise Team.DoesNotExist
    return found


def quota_request_submit(
    *, actor: User, team: Team, values: Mapping[str, Any], reason: str, source: str = SYSTEM
) -> QuotaRequest:
    """Ask for new limits for ``team``. Refuses (ValidationError) nonsense: negative values, values below
    usage, above the admins' ceiling or the hardware; a second undecided request. Team.DoesNotExist if the
    actor cannot see the team; PermissionDenied if they may not ask for it. Small requests that the
    admins' rules cover are approved at once and applied."""
    _visible_team(actor, team)
    if not quota_may_request(user=actor, team=team):
        raise PermissionDenied(gettext("Only the team's leads may ask for more quota."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": gettext("Say why the team needs it.")})
    with transaction.atomic():
        # One decision at a time per team: the open-request check and the auto-approval period see
        # each other.
        Team.objects.select_for_update().get(pk=team.pk)
        undecided = QuotaRequest.objects.filter(team=team, status__in=QuotaRequest.UNDECIDED).first()
        if undecided is not None:
            raise ValidationError(
                gettext(
                    "Team %(team)s already has an undecided quota request (#%(id)s). "
                    "Cancel it or wait for an admin's answer."
                )
                % {"team": team.name, "id": undecided.pk}
            )
        cleaned, previous = _clean_values(team=team, values=values, enforce_ceiling=True)
        request = QuotaRequest(
            team=team, requested_by=actor, reason=reason, values=cleaned, previous=previous
        )
        request.full_clean()
        request.save()
        _event(request, actor, _("Requested: %(values)s. Reason: %(reason)s"), values=cleaned, reason=reason)
        audit_record(
            actor=actor, action="quota.request", target=request, team=team, source=source, detail=cleaned
        )
        if _auto_approvable(request):
            _approve(
                request, actor=None, values=cleaned, comment=_("Approved automatically by the admins' rules.")
            )
            request.auto_approved = True
            request.save(update_fields=["auto_approved"])
            audit_record(
                actor=None,
                action="quota.approve",
                target=request,
                team=team,
                source=WORKER,
                detail={"values": cleaned, "automatic": True},
            )
        elif not can(actor, Capability.QUOTA_APPROVE):
            # An admin asking (onboarding's quota template, say) decides it too: no mail to admins.
            _notify(request.pk, "submitted")
    return request


def _auto_approvable(request: QuotaRequest) -> bool:
    """Every change is a decrease, or an increase within its dimension's rule, and the rule was not
    used for this team (for that dimension) within its period."""
    rules = quota_rules()
    for key, value in request.values.items():
        before = request.previous.get(key)
        if before is not None and value <= before:
            continue
        rule = rules.get(key)
        if rule is None or rule.auto_approve_increase == 0 or before is None:
            return False
        if value - before > rule.auto_approve_increase:
            return False
        # A rule of millions of days means "once ever"; capped so the date math cannot overflow.
        since = timezone.now() - timedelta(days=min(rule.auto_approve_days, 100 * 365))
        recent = QuotaRequest.objects.filter(
            team=request.team, auto_approved=True, created_at__gte=since, values__has_key=key
        ).exclude(pk=request.pk)
        if recent.exists():
            return False
    return True


def _decidable(actor: User, request: QuotaRequest, action: Action = Action.CHANGE) -> QuotaRequest:
    """The request, locked, if the actor may act on it; PermissionDenied otherwise (404 in views when they
    cannot even see it)."""
    if not restrict(actor, QuotaRequest.objects.filter(pk=request.pk), action).exists():
        raise PermissionDenied
    return QuotaRequest.objects.select_for_update().select_related("team", "requested_by").get(pk=request.pk)


def quota_request_approve(
    *,
    actor: User,
    request: QuotaRequest,
    values: Mapping[str, Any] | None = None,
    comment: str = "",
    source: str = SYSTEM,
) -> QuotaRequest:
    """Approve (optionally with edited values, checked like a request but without the ceiling, which is
    the admins' own) and enqueue the apply after commit."""
    with transaction.atomic():
        request = _decidable(actor, request)
        if request.status not in QuotaRequest.UNDECIDED:
            raise ValidationError(
                gettext("This request is already %(status)s.") % {"status": request.get_status_display()}
            )
        cleaned, _previous = _clean_values(
            team=request.team, values=values if values is not None else request.values, enforce_ceiling=False
        )
        _approve(request, actor=actor, values=cleaned, comment=comment.strip())
        audit_record(
            actor=actor,
            action="quota.approve",
            target=request,
            team=request.team,
            source=source,
            detail={"values": cleaned, "edited": cleaned != request.values},
        )
    return request


def _approve(request: QuotaRequest, *, actor: User | None, values: dict[str, int], comment: str) -> None:
    request.status = Status.APPROVED
    request.approved_values = values
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_comment = comment
    request.results = {}
    request.error = ""
    request.save()
    _event(request, actor, _("Approved: %(values)s. %(comment)s"), values=values, comment=comment)
    _notify(request.pk, "approved")
    _enqueue_apply(request.pk)


@dataclass(frozen=True)
class _Move:
    """A step of the request page other than approving: who may take it (``Action.CHANGE``: admins;
    ``OPERATE``: the requester and the team's leads), from which states, to which state, what the
    history says (its text under ``param``), and whom it tells."""

    action: Action
    allowed: tuple[str, ...]
    refusal: str
    to: str
    event: str
    audit: str
    param: str = ""
    notify: str | None = None


_MOVES = {
    "reject": _Move(
        Action.CHANGE,
        QuotaRequest.UNDECIDED,
        _("Only an undecided request can be rejected."),
        Status.REJECTED,
        _("Rejected: %(reason)s"),
        "quota.reject",
        "reason",
        "rejected",
    ),
    "ask": _Move(
        Action.CHANGE,
        (Status.PENDING,),
        _("Only a pending request can be asked about."),
        Status.INFO_REQUESTED,
        _("Question: %(question)s"),
        "quota.ask",
        "question",
        "info_requested",
    ),
    "answer": _Move(
        Action.OPERATE,
        (Status.INFO_REQUESTED,),
        _("Nobody asked a question about this request."),
        Status.PENDING,
        _("Answer: %(answer)s"),
        "quota.answer",
        "answer",
        "answered",
    ),
    "cancel": _Move(
        Action.OPERATE,
        QuotaRequest.UNDECIDED,
        _("Only an undecided request can be cancelled."),
        Status.CANCELLED,
        _("Cancelled."),
        "quota.cancel",
    ),
    "retry": _Move(
        Action.CHANGE,
        (Status.FAILED,),
        _("Only a failed request can be retried."),
        Status.APPROVED,
        _("Retrying."),
        "quota.retry",
    ),
}


def _move(
    name: str, *, actor: User, request: QuotaRequest, text: str = "", source: str, **changes: Any
) -> QuotaRequest:
    """Take step ``name`` (``_MOVES``) on the request, locked; ValidationError from another state."""
    move = _MOVES[name]
    with transaction.atomic():
        request = _decidable(actor, request, move.action)
        if request.status not in move.allowed:
            raise ValidationError(gettext(move.refusal))
        request.status = move.to
        for field, value in changes.items():
            setattr(request, field, value)
        request.save()
        _event(request, actor, move.event, **({move.param: text} if move.param else {}))
        audit_record(actor=actor, action=move.audit, target=request, team=request.team, source=source)
        if move.notify:
            _notify(request.pk, move.notify)
    return request


def _required(text: str, field: str, message: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError({field: gettext(message)})
    return text


def quota_request_reject(
    *, actor: User, request: QuotaRequest, reason: str, source: str = SYSTEM
) -> QuotaRequest:
    """An admin says no, and why; the requester is told."""
    reason = _required(reason, "reason", _("Tell the team why."))
    return _move(
        "reject",
        actor=actor,
        request=request,
        text=reason,
        source=source,
        decided_by=actor,
        decided_at=timezone.now(),
        decision_comment=reason,
    )


def quota_request_ask(
    *, actor: User, request: QuotaRequest, question: str, source: str = SYSTEM
) -> QuotaRequest:
    """An admin asks the requester for more information; the request waits for the answer."""
    question = _required(question, "question", _("Write the question."))
    return _move("ask", actor=actor, request=request, text=question, source=source)


def quota_request_answer(
    *, actor: User, request: QuotaRequest, answer: str, source: str = SYSTEM
) -> QuotaRequest:
    """The requester (or a lead) answers an admin's question; the request is pending again."""
    answer = _required(answer, "answer", _("Write the answer."))
    return _move("answer", actor=actor, request=request, text=answer, source=source)


def quota_request_cancel(*, actor: User, request: QuotaRequest, source: str = SYSTEM) -> QuotaRequest:
    """The requester (or a lead) withdraws an undecided request."""
    return _move("cancel", actor=actor, request=request, source=source)


def quota_request_retry(*, actor: User, request: QuotaRequest, source: str = SYSTEM) -> QuotaRequest:
    """Apply a failed request again; services already applied are skipped."""
    with transaction.atomic():
        request = _move("retry", actor=actor, request=request, source=source, error="")
        _enqueue_apply(request.pk)
    return request


# --- applying ----------------------------------------------------------------------------------------


class ApplyOutcome(StrEnum):
    DONE = "done"  # applied, failed for good, or nothing to do
    BUSY = "busy"  # another request of the team applies first: try again shortly


def quota_request_apply(*, request_id: int) -> ApplyOutcome:
    """Write the approved limits to the cloud, service by service, recording each result; then read them
    back. Raises CloudUnavailable (the task retries; results so far are kept). One worker at a time: a
    second task for the same request (the resume task's, after a worker died) leaves it to the first
    while that one lives."""
    with work_lock("quota-apply", request_id) as mine:
        if not mine:
            return ApplyOutcome.DONE
        return _quota_request_apply(request_id)


def _quota_request_apply(request_id: int) -> ApplyOutcome:
    request = QuotaRequest.objects.filter(pk=request_id).select_related("team").first()
    if request is None:
        return ApplyOutcome.DONE
    if request.status == Status.APPROVED and not _claim(request):
        request.refresh_from_db()
        if request.status == Status.APPROVED:
            return ApplyOutcome.BUSY
    if request.status != Status.APPLYING:
        return ApplyOutcome.DONE  # applied, failed or withdrawn by someone else meanwhile
    team = request.team
    if not team.openstack_project_id:
        return _apply_failed(
            request, None, _("Team %(team)s has no OpenStack project; onboard it first."), team=team.name
        )

    gateway = cloud()
    available = gateway.services()
    by_service: dict[str, dict[str, int]] = defaultdict(dict)
    for key, value in request.approved_values.items():
        d = dimension(key)
        by_service[d.service or PORTAL][key] = value
    # A fixed order; compute last, as the one that refuses most (a limit below what is in use).
    for service, values in sorted(by_service.items(), key=lambda item: APPLY_ORDER.index(item[0])):
        if request.results.get(service, {}).get("status") == "applied":
            continue
        if service == PORTAL:
            for key, value in values.items():
                TeamQuota.objects.update_or_create(team=team, key=key, defaults={"limit": value})
        else:
            quota_service = QuotaService(service)
            if quota_service not in available:
                return _apply_failed(
                    request, service, _("This cloud has no %(service)s service."), service=service
                )
            wanted = {str(dimension(key).cloud_name): value for key, value in values.items()}
            try:
                gateway.set_quotas(team.openstack_project_id, quota_service, wanted)
            except CloudRequestError as error:
                return _apply_failed(request, service, _("The cloud refused: %(error)s"), error=str(error))
        request.results[service] = {"status": "applied", "values": values, "at": timezone.now().isoformat()}
        request.save(update_fields=["results", "updated_at"])
        _event(request, None, _("Applied to %(service)s."), service=service)
        failpoint("quota-apply-between-services")

    # Confirm: what the cloud reports now is what was approved, or this is a failure, not a success.
    for service, values in by_service.items():
        if service == PORTAL:
            continue
        quota_service = QuotaService(service)
        limits = gateway.get_quotas(team.openstack_project_id, quota_service)
        _mirror_limits(team, quota_service, limits, used=None)
        for key, value in values.items():
            reported = limits[dimension(key).cloud_name or ""]
            if reported != value:
                return _apply_failed(
                    request,
                    service,
                    _("%(service)s reports %(reported)s for %(key)s after setting %(value)s."),
                    service=service,
                    reported=reported,
                    key=key,
                    value=value,
                )
    with transaction.atomic():
        updated = QuotaRequest.objects.filter(pk=request.pk, status=Status.APPLYING).update(
            status=Status.APPLIED, error="", updated_at=timezone.now()
        )
        if updated:
            _event(
                request,
                None,
                _("Applied and confirmed: the cloud reports the new limits."),
                status=Status.APPLIED,
            )
            audit_record(
                actor=None,
                action="quota.applied",
                target=request,
                team=team,
                source=WORKER,
                detail=request.approved_values,
            )
            _notify(request.pk, "applied")
    return ApplyOutcome.DONE


def _claim(request: QuotaRequest) -> bool:
    """APPROVED → APPLYING, unless an earlier approval of the team is still waiting (it goes first) or
    another request of the team is applying (the partial unique index refuses a second)."""
    earlier = QuotaRequest.objects.filter(
        team_id=request.team_id, status=Status.APPROVED, decided_at__lt=request.decided_at
    ).exists()
    if earlier:
        return False
    try:
        with transaction.atomic():
            claimed = claim(
                QuotaRequest.objects.filter(pk=request.pk, status=Status.APPROVED),
                status=Status.APPLYING,
                updated_at=timezone.now(),
            )
    except IntegrityError:
        return False
    if claimed:
        request.status = Status.APPLYING
        _event(request, None, _("Applying."), status=Status.APPLYING)
    return bool(claimed)


def _apply_failed(request: QuotaRequest, failed: str | None, message: str, **params: Any) -> ApplyOutcome:
    """Record the failure of service ``failed`` (None: before any service) and end the attempt."""
    text = message % params if params else message
    if failed:
        # Not applied (or not confirmed): a retry writes it again.
        request.results[failed] = {"status": "failed", "error": text, "at": timezone.now().isoformat()}
    with transaction.atomic():
        QuotaRequest.objects.filter(pk=request.pk, status=Status.APPLYING).update(
            status=Status.FAILED,
            error=text,
            results=request.results,
            updated_at=timezone.now(),
        )
        _event(request, None, message, status=Status.FAILED, **params)
        audit_record(
            actor=None,
            action="quota.apply",
            target=request,
            team=request.team,
            source=WORKER,
            outcome="failure",
            detail={"error": text},
        )
        _notify(request.pk, "failed")
    return ApplyOutcome.DONE


def quota_requests_resume(*, stale_after: timedelta | None = None) -> int:
    """Enqueue approved requests nobody applied (a lost message) and applying ones whose worker died
    (unchanged for ``stale_after``, by default KENNEL_STALE_WORK_SECONDS); applying again is safe.
    Returns how many were enqueued."""
    cutoff = stale_before(stale_after)
    ids = list(
        QuotaRequest.objects.filter(status__in=[Status.APPROVED, Status.APPLYING], updated_at__lt=cutoff)
        .order_by("decided_at")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        _enqueue_apply(pk)
    return len(ids)


# --- admin settings ----------------------------------------------------------------------------------


def quota_rule_save(
    *,
    actor: User,
    key: str,
    ceiling: int | None,
    auto_approve_increase: int,
    auto_approve_days: int,
    source: str = SYSTEM,
) -> QuotaRule:
    if not can(actor, Capability.QUOTA_APPROVE):
        raise PermissionDenied
    rule = QuotaRule.objects.filter(key=key).first() or QuotaRule(key=key)
    rule.ceiling = ceiling
    rule.auto_approve_increase = auto_approve_increase
    rule.auto_approve_days = auto_approve_days
    if ceiling is not None and ceiling > QUOTA_VALUE_MAX:
        raise ValidationError(
            {"ceiling": gettext("A ceiling is at most %(bound)s.") % {"bound": QUOTA_VALUE_MAX}}
        )
    if auto_approve_increase > QUOTA_VALUE_MAX:
        raise ValidationError(
            {"auto_approve_increase": gettext("At most %(bound)s.") % {"bound": QUOTA_VALUE_MAX}}
        )
    rule.full_clean()
    if ceiling is not None and ceiling < 0:
        raise ValidationError({"ceiling": gettext("A ceiling cannot be negative.")})
    rule.save()
    audit_record(
        actor=actor,
        action="quota.rule",
        target=rule,
        source=source,
        detail={
            "ceiling": ceiling,
            "auto_approve_increase": auto_approve_increase,
            "days": auto_approve_days,
        },
    )
    return rule


def quota_rule_delete(*, actor: User, key: str, source: str = SYSTEM) -> None:
    if not can(actor, Capability.QUOTA_APPROVE):
        raise PermissionDenied
    deleted, _details = QuotaRule.objects.filter(key=key).delete()
    if deleted:
        audit_record(actor=actor, action="quota.rule_delete", source=source, detail={"key": key})


def quota_policy_save(*, actor: User, members_may_request: bool, source: str = SYSTEM) -> QuotaPolicy:
    if not can(actor, Capability.QUOTA_APPROVE):
        raise PermissionDenied
    policy, _created = QuotaPolicy.objects.get_or_create(pk=1)
    policy.members_may_request = members_may_request
    policy.save()
    audit_record(
        actor=actor, action="quota.policy", source=source, detail={"members_may_request": members_may_request}
    )
    return policy


# --- helpers -----------------------------------------------------------------------------------------


def _event(
    request: QuotaRequest, actor: User | None, message: str, *, status: str | None = None, **params: Any
) -> None:
    """Record a step: the untranslated message and its parameters, translated when shown."""
    QuotaRequestEvent.objects.create(
        request=request,
        actor=actor,
        status=status or request.status,
        message=message,
        params={k: _render(v) for k, v in params.items()},
    )


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def _enqueue_apply(request_id: int) -> None:
    from quotas.tasks import quota_request_apply as task

    enqueue(task, request_id)


def _notify(request_id: int, kind: str) -> None:
    from quotas.tasks import quota_request_notify

    enqueue(quota_request_notify, request_id, kind)


def quota_request_email(*, request_id: int, kind: str) -> int:
    """Tell the people a decision concerns: the requester about decisions and results, the admins about
    new requests and answers. Returns how many messages went out."""
    from django.core.mail import send_mail

    from portal.models import Role

    request = QuotaRequest.objects.filter(pk=request_id).select_related("team", "requested_by").first()
    if request is None:
        return 0
    if kind in ("submitted", "answered"):
        recipients = list(
            User.objects.filter(role=Role.ADMIN, is_active=True)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    else:
        recipients = [request.requested_by.email] if request.requested_by.email else []
    if not recipients:
        return 0
    subjects = {
        "submitted": gettext("Quota request #%(id)s from team %(team)s"),
        "answered": gettext("Quota request #%(id)s from team %(team)s: the team answered"),
        "approved": gettext("Your quota request #%(id)s for team %(team)s was approved"),
        "rejected": gettext("Your quota request #%(id)s for team %(team)s was rejected"),
        "info_requested": gettext("Your quota request #%(id)s for team %(team)s: an admin has a question"),
        "applied": gettext("Your quota request #%(id)s for team %(team)s is in force"),
        "failed": gettext("Your quota request #%(id)s for team %(team)s could not be applied yet"),
    }
    last = request.events.order_by("-at", "-id").first()
    body = "\n\n".join(
        [
            last.text if last else "",
            f"{settings.KENNEL_BASE_URL}/quotas/requests/{request.pk}/",
        ]
    )
    return send_mail(
        subjects[kind] % {"id": request.pk, "team": request.team.name},
        body,
        None,
        recipients,
        fail_silently=False,
    )
