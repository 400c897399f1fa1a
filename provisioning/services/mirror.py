"""The cloud mirror: images, flavors, compute hosts and networks copied from the cloud into rows that
the request pages, quotas, inventory and onboarding read without waiting on the cloud."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone

from portal.cloud import cloud
from portal.cloud.gateway import Network
from provisioning.models import CloudFlavor, CloudHost, CloudImage, CloudNetwork
from provisioning.sync import Part, mirror_run


def catalog_refresh() -> None:
    """Mirror everything the request pages read: the catalog, then the compute hosts (callers that
    need it all at once: the demo, tests, an admin's change in Glance). Raises the gateway's CloudError."""
    catalog_mirror_refresh()
    hosts_mirror_refresh()


_Mirrored = TypeVar("_Mirrored", CloudImage, CloudFlavor, CloudHost)


def _sync_rows(
    model: type[_Mirrored],
    key: str,
    wanted: Mapping[str, dict[str, Any]],
    now: datetime,
) -> int:
    """Make ``model``'s rows those of ``wanted`` (key value -> fields) in a constant number of queries
    when nothing changed: one read, one ``seen_at`` update, one delete; new rows in bulk INSERTs, a
    write per row that did change. Returns how many rows were created, changed or deleted."""
    rows = {getattr(row, key): row for row in model.objects.all()}
    changed = 0
    new: list[_Mirrored] = []
    for value, fields in wanted.items():
        row = rows.get(value)
        if row is None:
            new.append(model(**{key: value, **fields, "seen_at": now}))
            changed += 1
        elif any(getattr(row, name) != field for name, field in fields.items()):
            model.objects.filter(pk=row.pk).update(**fields)
            changed += 1
    model.objects.bulk_create(new, batch_size=500)  # a first read of 1,000 hosts: two INSERTs
    model.objects.update(seen_at=now)
    deleted, _ = model.objects.exclude(**{f"{key}__in": list(wanted)}).delete()
    return changed + deleted


def catalog_mirror_refresh() -> bool:
    """Mirror Glance's images, Nova's flavors and Neutron's networks, one listing each. An image or
    flavor removed in the cloud leaves the mirror (and so the request form) on this run. Returns
    False when another run held the catalog (nothing done). Records success or the error in
    CloudSync (pages show the mirror's age); raises the gateway's CloudError."""
    with mirror_run(Part.CATALOG) as run:
        if run is None:
            return False
        gateway = cloud()
        images = gateway.list_images()
        flavors = gateway.list_flavors()
        networks = gateway.list_networks()
        with transaction.atomic():
            _sync_rows(
                CloudImage,
                "cloud_id",
                {
                    image.id: {
                        "name": image.name,
                        "architecture": image.architecture or "",
                        "status": image.status,
                        "min_disk_gb": image.min_disk_gb,
                        "min_ram_mb": image.min_ram_mb,
                        "os_distro": image.properties.get("os_distro", ""),
                        "os_version": image.properties.get("os_version", ""),
                        "visibility": image.visibility,
                        "properties": dict(image.properties),
                    }
                    for image in images
                },
                run.started_at,
            )
            _sync_rows(
                CloudFlavor,
                "cloud_id",
                {
                    flavor.id: {
                        "name": flavor.name,
                        "vcpus": flavor.vcpus,
                        "ram_mb": flavor.ram_mb,
                        "disk_gb": flavor.disk_gb,
                        "is_public": flavor.is_public,
                        "extra_specs": dict(flavor.extra_specs),
                    }
                    for flavor in flavors
                },
                run.started_at,
            )
            _mirror_networks(networks)
        run.full = True
    return True


def hosts_mirror_refresh() -> bool:
    """Mirror the compute hosts: Nova's hypervisors (state up/down and, from their compute service,
    enabled/disabled with the reason) in one listing, and Placement's providers in one listing, whose
    inventories and usage are read again only for providers whose generation moved (Placement bumps
    it on every allocation, inventory or trait change). A host gone from Placement leaves the mirror.
    Returns False when another run held the hosts. Raises the gateway's CloudError."""
    with mirror_run(Part.HOSTS) as run:
        if run is None:
            return False
        gateway = cloud()
        rows = {host.name: host for host in CloudHost.objects.all()}
        known = {
            h.provider_id: h.generation for h in rows.values() if h.provider_id and h.generation is not None
        }
        hypervisors = {h.hostname: h for h in gateway.list_hypervisors()}
        providers = gateway.list_resource_providers(known=known)
        wanted: dict[str, dict[str, Any]] = {}
        for provider in providers:
            hypervisor = hypervisors.get(provider.name)
            fields: dict[str, Any] = {
                "state": hypervisor.state if hypervisor else "",
                "status": hypervisor.status if hypervisor else "",
                "disabled_reason": (hypervisor.disabled_reason or "") if hypervisor else "",
            }
            row = rows.get(provider.name)
            if provider.detailed or row is None or row.provider_id != provider.id:
                if not provider.detailed:  # renamed under a known id: read it whole next time
                    continue
                fields |= {
                    "architecture": provider.architecture or "",
                    "provider_id": provider.id,
                    "generation": provider.generation,
                    "inventories": {
                        rc: {
                            "total": inv.total,
                            "reserved": inv.reserved,
                            "allocation_ratio": inv.allocation_ratio,
                            "used": inv.used,
                        }
                        for rc, inv in provider.inventories.items()
                    },
                }
            wanted[provider.name] = fields
        with transaction.atomic():
            _sync_rows(CloudHost, "name", wanted, run.started_at)
        run.full = True
    return True


def _mirror_networks(networks: Sequence[Network]) -> None:
    for network in networks:
        _mirror_network(network)
    CloudNetwork.objects.exclude(cloud_id__in=[n.id for n in networks]).delete()


def _mirror_network(network: Network) -> None:
    CloudNetwork.objects.update_or_create(
        cloud_id=network.id,
        defaults={
            "name": network.name,
            "project_id": network.project_id,
            "external": network.external,
            "seen_at": timezone.now(),
        },
    )
