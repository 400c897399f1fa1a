"""Writes for VMs and the cloud mirror, one module per domain: ``mirror`` (the catalog, hosts and
networks mirrored from the cloud, read by four apps), ``vm_state`` (a VM row's transitions and what it
mirrors of its server), ``vm_requests`` (submitting and building), ``vm_actions`` (start, stop, reboot,
refresh, delete), ``reconcile`` (the VM rows against the cloud's servers), ``leases``, ``vm_floating_ips``,
``vm_console``, ``vm_changes`` (resize, rebuild), ``vm_snapshots``, ``profiles`` (cloud-init profiles)
and ``ssh_keys``.

Web and API call the ``*_request``/``*_submit`` services, which only change rows and enqueue work;
Celery tasks call the ``*_advance`` services, which talk to the cloud through the gateway and move a VM
along its state machine. Import from here: ``from provisioning.services import vm_request_submit``.
"""

from provisioning.services.leases import vm_lease_extend, vm_lease_reminder_email, vm_leases_enforce
from provisioning.services.mirror import catalog_mirror_refresh, catalog_refresh, hosts_mirror_refresh
from provisioning.services.profiles import (
    profile_delete,
    profile_offer,
    profile_parts,
    profile_rename,
    profile_save,
    profile_users,
)
from provisioning.services.reconcile import SERVERS_FULL_EVERY, SERVERS_SINCE_MARGIN, vm_reconcile
from provisioning.services.ssh_keys import ssh_key_add, ssh_key_remove
from provisioning.services.vm_actions import (
    ACTION_LABELS,
    VmStateConflict,
    vm_action_advance,
    vm_action_request,
    vm_delete_advance,
    vm_delete_request,
    vm_keeper,
    vm_refresh,
    vm_retire,
)
from provisioning.services.vm_changes import (
    vm_rebuild_advance,
    vm_rebuild_request,
    vm_resize_advance,
    vm_resize_request,
)
from provisioning.services.vm_console import (
    CONSOLE_LOG_LINES,
    vm_console_advance,
    vm_console_give_up,
    vm_console_log_advance,
    vm_console_log_give_up,
    vm_console_log_request,
    vm_console_request,
)
from provisioning.services.vm_floating_ips import vm_floating_ip_advance, vm_floating_ip_request
from provisioning.services.vm_requests import (
    BUILD_TIMEOUT,
    HOSTNAME,
    METADATA_KEY,
    VM_COUNT_MAX,
    catalog_refusals,
    vm_names,
    vm_request_build_advance,
    vm_request_submit,
    vm_request_wait_for_cloud,
    vm_requests_resume,
    vm_requests_submit,
    vm_user_data_render,
)
from provisioning.services.vm_snapshots import vm_snapshot_advance, vm_snapshot_request
from provisioning.services.vm_state import Status
from provisioning.services.volumes import (
    volume_advance,
    volume_attach_request,
    volume_delete_request,
    volume_detach_request,
    volume_request,
    volumes_refresh,
    volumes_resume,
)

__all__ = [
    "ACTION_LABELS",
    "BUILD_TIMEOUT",
    "CONSOLE_LOG_LINES",
    "HOSTNAME",
    "METADATA_KEY",
    "SERVERS_FULL_EVERY",
    "SERVERS_SINCE_MARGIN",
    "VM_COUNT_MAX",
    "Status",
    "VmStateConflict",
    "catalog_mirror_refresh",
    "catalog_refresh",
    "catalog_refusals",
    "hosts_mirror_refresh",
    "profile_delete",
    "profile_offer",
    "profile_parts",
    "profile_rename",
    "profile_save",
    "profile_users",
    "ssh_key_add",
    "ssh_key_remove",
    "vm_action_advance",
    "vm_action_request",
    "vm_console_advance",
    "vm_console_give_up",
    "vm_console_log_advance",
    "vm_console_log_give_up",
    "vm_console_log_request",
    "vm_console_request",
    "vm_delete_advance",
    "vm_delete_request",
    "vm_floating_ip_advance",
    "vm_floating_ip_request",
    "vm_keeper",
    "vm_lease_extend",
    "vm_lease_reminder_email",
    "vm_leases_enforce",
    "vm_names",
    "vm_rebuild_advance",
    "vm_rebuild_request",
    "vm_reconcile",
    "vm_refresh",
    "vm_request_build_advance",
    "vm_request_submit",
    "vm_request_wait_for_cloud",
    "vm_requests_resume",
    "vm_requests_submit",
    "vm_resize_advance",
    "vm_resize_request",
    "vm_retire",
    "vm_snapshot_advance",
    "vm_snapshot_request",
    "vm_user_data_render",
    "volume_advance",
    "volume_attach_request",
    "volume_delete_request",
    "volume_detach_request",
    "volume_request",
    "volumes_refresh",
    "volumes_resume",
]
