"""How workers wait out a cloud outage: exponential backoff, capped, with jitter, and a bound.

A task that meets ``CloudUnavailable`` retries after ``outage_backoff(retries)`` seconds, at most
``OUTAGE_RETRIES`` times (about 15 minutes); after that it leaves its row waiting and a periodic resume
task picks it up again, so an outage delays work and never drops it.
"""

from __future__ import annotations

import random

from django.conf import settings

OUTAGE_RETRIES = 8  # backoff 2, 4 ... 256 s (capped): about 15 minutes, then the resume task takes over


def outage_backoff(retries: int) -> float:
    """Exponential, capped at KENNEL_CLOUD_BACKOFF_CAP, with jitter so that many waiting rows do not
    return at once."""
    return min(2 ** (retries + 1), settings.KENNEL_CLOUD_BACKOFF_CAP) * random.uniform(0.8, 1.2)  # noqa: S311
