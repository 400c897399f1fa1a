"""What the onboarding worker does, run in the test's process against the FakeCloud."""

from __future__ import annotations

from onboarding import services
from onboarding.models import Onboarding


def run(onboarding: Onboarding, *, rounds: int = 20) -> Onboarding:
    """Advance the chain until it stops waiting (at most ``rounds`` steps; the test then asserts the
    state it expects, so a chain that never finishes fails there)."""
    for _ in range(rounds):
        if services.onboarding_advance(onboarding_id=onboarding.pk) == services.Advance.DONE:
            break
    onboarding.refresh_from_db()
    return onboarding
