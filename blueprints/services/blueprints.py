"""Blueprints and their versions: importing a YAML document as a new version (checked, rendered for
every architecture and checked against cloud-init's schema first), exporting one, and the examples
Kennel ships."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from blueprints.documents import document_dump, document_parse
from blueprints.models import Blueprint, BlueprintVersion
from blueprints.rendering import user_data_preview
from portal.access import Capability, can, restrict
from portal.models import Membership, Team, User
from portal.services import audit_record
from provisioning.models import Profile

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"


def _may_keep(actor: User | None, team: Team | None) -> bool:
    """Admins keep every blueprint, a team's leads their team's; ``None`` is Kennel itself."""
    if actor is None or can(actor, Capability.PROFILES_MANAGE):
        return True
    return (
        team is not None
        and restrict(actor, Team.objects.filter(pk=team.pk)).exists()
        and Membership.objects.filter(team=team, user=actor, level=Membership.Level.LEAD).exists()
    )


def blueprint_import(
    *, actor: User | None, team: Team | None, text: str, note: str = "", source: str
) -> BlueprintVersion:
    """Read a blueprint document and store it as the next version of the blueprint of that name (global
    without ``team``), creating the blueprint if needed. A document equal to the latest version adds
    nothing and returns that version. Refuses (ValidationError listing every problem) a document that
    does not validate, names a missing profile (or, in a new version, one not offered), or renders
    user-data cloud-init's schema refuses for one of its architectures; PermissionDenied unless
    ``actor`` keeps the team's (or global) blueprints."""
    if not _may_keep(actor, team):
        raise PermissionDenied
    document = document_parse(text)
    problems = [
        f"{arch}: {message}"
        for arch, preview in user_data_preview(document.spec).items()
        for message in preview["errors"]
    ]
    if problems:
        raise ValidationError(problems)
    note = " ".join(note.split())[:300]
    with transaction.atomic():
        blueprint, created = Blueprint.objects.select_for_update().get_or_create(
            team=team,
            name=document.name,
            defaults={"description": document.description, "created_by": actor},
        )
        latest = blueprint.latest
        if (
            latest is not None
            and latest.spec == document.spec
            and blueprint.description == document.description
        ):
            return latest
        profile_name = document.spec.get("profile")
        if (
            profile_name
            and not Profile.objects.filter(
                name=profile_name, is_active=True, archived_at__isnull=True
            ).exists()
        ):
            # Services already made keep theirs; a new version takes only what developers are offered.
            raise ValidationError(
                {"profile": _("The cloud-init profile %(name)s is not offered.") % {"name": profile_name}}
            )
        if blueprint.description != document.description:
            blueprint.description = document.description
            blueprint.full_clean()
            blueprint.save(update_fields=["description"])
        version = BlueprintVersion(
            blueprint=blueprint,
            number=(latest.number + 1) if latest else 1,
            spec=document.spec,
            note=note,
            created_by=actor,
        )
        version.full_clean()
        version.save()
        audit_record(
            actor=actor,
            action="blueprint.version_add",
            target=version,
            team=team,
            source=source,
            detail={"blueprint": document.name, "number": version.number, "created": created},
        )
    return version


def blueprint_version_export(*, actor: User, version: BlueprintVersion) -> str:
    """The version as a YAML document (what ``blueprint_import`` reads back). 404-style
    PermissionDenied when the actor may not see it."""
    if not restrict(actor, BlueprintVersion.objects.filter(pk=version.pk)).exists():
        raise PermissionDenied
    return document_dump(
        name=version.blueprint.name, description=version.blueprint.description, spec=version.spec
    )


def blueprint_examples_load(*, source: str = "demo") -> list[BlueprintVersion]:
    """The shipped examples (``blueprints/examples/*.yaml``) as global blueprints; running it again adds
    a version only for an example that changed."""
    versions = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        versions.append(
            blueprint_import(
                actor=None, team=None, text=path.read_text(), note=_("Shipped with Kennel."), source=source
            )
        )
    return versions
