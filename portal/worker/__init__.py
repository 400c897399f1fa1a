"""The worker toolkit every app's tasks and services use: retrying an outage (``outage``), claiming a
row's work (``claims``) and holding a lock that dies with its worker (``locks``).
Import from here: ``from portal.worker import outage_retry, claim``."""

from portal.worker.claims import (
    LostClaim,
    claim,
    claim_keep,
    claim_release,
    claim_take,
    claims_abandoned,
    stale_after,
    stale_before,
)
from portal.worker.locks import work_lock
from portal.worker.outage import OUTAGE_ERRORS, OUTAGE_RETRIES, outage_backoff, outage_retry

__all__ = [
    "OUTAGE_ERRORS",
    "OUTAGE_RETRIES",
    "LostClaim",
    "claim",
    "claim_keep",
    "claim_release",
    "claim_take",
    "claims_abandoned",
    "outage_backoff",
    "outage_retry",
    "stale_after",
    "stale_before",
    "work_lock",
]
