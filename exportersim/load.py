"""Deterministic, changing load: what a host or a VM is doing at wall-clock time ``t``.

A rate is ``base * (1 + swing * sin(2 pi t / period + phase))``; a counter is that rate's integral from a
fixed epoch, in closed form, so it only grows, never resets when the emulator restarts, and any process
computes the same value for the same instant. The phase and period come from a hash of the name, so
hosts and VMs do not move in step.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

EPOCH = 1_700_000_000.0  # counters count from here (2023-11-14): large, like a long uptime


def unit(name: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by ``name`` (and ``salt``)."""
    digest = hashlib.sha256(f"{salt}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Wave:
    """A rate that swings around ``base`` by ``swing`` (a fraction of base) every ``period`` seconds."""

    base: float
    swing: float = 0.0
    period: float = 3600.0
    phase: float = 0.0

    @classmethod
    def of(cls, name: str, base: float, swing: float, salt: str = "") -> Wave:
        period = 1800.0 + unit(name, salt + "period") * 5400.0  # 30 to 120 minutes
        return cls(base, swing, period, unit(name, salt + "phase") * 2 * math.pi)

    def rate(self, t: float) -> float:
        return self.base * (1 + self.swing * math.sin(2 * math.pi * t / self.period + self.phase))

    def total(self, t: float) -> float:
        """The integral of the rate from EPOCH to ``t``."""
        w = 2 * math.pi / self.period
        wave = (math.cos(w * EPOCH + self.phase) - math.cos(w * t + self.phase)) / w
        return self.base * ((t - EPOCH) + self.swing * wave)
