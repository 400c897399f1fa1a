"""Cloud-init profiles and their life cycle: a new profile starts not offered; an admin offers it,
withdraws it (VMs built from it keep their user-data), renames it, and deletes it, which archives it
instead while a VM or a blueprint version names it (kept for them, never offered again)."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.access import Capability, can
from portal.hooks import hooks_run
from portal.models import User
from portal.origin import SYSTEM
from portal.services import audit_record
from provisioning import cloudinit
from provisioning.hooks import ProvisioningEvent
from provisioning.models import Profile, VmRequest


def profile_save(
    *,
    actor: User | None,
    name: str,
    description: str = "",
    parts: Sequence[cloudinit.Part],
    profile: Profile | None = None,
    is_active: bool | None = None,
    source: str = SYSTEM,
) -> Profile:
    """Create or replace a profile's parts. The parts are validated (by their forms) before they get
    here; the whole profile must still render to user-data that passes cloud-init's schema, on every
    architecture, or nothing is saved (ValidationError). A new profile is not offered unless
    ``is_active`` says so (an admin offers it once it is right); an archived one is never offered."""
    if profile is not None and profile.archived_at is not None and is_active:
        raise ValidationError(_("An archived profile is not offered again; make a new one."))
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
    if is_active is not None:
        profile.is_active = is_active
    elif created:
        profile.is_active = False
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


def _may_manage(actor: User) -> None:
    if not can(actor, Capability.PROFILES_MANAGE):
        raise PermissionDenied


def profile_users(profile: Profile) -> list[str]:
    """What names the profile besides VMs (blueprint versions, through the ``PROFILE_USERS`` hook),
    as people read it."""
    return [user for answer in hooks_run(ProvisioningEvent.PROFILE_USERS, profile=profile) for user in answer]


def profile_offer(*, actor: User, profile: Profile, offered: bool, source: str = SYSTEM) -> Profile:
    """Offer the profile to developers for new VMs, or withdraw it (VMs built from it keep their
    user-data). An archived profile is not offered again (ValidationError). Admins only."""
    _may_manage(actor)
    if offered and profile.archived_at is not None:
        raise ValidationError(_("An archived profile is not offered again; make a new one."))
    Profile.objects.filter(pk=profile.pk).update(is_active=offered, updated_at=timezone.now())
    profile.is_active = offered
    audit_record(
        actor=actor, action="profile.offer" if offered else "profile.withdraw", target=profile, source=source
    )
    return profile


def profile_rename(
    *, actor: User, profile: Profile, name: str, description: str, source: str = SYSTEM
) -> Profile:
    """A new name and description. A profile a blueprint version names keeps its name (a stored
    version never changes, and would lose its profile): ValidationError saying which. Admins only."""
    _may_manage(actor)
    old = profile.name
    name = name.strip()
    if name != old:
        users = profile_users(profile)
        if users:
            raise ValidationError(
                {
                    "name": _(
                        "%(users)s name this profile, and a stored version never changes: keep its name, "
                        "or make a new profile."
                    )
                    % {"users": ", ".join(users)}
                }
            )
    profile.name, profile.description = name, description
    profile.full_clean()
    profile.save(update_fields=["name", "description", "updated_at"])
    audit_record(
        actor=actor, action="profile.rename", target=profile, source=source, detail={"from": old, "to": name}
    )
    return profile


def profile_delete(*, actor: User, profile: Profile, source: str = SYSTEM) -> Profile | None:
    """Delete the profile, or archive it while a VM or a blueprint version names it: kept for them,
    withdrawn, never offered again, hidden from the list unless asked for. Returns the archived profile,
    or None when it is gone. Admins only."""
    _may_manage(actor)
    vms = VmRequest.objects.filter(profile=profile).count()
    users = profile_users(profile)
    if vms or users:
        Profile.objects.filter(pk=profile.pk).update(
            archived_at=timezone.now(), is_active=False, updated_at=timezone.now()
        )
        profile.refresh_from_db()
        audit_record(
            actor=actor,
            action="profile.archive",
            target=profile,
            source=source,
            detail={"vms": vms, "named_by": users},
        )
        return profile
    audit_record(
        actor=actor, action="profile.delete", target=profile, source=source, detail={"name": profile.name}
    )
    profile.delete()
    return None
