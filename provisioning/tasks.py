"""Celery tasks for VMs: thin callers of provisioning.services.

Retries happen only on an outage (``portal.worker.outage_retry``: backoff, jitter and a bound); when
the bound is reached the request keeps its state and ``vm_requests_resume`` picks it up later, so an
outage delays work and never drops it. "Still building" is not an error: the task looks again a
few seconds later, bounded by the service's build timeout.
"""

from __future__ import annotations

import contextlib
from functools import partial

from celery import shared_task

from portal.cloud.gateway import CloudError, ServerAction
from portal.worker import OUTAGE_ERRORS, outage_retry
from provisioning import floating_ips, services
from provisioning.server_states import BUSY, ServerState

POLL_SECONDS = 2
MAIL_TRIES = 5  # a lease reminder waits out a mail server that is away this many times
REFRESH_LOOKS = 5  # a refresh looks this often while the server settles (or the cloud is away)
CONSOLE_TRIES = 3  # then the page says the cloud is away (a person waits for a console, not a queue)
# A resize, rebuild or snapshot takes Nova tens of seconds (resize ~20 s on the local cloud): followed
# this many looks so the page shows it settle; the reconciliation catches anything slower.
CHANGE_LOOKS = 90
SNAPSHOT_POLL_SECONDS = 3
VOLUME_POLL_SECONDS = 1  # Cinder makes, attaches and detaches a volume in a few seconds


def _poll_delay(retries: int) -> float:
    """Look again soon while a build is young (most finish in seconds), then every POLL_SECONDS."""
    return 0.2 if retries < 100 else POLL_SECONDS


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_request_build(self, request_id: int) -> None:
    try:
        finished = services.vm_request_build_advance(request_id=request_id)
    except OUTAGE_ERRORS as error:
        services.vm_request_wait_for_cloud(request_id=request_id, error=str(error))
        outage_retry(self, error)  # at the bound: the row says it waits; vm_requests_resume re-enqueues it
        return
    if not finished:
        raise self.retry(countdown=_poll_delay(self.request.retries))


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_request_delete(self, request_id: int) -> None:
    try:
        finished = services.vm_delete_advance(request_id=request_id)
    except OUTAGE_ERRORS as error:
        services.vm_request_wait_for_cloud(request_id=request_id, error=str(error))
        outage_retry(self, error)
        return
    if not finished:
        raise self.retry(countdown=POLL_SECONDS)


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_action(self, request_id: int, action: str) -> None:
    try:
        services.vm_action_advance(request_id=request_id, action=ServerAction(action))
    except OUTAGE_ERRORS as error:
        outage_retry(self, error)
        return
    # Nova acts asynchronously: look again shortly so the page shows the new state within seconds. A
    # confirmed or reverted resize still shows VERIFY_RESIZE for a moment: followed until it leaves.
    if action in (ServerAction.CONFIRM_RESIZE, ServerAction.REVERT_RESIZE):
        vm_refresh.apply_async((request_id, CHANGE_LOOKS, ServerState.RESIZED), countdown=POLL_SECONDS)
    else:
        vm_refresh.apply_async((request_id,), countdown=POLL_SECONDS)


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_refresh(self, request_id: int, looks: int = REFRESH_LOOKS, settle_from: str = "") -> None:
    try:
        vm = services.vm_refresh(request_id=request_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error, bound=looks)
        return
    # Starting, stopping, rebooting ...: look again until the server settles, so the page shows it
    # (and until it leaves ``settle_from``, the state it was in when asked).
    if (
        vm is not None
        and (vm.server_state in BUSY or (settle_from and vm.server_state == settle_from))
        and self.request.retries < looks
    ):
        raise self.retry(countdown=POLL_SECONDS)


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_resize(self, request_id: int, flavor_id: int) -> None:
    try:
        asked = services.vm_resize_advance(request_id=request_id, flavor_id=flavor_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error)
        return
    if asked:  # followed until it waits for confirm (or is back where it was: the cloud could not)
        vm_refresh.apply_async((request_id, CHANGE_LOOKS), countdown=POLL_SECONDS)


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_rebuild(self, request_id: int, image_id: int) -> None:
    try:
        asked = services.vm_rebuild_advance(request_id=request_id, image_id=image_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error)
        return
    if asked:
        vm_refresh.apply_async((request_id, CHANGE_LOOKS), countdown=POLL_SECONDS)


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_snapshot(self, snapshot_id: int) -> None:
    try:
        finished = services.vm_snapshot_advance(snapshot_id=snapshot_id)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error)
        return
    if not finished:  # Glance still receives the disk; the service gives up after its timeout
        raise self.retry(countdown=SNAPSHOT_POLL_SECONDS)


# The mirror. A failure is recorded on CloudSync (pages show the mirror's age) and the next run, a
# period later, tries again: no retries. Each run claims its part, so a run that finds the previous
# one still going returns at once instead of doubling the load on a slow cloud.
@shared_task(ignore_result=True)
def catalog_refresh() -> None:
    with contextlib.suppress(CloudError):
        services.catalog_mirror_refresh()


@shared_task(ignore_result=True)
def hosts_refresh() -> None:
    with contextlib.suppress(CloudError):
        services.hosts_mirror_refresh()


@shared_task(ignore_result=True)
def vm_requests_resume() -> None:
    services.vm_requests_resume()


@shared_task(ignore_result=True)
def vm_reconcile() -> None:
    # Nova's changes since the last run, every few seconds; a complete listing every few minutes.
    with contextlib.suppress(CloudError):
        services.vm_reconcile()


@shared_task(ignore_result=True)
def vm_leases_enforce() -> None:
    services.vm_leases_enforce()


# On the mail queue: a mail server that is away is retried with backoff and holds up nothing else.
@shared_task(bind=True, max_retries=None, acks_late=True, ignore_result=True)
def vm_lease_reminder_send(self, vm_id: int) -> None:
    try:
        services.vm_lease_reminder_email(vm_id=vm_id)
    except OSError as error:  # the mail server is away: try again later, a few times
        outage_retry(self, error, bound=MAIL_TRIES)


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_floating_ip(self, request_id: int, attach: bool) -> None:
    try:
        services.vm_floating_ip_advance(request_id=request_id, attach=attach)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error)
        return


@shared_task(bind=True, max_retries=None, acks_late=True)
def volume_advance(self, volume_id: int, outages: int = 0) -> None:
    """Follow a volume until the cloud is done with what was asked (create, attach, detach, delete)."""
    try:
        finished = services.volume_advance(volume_id=volume_id)
    except OUTAGE_ERRORS as error:
        # Past the bound the volume keeps its state and beat's volumes_resume hands it on later.
        outage_retry(self, error, attempt=outages, kwargs={"volume_id": volume_id, "outages": outages + 1})
        return
    if not finished:
        raise self.retry(countdown=VOLUME_POLL_SECONDS, kwargs={"volume_id": volume_id, "outages": outages})


@shared_task(ignore_result=True)
def volumes_resume() -> None:
    services.volumes_resume()


@shared_task(ignore_result=True)
def volumes_refresh() -> None:
    with contextlib.suppress(CloudError):
        services.volumes_refresh()


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_console(self, request_id: int) -> None:
    try:
        services.vm_console_advance(request_id=request_id)
    except OUTAGE_ERRORS as error:
        outage_retry(
            self,
            error,
            bound=CONSOLE_TRIES,
            give_up=partial(services.vm_console_give_up, request_id=request_id),
        )


@shared_task(bind=True, max_retries=None, acks_late=True)
def vm_console_log(self, request_id: int) -> None:
    try:
        services.vm_console_log_advance(request_id=request_id)
    except OUTAGE_ERRORS as error:
        outage_retry(
            self,
            error,
            bound=CONSOLE_TRIES,
            give_up=partial(services.vm_console_log_give_up, request_id=request_id),
        )


@shared_task(ignore_result=True)
def floating_ips_refresh() -> None:
    # A failure is recorded on CloudSync (the page shows the mirror's age); the next run tries again.
    with contextlib.suppress(CloudError):
        floating_ips.floating_ips_refresh()


@shared_task(bind=True, max_retries=None, acks_late=True, ignore_result=True)
def floating_ip_release(self, fip_pk: int) -> None:
    try:
        floating_ips.floating_ip_release_advance(fip_pk=fip_pk)
    except OUTAGE_ERRORS as error:
        # After the bound the row waits as requested; floating_ips_refresh re-enqueues it.
        outage_retry(self, error)
        return
    # The mirror follows at once, so the page shows the address gone (and the quota's usage with it).
    with contextlib.suppress(CloudError):
        floating_ips.floating_ips_refresh()


@shared_task(bind=True, max_retries=None, acks_late=True, ignore_result=True)
def vm_floating_ip_release(self, vm_pk: int) -> None:
    # A VM deleted outside Kennel: its floating IP goes too. After the bound, the address stays on
    # the team page (unused) and in the orphan check, where a lead releases it.
    try:
        floating_ips.vm_floating_ip_release_run(vm_pk=vm_pk)
    except OUTAGE_ERRORS as error:
        outage_retry(self, error)
        return
