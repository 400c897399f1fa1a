"""Writes for BMCs: their settings and encrypted passwords, key rotation, and the poll that reads every
BMC's power, health and sensors into ``HardwareState``.

The poll is I/O-bound (a BMC answers in milliseconds, or never), so it asks many BMCs at once in a
bounded thread pool, gives each a short wait for its first answer, writes all results in a few bulk
statements, and asks a BMC that keeps failing less and less often (backoff): a tenth of an estate
being dead does not cost every cycle a timeout each."""

from __future__ import annotations

import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inventory import bmc
from inventory import stored_messages as texts
from inventory.bmc import (
    BmcAuthError,
    BmcError,
    BmcProtocol,
    BmcProtocolError,
    BmcRefused,
    BmcTarget,
    BmcTimeout,
    BmcUnreachable,
    gateway_for,
)
from inventory.bmc.allowlist import bmc_endpoint
from inventory.models import BmcTlsVerifyChoice, HardwareState, HealthChoice, PowerStateChoice, Server
from portal.bulk import bulk_update_fields
from portal.crypto import (
    SecretUnreadable,
    secret_decrypt,
    secret_encrypt,
    secret_is_current,
    secret_rotate,
)
from portal.models import User
from portal.origin import SYSTEM
from portal.services import audit_record
from portal.stored_messages import StoredMessage
from portal.worker import work_lock

logger = logging.getLogger(__name__)


_BMC_FIELDS = ("bmc_protocol", "bmc_address", "bmc_port", "bmc_username")


def bmc_address_refusal(*, protocol: str, address: str, port: int | None) -> ValidationError | None:
    """Why Kennel would not connect to this BMC (inventory.bmc.allowlist: KENNEL_BMC_ALLOWED_NETWORKS
    and KENNEL_BMC_ALLOWED_PORTS, a name must resolve inside them), as a ValidationError naming the
    field (``bmc_address`` or ``bmc_port``); None when it is allowed or there is no BMC."""
    if not protocol:
        return None
    try:
        bmc_endpoint(protocol=protocol, address=address, port=port)
    except BmcRefused as refusal:
        return ValidationError({f"bmc_{refusal.field}": str(refusal)})
    return None


@transaction.atomic
def server_bmc_set(
    *,
    actor: User | None,
    server: Server,
    protocol: str,
    address: str,
    port: int | None,
    username: str,
    password: str | None,
    tls_verify: str | None = None,
    source: str = SYSTEM,
) -> Server:
    """Set ``server``'s BMC. ``password`` None or empty keeps the stored one; ``tls_verify`` (a
    BmcTlsVerifyChoice) None keeps the stored choice; an empty ``protocol`` removes the BMC, its
    password and its choice. Writes and audits only what changed; the audit entry names the changed
    fields, never a password."""
    server = Server.objects.select_for_update().get(pk=server.pk)
    wanted: dict[str, Any] = dict(zip(_BMC_FIELDS, (protocol, address, port, username), strict=True))
    if tls_verify is not None:
        wanted["bmc_tls_verify"] = tls_verify
    if not protocol:
        wanted = {
            "bmc_protocol": "",
            "bmc_address": "",
            "bmc_port": None,
            "bmc_username": "",
            "bmc_tls_verify": "",
        }
    changed = [field for field, value in wanted.items() if getattr(server, field) != value]
    # A new or moved BMC must be one Kennel may connect to; an unchanged one is left alone (the
    # gateways refuse it anyway, and an admin may still change its username or remove it).
    if {"bmc_protocol", "bmc_address", "bmc_port"} & set(changed):
        refusal = bmc_address_refusal(protocol=protocol, address=address, port=port)
        if refusal is not None:
            raise refusal
    for field in changed:
        setattr(server, field, wanted[field])
    if not protocol and server.bmc_password_encrypted:
        server.bmc_password_encrypted = ""
        changed.append("bmc_password")
    elif protocol and password and not bmc_password_matches(server, password):
        server.bmc_password_encrypted = secret_encrypt(password)
        changed.append("bmc_password")
    if not changed:
        return server
    server.full_clean()
    server.save()
    # A changed BMC is asked at the next poll, whatever the old one's failures were.
    HardwareState.objects.filter(server=server).update(failures=0, next_poll_at=None)
    audit_record(
        actor=actor, action="server.bmc_set", target=server, source=source, detail={"fields": sorted(changed)}
    )
    return server


def bmc_password_matches(server: Server, password: str) -> bool:
    """Is ``password`` the one stored for ``server``'s BMC? (Compared in constant time.)"""
    if not server.bmc_password_encrypted:
        return False
    try:
        # As bytes: compare_digest refuses str holding anything but ASCII (a TypeError), which made a
        # non-ASCII password impossible to replace once stored.
        stored = secret_decrypt(server.bmc_password_encrypted)
        return secrets.compare_digest(stored.encode(), password.encode())
    except SecretUnreadable:
        return False


@dataclass(frozen=True)
class SecretRotation:
    """What ``bmc_secrets_rotate`` did: re-encrypted, already on the current key, and the servers whose
    password no configured key decrypts (left as they are)."""

    rotated: int
    current: int
    unreadable: tuple[str, ...]


def bmc_secrets_rotate(*, dry_run: bool = False, source: str = SYSTEM) -> SecretRotation:
    """Re-encrypt every stored BMC password with the first key of KENNEL_ENCRYPTION_KEY, so the older
    keys can be dropped. Passwords already on that key are left alone, so a second run changes nothing.
    A password no key decrypts is reported, never changed. ``dry_run`` counts without writing. Audited
    (counts only) unless nothing changed."""
    rotated, current, unreadable = 0, 0, []
    with transaction.atomic():
        servers = Server.objects.select_for_update().exclude(bmc_password_encrypted="").order_by("name")
        for server in servers:
            if secret_is_current(server.bmc_password_encrypted):
                current += 1
                continue
            try:
                ciphertext = secret_rotate(server.bmc_password_encrypted)
            except SecretUnreadable:
                unreadable.append(server.name)
                continue
            rotated += 1
            if not dry_run:
                Server.objects.filter(pk=server.pk).update(bmc_password_encrypted=ciphertext)
        if rotated and not dry_run:
            audit_record(
                actor=None,
                action="bmc_secrets.rotate",
                source=source,
                detail={"rotated": rotated, "current": current, "unreadable": len(unreadable)},
            )
    return SecretRotation(rotated=rotated, current=current, unreadable=tuple(unreadable))


def _bmc_target(server: Server) -> BmcTarget:
    """The gateway's view of ``server``'s BMC, with the password decrypted. Stays in memory."""
    password = secret_decrypt(server.bmc_password_encrypted) if server.bmc_password_encrypted else ""
    return BmcTarget(
        protocol=BmcProtocol(server.bmc_protocol),
        address=server.bmc_address,
        port=int(server.bmc_port or 0),
        username=server.bmc_username,
        password=password,
        verify=bmc_tls_verify(server),
    )


def bmc_tls_verify(server: Server) -> bool | str:
    """How ``server``'s Redfish BMC certificate is checked: False (not at all), True (against the
    system's CAs) or the path of KENNEL_BMC_CA_BUNDLE. The server's own choice wins over the setting
    KENNEL_BMC_TLS_VERIFY (off by default)."""
    if server.bmc_tls_verify == BmcTlsVerifyChoice.SKIP:
        return False
    if server.bmc_tls_verify != BmcTlsVerifyChoice.VERIFY and not settings.KENNEL_BMC_TLS_VERIFY:
        return False
    return settings.KENNEL_BMC_CA_BUNDLE or True


@dataclass(frozen=True)
class BmcPollResult:
    server_id: int
    state: bmc.HardwareState | None = None
    error: StoredMessage | None = None


@dataclass(frozen=True)
class BmcPollSummary:
    """One poll cycle: how many BMCs were asked, answered and failed, how many were left for later
    (failing ones waiting out their backoff), and the cycle's wall time."""

    polled: int
    reachable: int
    unreachable: int
    seconds: float
    deferred: int = 0


def bmc_failure_message(error: BmcError, *, timeout: float) -> StoredMessage:
    """What a BMC's failure is, in words that tell the kinds apart: a BMC that never answers, one that
    answers garbage, one that refuses the credentials, one nobody listens for, one Kennel may not reach."""
    if isinstance(error, BmcRefused):
        return texts.BMC_OUT_OF_REACH()
    if isinstance(error, BmcAuthError):
        return texts.BMC_CREDENTIALS_REFUSED()
    if isinstance(error, BmcTimeout):
        return texts.BMC_TIMEOUT(seconds=f"{error.seconds or timeout:g}")
    if isinstance(error, BmcUnreachable):
        return texts.BMC_NO_ANSWER()
    if isinstance(error, BmcProtocolError):
        return texts.BMC_NOT_ITS_PROTOCOL(detail=str(error)[:150])
    return texts.BMC_FAILED(detail=str(error)[:150])


def bmc_failure_text(error: BmcError, *, timeout: float) -> str:
    """``bmc_failure_message`` in English, as a row stores it beside the message's id."""
    return bmc_failure_message(error, timeout=timeout).english()[:200]


def bmc_retry_delay(failures: int) -> timedelta:
    """How long a BMC that failed ``failures`` polls in a row is left alone: two minutes after the
    first failure, doubling with each further one, at most KENNEL_BMC_RETRY_MAX_MINUTES."""
    return timedelta(minutes=min(2 ** max(failures, 1), settings.KENNEL_BMC_RETRY_MAX_MINUTES))


def _bmc_read(server_id: int, target: BmcTarget, timeout: float, answer_timeout: float) -> BmcPollResult:
    try:
        gateway = gateway_for(target.protocol)
        state = gateway.read_state(target, timeout=timeout, answer_timeout=answer_timeout)
        return BmcPollResult(server_id, state=state)
    except BmcError as exc:
        return BmcPollResult(server_id, error=bmc_failure_message(exc, timeout=timeout))
    except Exception:
        # One BMC's surprise must not end the poll of the others. The target's repr hides the password.
        logger.exception("polling %s failed", target)
        return BmcPollResult(server_id, error=texts.BMC_POLL_FAILED())


def bmc_poll_all(
    *,
    timeout: float | None = None,
    workers: int | None = None,
    answer_timeout: float | None = None,
    now: datetime | None = None,
) -> BmcPollSummary:
    """Poll every server that has a BMC and is due, many at once, and store what each answered as its
    latest ``HardwareState``.

    Each BMC gets ``timeout`` seconds in all (KENNEL_BMC_TIMEOUT) and ``answer_timeout`` seconds
    (KENNEL_BMC_ANSWER_TIMEOUT) for its first answer, so a dead or hanging one costs only that, in its
    own thread. ``workers`` (KENNEL_BMC_POLL_WORKERS) BMCs are asked at a time; those that failed last
    time go first, so their waits overlap the healthy ones' work instead of trailing it. A BMC that
    fails is stored as unreachable with the reason, its last-seen time kept, and is not asked again
    before its backoff (``bmc_retry_delay``) has passed ``now``: until then it stays shown as it was
    last polled (unreachable). Raises nothing for a BMC's failure; database errors propagate.
    """
    timeout = float(timeout or settings.KENNEL_BMC_TIMEOUT)
    answer_timeout = min(float(answer_timeout or settings.KENNEL_BMC_ANSWER_TIMEOUT), timeout)
    workers = workers or settings.KENNEL_BMC_POLL_WORKERS
    now = now or timezone.now()
    started = time.monotonic()
    with_bmc = Server.objects.exclude(bmc_protocol="").exclude(bmc_address="").exclude(bmc_port=None)
    due = (
        Q(hardware_state__isnull=True)
        | Q(hardware_state__next_poll_at__isnull=True)
        | Q(hardware_state__next_poll_at__lte=now)
    )
    # Unreachable last time (False) first; never polled (NULL) last.
    servers = list(with_bmc.filter(due).order_by("hardware_state__reachable", "pk"))
    deferred = with_bmc.count() - len(servers)
    results: list[BmcPollResult] = []
    targets: dict[int, BmcTarget] = {}
    for server in servers:
        try:
            targets[server.pk] = _bmc_target(server)
        except SecretUnreadable:
            results.append(BmcPollResult(server.pk, error=texts.BMC_SECRET_UNREADABLE()))
    if targets:
        size = min(workers, len(targets))
        pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="bmc-poll")
        futures = {
            pool.submit(_bmc_read, pk, target, timeout, answer_timeout): pk for pk, target in targets.items()
        }
        # Every read bounds itself; this guard covers one that does not (a hung library call).
        rounds = -(-len(futures) // size)
        done, late = wait(futures, timeout=rounds * timeout + 5)
        results += [future.result() for future in done]
        results += [BmcPollResult(futures[f], error=texts.BMC_NO_ANSWER()) for f in late]
        pool.shutdown(wait=False, cancel_futures=True)
    _hardware_states_store(results)
    reachable = sum(1 for r in results if r.state is not None)
    return BmcPollSummary(
        polled=len(results),
        reachable=reachable,
        unreachable=len(results) - reachable,
        seconds=time.monotonic() - started,
        deferred=deferred,
    )


_STATE_FIELDS = (
    "polled_at",
    "reachable",
    "error",
    "error_ref",
    "last_seen_at",
    "power_state",
    "health",
    "sensors",
    "max_temperature_c",
    "power_watts",
    "failures",
    "next_poll_at",
)


@transaction.atomic
def _hardware_states_store(results: list[BmcPollResult]) -> None:
    """Write each result onto its server's HardwareState in a few bulk statements (a poll of 1,000
    BMCs is not 1,000 UPDATEs). Polls are observations, not anyone's change, so they are not audited;
    what an admin does to a BMC is."""
    now = timezone.now()
    existing = {
        h.server_id: h for h in HardwareState.objects.filter(server_id__in=[r.server_id for r in results])
    }
    new: list[HardwareState] = []
    for result in results:
        row = existing.get(result.server_id)
        if row is None:
            row = HardwareState(server_id=result.server_id, polled_at=now, failures=0)
            new.append(row)
        row.polled_at = now
        if result.state is not None:
            state = result.state
            row.reachable, row.error, row.error_ref, row.last_seen_at = True, "", None, now
            row.failures, row.next_poll_at = 0, None
            row.power_state, row.health = state.power.value, state.health.value
            row.sensors = [
                {"name": s.name, "kind": s.kind.value, "value": s.value, "health": s.health.value}
                for s in state.sensors
            ]
            row.max_temperature_c, row.power_watts = state.max_temperature_c, state.power_watts
        else:
            # What we knew is no longer known; the last-seen time says when it was.
            message = result.error or texts.BMC_NO_ANSWER()
            row.reachable, row.error, row.error_ref = False, message.english()[:200], message.ref()
            row.failures += 1
            row.next_poll_at = now + bmc_retry_delay(row.failures)
            row.power_state, row.health = PowerStateChoice.UNKNOWN, HealthChoice.UNKNOWN
            row.max_temperature_c = row.power_watts = None
    HardwareState.objects.bulk_create(new, batch_size=500)
    bulk_update_fields(HardwareState, list(existing.values()), _STATE_FIELDS)


def bmc_poll_scheduled() -> BmcPollSummary | None:
    """The schedule's poll (every minute): one at a time across all workers, since two overlapping polls
    would ask every BMC twice. None, and nothing asked, when another worker's poll still runs."""
    with work_lock("bmc-poll", 0) as held:
        return bmc_poll_all() if held else None
