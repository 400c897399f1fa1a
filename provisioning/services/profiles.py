"""Cloud-init profiles: saving one and reading its parts."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError

from portal.models import User
from portal.origin import SYSTEM
from portal.services import audit_record
from provisioning import cloudinit
from provisioning.models import Profile


def profile_save(
    *,
    actor: User | None,
    name: str,
    description: str = "",
    parts: Sequence[cloudinit.Part],
    profile: Profile | None = None,
    is_active: bool = True,
    source: str = SYSTEM,
) -> Profile:
    """Create or replace a profile's parts. The parts are validated (by their forms) before they get
    here; the whole profile must still render to user-data that passes cloud-init's schema, on every
    architecture, or nothing is saved (ValidationError)."""
    for architecture in ("x86_64", "ppc64le"):
        problems = cloudinit.validate_user_data(
            cloudinit.render_user_data(list(parts), architecture=architecture, hostname="preview")
        )
        if problems:
            raise ValidationError({"parts": problems})
    created = profile is None
    profile = profile or Profile()
    profile.name = name
    profile.description = description
    profile.parts = cloudinit.profile_to_data(parts)
    profile.is_active = is_active
    profile.full_clean()
    profile.save()
    audit_record(
        actor=actor,
        action="profile.create" if created else "profile.update",
        target=profile,
        source=source,
        detail={"parts": [p.kind for p in parts]},
    )
    return profile


def profile_parts(profile: Profile) -> list[cloudinit.Part]:
    return cloudinit.profile_from_data(profile.parts)
