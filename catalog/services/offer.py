"""What developers are offered: which images and flavors, checked against the architectures the cloud can
run."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from catalog.models import ImageImport
from portal.models import User
from portal.origin import SYSTEM
from portal.services import audit_record
from provisioning.models import CloudFlavor, CloudImage
from provisioning.selectors import host_architectures

# Machine types each architecture's QEMU knows (Nova passes hw_machine_type to libvirt as is): on
# x86_64 pc (i440FX) or q35, on POWER the paravirtualised pSeries; versioned variants are allowed.
MACHINE_TYPES = {
    "x86_64": re.compile(r"^(pc|q35|pc-i440fx-[\w.]+|pc-q35-[\w.]+)$"),
    "ppc64le": re.compile(r"^(pseries|pseries-[\w.]+)$"),
}
DEFAULT_MACHINE_TYPE = {"ppc64le": "pseries"}


def hypervisor_architectures() -> list[str]:
    """Architectures of the compute hosts in the mirror."""
    return host_architectures()


def _check_architecture(architecture: str) -> None:
    known = hypervisor_architectures()
    if architecture not in known:
        raise ValidationError(
            {
                "architecture": _(
                    "No hypervisor in the cloud runs %(arch)s (it has: %(known)s). "
                    "Pick one of those, or add a compute host of that architecture first."
                )
                % {"arch": architecture or "?", "known": ", ".join(known) or _("none")}
            }
        )


def _check_machine_type(architecture: str, machine_type: str) -> None:
    pattern = MACHINE_TYPES.get(architecture)
    if machine_type and (pattern is None or not pattern.match(machine_type)):
        raise ValidationError(
            {
                "machine_type": _("%(type)s is not a machine type for %(arch)s (use %(ok)s).")
                % {
                    "type": machine_type,
                    "arch": architecture,
                    "ok": "pc, q35" if architecture == "x86_64" else "pseries",
                }
            }
        )


def image_offer_set(
    *, actor: User | None, image: CloudImage, offered: bool, display_name: str, source: str = SYSTEM
) -> CloudImage:
    """Offer an image to developers under a friendly name, or withdraw it. Refuses (ValidationError)
    to offer an image developers could not use: not active, without an architecture, of an
    architecture no hypervisor runs, or still being imported (offered only once verified)."""
    display_name = display_name.strip()
    if offered:
        if image.status != "active":
            raise ValidationError(
                _("%(image)s is %(status)s in Glance; only an active image can be offered.")
                % {"image": image.name, "status": image.status}
            )
        if not image.architecture:
            raise ValidationError(
                _("%(image)s has no hw_architecture; set it before offering it.") % {"image": image.name}
            )
        _check_architecture(image.architecture)
        if (
            ImageImport.objects.filter(glance_image_id=image.cloud_id)
            .exclude(state=ImageImport.State.DONE)
            .exists()
        ):
            raise ValidationError(
                _("%(image)s is an import that is not verified yet; it is offered once it is.")
                % {"image": image.name}
            )
    before = (image.offered, image.display_name)
    image.offered = offered
    image.display_name = display_name
    image.full_clean()
    if before == (offered, display_name):
        return image
    image.save(update_fields=["offered", "display_name"])
    audit_record(
        actor=actor,
        action="image.offer" if offered else "image.withdraw",
        target=image,
        source=source,
        detail={"display_name": display_name, "architecture": image.architecture},
    )
    return image


def flavor_offer_set(
    *, actor: User | None, flavor: CloudFlavor, offered: bool, source: str = SYSTEM
) -> CloudFlavor:
    """Offer a flavor to developers or withdraw it (VMs already built with it are not touched)."""
    if flavor.offered == offered:
        return flavor
    flavor.offered = offered
    flavor.save(update_fields=["offered"])
    audit_record(
        actor=actor, action="flavor.offer" if offered else "flavor.withdraw", target=flavor, source=source
    )
    return flavor
