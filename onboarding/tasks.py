"""Celery tasks for onboarding: thin callers of onboarding.services.

A chain retries only on an outage (``portal.worker.outage_retry``: capped, jittered backoff and a
bound); past the bound it fails where it stands with the reason on its row, for an
admin to retry. A step that waits on the cloud (VMs being deleted) is looked at again every few seconds,
up to ``WAIT_SECONDS`` in all. ``onboardings_resume`` restarts chains a dead worker left.
"""

from __future__ import annotations

import contextlib
from functools import partial

from celery import shared_task

from onboarding import security_rules, services
from portal.cloud.gateway import CloudError
from portal.worker import OUTAGE_ERRORS, outage_retry

POLL_SECONDS = 2
WAIT_SECONDS = 15 * 60
ROLE_SYNC_WAIT_RETRIES = 60  # 15 minutes behind a running chain, 15 s apart


@shared_task(bind=True, max_retries=None, acks_late=True)
def onboarding_run(self, onboarding_id: int, outages: int = 0, waited: float = 0) -> None:
    try:
        outcome = services.onboarding_advance(onboarding_id=onboarding_id)
    except OUTAGE_ERRORS as error:
        # Outages are counted apart from the polls below, which retry the same task.
        outage_retry(
            self,
            error,
            attempt=outages,
            kwargs={"onboarding_id": onboarding_id, "outages": outages + 1, "waited": waited},
            give_up=lambda error: services.onboarding_give_up(
                onboarding_id=onboarding_id,
                error=f"The cloud stayed unreachable through {outages} retries ({error}). "
                "Retry when it is back",
            ),
        )
        return
    if outcome == services.Advance.WAITING:
        if waited >= WAIT_SECONDS:
            services.onboarding_give_up(
                onboarding_id=onboarding_id,
                error=f"Still waiting after {WAIT_SECONDS // 60} minutes; "
                "look at what it waits for, then Retry",
            )
            return
        raise self.retry(
            countdown=POLL_SECONDS,
            kwargs={"onboarding_id": onboarding_id, "outages": outages, "waited": waited + POLL_SECONDS},
        )


@shared_task(ignore_result=True)
def onboardings_resume() -> None:
    services.onboardings_resume()


@shared_task(bind=True, max_retries=None, acks_late=True)
def team_roles_sync(self, team_id: int, outages: int = 0, waits: int = 0) -> None:
    try:
        outcome = services.team_roles_sync_run(team_id=team_id)
    except OUTAGE_ERRORS as error:
        outage_retry(
            self,
            error,
            attempt=outages,
            kwargs={"team_id": team_id, "outages": outages + 1, "waits": waits},
            give_up=partial(services.team_roles_sync_give_up, team_id=team_id),
        )
        return
    if outcome == services.Advance.WAITING and waits < ROLE_SYNC_WAIT_RETRIES:
        raise self.retry(countdown=15, kwargs={"team_id": team_id, "outages": outages, "waits": waits + 1})


@shared_task(bind=True, max_retries=None, acks_late=True)
def cloud_password_apply(self, account_id: int) -> None:
    try:
        services.cloud_password_apply_run(account_id=account_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error, give_up=partial(services.cloud_password_give_up, account_id=account_id))


@shared_task(bind=True, max_retries=None, acks_late=True)
def orphan_check_run(self, check_id: int) -> None:
    try:
        services.orphan_check_run_now(check_id=check_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error, give_up=partial(services.orphan_check_give_up, check_id=check_id))


@shared_task(ignore_result=True)
def cloud_orphans_check() -> None:
    """The schedule's check (every few hours), so the admins' page is never very old."""
    services.orphan_check_schedule()


@shared_task(ignore_result=True)
def security_rules_refresh() -> None:
    # A failure is recorded on CloudSync (the page shows the mirror's age); the next run tries again.
    with contextlib.suppress(CloudError):
        security_rules.security_rules_refresh()


@shared_task(bind=True, max_retries=None, acks_late=True, ignore_result=True)
def security_rule_apply(self, rule_pk: int) -> None:
    try:
        security_rules.security_rule_apply(rule_pk=rule_pk)
    except OUTAGE_ERRORS as error:
        # After the bound the row waits as it is; security_rules_refresh re-enqueues it.
        outage_retry(self, error)
        return
    # The mirror follows at once, so the page shows Neutron's rules as they now are.
    with contextlib.suppress(CloudError):
        security_rules.security_rules_refresh()
