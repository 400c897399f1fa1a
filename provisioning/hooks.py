"""What provisioning asks of the apps above it (quotas), through the core's hook registry
(``portal.hooks``): the apps register their answers in their ``AppConfig.ready()``, so provisioning never
imports them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ProvisioningEvent(StrEnum):
    # May the team have one more VM of this size? Asked inside the transaction that accepts a VM, after
    # the team's row is locked. Keyword arguments: ``team``, ``vcpus``, ``ram_mb``, ``disk_gb``,
    # ``architecture``, and ``instances`` (0 when the VM is already counted and only grows: a resize).
    # Each hook answers why not (a message), or None.
    VM_ADMIT = "provisioning.vm_admit"
    # How many more VMs of each size may the team have? Keyword arguments: ``team``, ``architecture``,
    # ``sizes`` (a list of ``(vcpus, ram_mb, disk_gb)``). Each hook answers a list, one count per size
    # (None: it sets no bound).
    VM_ROOM = "provisioning.vm_room"
    # May the team have one more volume of this size? Asked inside the transaction that accepts it, after
    # the team's row is locked. Keyword arguments: ``team``, ``size_gb``. Each hook answers why not (a
    # message), or None.
    VOLUME_ADMIT = "provisioning.volume_admit"
    # What the team uses in the cloud changed outside a VM's life cycle (a floating IP released).
    # Keyword argument: ``team_ids``. May raise CloudError (the caller logs it; the periodic sync
    # catches up).
    TEAM_USAGE_CHANGED = "provisioning.team_usage_changed"
    # Does something other than its owner keep this VM (a team service)? Keyword argument: ``vm``.
    # Each hook answers a ``VmKeeper`` or None. A kept VM is not deleted, resized or rebuilt on its own:
    # its keeper would undo the change or count the VM wrong; the change is made through the keeper.
    VM_KEEPER = "provisioning.vm_keeper"
    # Who else names this cloud-init profile (a blueprint version, which names it for good)? Keyword
    # argument: ``profile``. Each hook answers a list of what names it, as people read it (empty: none).
    # A profile so named is archived rather than deleted, and keeps its name.
    PROFILE_USERS = "provisioning.profile_users"


@dataclass(frozen=True)
class VmKeeper:
    """What keeps a VM: its name as people read it, and the page where it is changed."""

    label: str
    url: str
