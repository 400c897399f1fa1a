"""Reads for the catalog's admin pages: images by architecture, which flavors suit which
architecture, pending changes and imports. Every query goes through ``restrict``."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Max, QuerySet

from catalog.models import ImageImport, ImagePropertyChange
from portal.access import restrict
from portal.models import User
from provisioning.models import CloudFlavor, CloudHost, CloudImage

NO_ARCHITECTURE = ""


@dataclass
class ArchitectureImages:
    architecture: str  # "" for images without hw_architecture
    has_hosts: bool
    images: list[CloudImage] = field(default_factory=list)
    # An image of the group has a property change still on its way to Glance (the page polls).
    changing: bool = False


def image_catalog(*, user: User) -> list[ArchitectureImages]:
    """Every mirrored image, grouped by architecture (those without one last), each with its latest
    property change attached as ``latest_change``."""
    hosts = set(CloudHost.objects.exclude(architecture="").values_list("architecture", flat=True))
    images = list(restrict(user, CloudImage.objects.all(), "change").order_by("architecture", "name"))
    latest: dict[str, ImagePropertyChange] = {}
    for change in restrict(
        user, ImagePropertyChange.objects.filter(image_id__in=[i.cloud_id for i in images])
    ):
        latest.setdefault(change.image_id, change)  # newest first
    groups: dict[str, ArchitectureImages] = {}
    for image in images:
        newest = latest.get(image.cloud_id)
        # For the template, beside the image; django-stubs knows only the model's own fields.
        image.latest_change = newest  # type: ignore[attr-defined]
        arch = image.architecture or NO_ARCHITECTURE
        group = groups.setdefault(arch, ArchitectureImages(arch, arch in hosts))
        group.images.append(image)
        group.changing = group.changing or (newest is not None and not newest.finished)
    return sorted(groups.values(), key=lambda g: (g.architecture == NO_ARCHITECTURE, g.architecture))


@dataclass(frozen=True)
class FlavorFit:
    architecture: str
    suits: bool  # extra specs allow the architecture
    host_fits: bool  # some host of the architecture is big enough, empty
    offered_images: int  # offered images of the architecture it is big enough for
    all_images: int  # active images of the architecture it is big enough for


@dataclass
class FlavorRow:
    flavor: CloudFlavor
    fits: list[FlavorFit]

    @property
    def architectures(self) -> list[str]:
        """Architectures a developer can use the flavor on: allowed, a host big enough, an offered image."""
        return [f.architecture for f in self.fits if f.suits and f.host_fits and f.offered_images]


def flavor_catalog(*, user: User) -> tuple[list[str], list[FlavorRow]]:
    """Each flavor against each architecture of the cloud's hosts: its extra specs, the largest host,
    and the images (offered and all active) whose min_disk/min_ram it meets."""
    # The largest host of each architecture, by Placement's rule (the host's generated capacity
    # columns), aggregated in the database: one row per architecture at any number of hosts.
    largest = {
        row["architecture"]: {"VCPU": row["vcpu"], "MEMORY_MB": row["ram"], "DISK_GB": row["disk"]}
        for row in CloudHost.objects.exclude(architecture="")
        .order_by()
        .values("architecture")
        .annotate(vcpu=Max("vcpu_capacity"), ram=Max("memory_mb_capacity"), disk=Max("disk_gb_capacity"))
    }
    arches = sorted(largest)
    images = list(CloudImage.objects.filter(status="active").exclude(architecture=""))
    rows = []
    for flavor in restrict(user, CloudFlavor.objects.all(), "change"):
        fits = []
        for arch in arches:
            cap = largest[arch]
            fitting = [i for i in images if i.architecture == arch and flavor.fits_image(i)]
            fits.append(
                FlavorFit(
                    architecture=arch,
                    suits=flavor.suits_architecture(arch),
                    host_fits=cap.get("VCPU", 0) >= flavor.vcpus
                    and cap.get("MEMORY_MB", 0) >= flavor.ram_mb
                    and cap.get("DISK_GB", 0) >= flavor.disk_gb,
                    offered_images=sum(1 for i in fitting if i.offered),
                    all_images=len(fitting),
                )
            )
        rows.append(FlavorRow(flavor, fits))
    return arches, rows


def image_import_list(*, user: User) -> QuerySet[ImageImport]:
    return restrict(user, ImageImport.objects.select_related("requested_by"))


def image_property_change_list(*, user: User) -> QuerySet[ImagePropertyChange]:
    return restrict(user, ImagePropertyChange.objects.select_related("requested_by"))
