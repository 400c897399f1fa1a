"""What a server is doing, in words a person reads: Nova's status and task state mapped to one state.

A VM has two states (STYLE.md, "show the cloud's truth"): the request's life cycle
(``VmRequest.status``: queued, building, active, failed, deleting, deleted) and the server's state in the
cloud, mirrored from Nova. This module holds the second: which Nova status and task state mean
"Running", "Stopped", "Rebooting" ..., and which actions make sense in each, with Nova's own rules
(``nova/compute/api.py``'s ``check_instance_state`` on start, stop and reboot). No Django models here,
so migrations can use it too.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import pgettext_lazy


class ServerState(models.TextChoices):
    RUNNING = "running", pgettext_lazy("server state", "Running")
    STOPPED = "stopped", pgettext_lazy("server state", "Stopped")
    STARTING = "starting", pgettext_lazy("server state", "Starting")
    STOPPING = "stopping", pgettext_lazy("server state", "Stopping")
    REBOOTING = "rebooting", pgettext_lazy("server state", "Rebooting")
    PAUSED = "paused", pgettext_lazy("server state", "Paused")
    SUSPENDED = "suspended", pgettext_lazy("server state", "Suspended")
    SHELVED = "shelved", pgettext_lazy("server state", "Shelved")
    RESIZING = "resizing", pgettext_lazy("server state", "Resizing")
    RESIZED = "resized", pgettext_lazy("server state", "Resized, confirm or revert")
    SNAPSHOTTING = "snapshotting", pgettext_lazy("server state", "Taking a snapshot")
    MIGRATING = "migrating", pgettext_lazy("server state", "Migrating")
    BUILDING = "building", pgettext_lazy("server state", "Building")
    REBUILDING = "rebuilding", pgettext_lazy("server state", "Rebuilding")
    RESCUE = "rescue", pgettext_lazy("server state", "Rescue mode")
    ERROR = "error", pgettext_lazy("server state", "Error")
    DELETING = "deleting", pgettext_lazy("server state", "Deleting")
    DELETED = "deleted", pgettext_lazy("server state", "Deleted")
    UNKNOWN = "unknown", pgettext_lazy("server state", "Unknown")


# Nova's API status (nova/api/openstack/common.py, _STATE_MAP) -> the state shown.
_BY_STATUS = {
    "ACTIVE": ServerState.RUNNING,
    "PASSWORD": ServerState.RUNNING,
    "SHUTOFF": ServerState.STOPPED,
    "STOPPED": ServerState.STOPPED,
    "PAUSED": ServerState.PAUSED,
    "SUSPENDED": ServerState.SUSPENDED,
    "SHELVED": ServerState.SHELVED,
    "SHELVED_OFFLOADED": ServerState.SHELVED,
    "REBOOT": ServerState.REBOOTING,
    "HARD_REBOOT": ServerState.REBOOTING,
    "BUILD": ServerState.BUILDING,
    "REBUILD": ServerState.REBUILDING,
    "RESIZE": ServerState.RESIZING,
    "REVERT_RESIZE": ServerState.RESIZING,
    "VERIFY_RESIZE": ServerState.RESIZED,
    "MIGRATING": ServerState.MIGRATING,
    "RESCUE": ServerState.RESCUE,
    "ERROR": ServerState.ERROR,
    "DELETED": ServerState.DELETED,
    "SOFT_DELETED": ServerState.DELETED,
    "UNKNOWN": ServerState.UNKNOWN,
}

# Nova's task state says what is under way; the status shows only some of them (a server being
# stopped is still ACTIVE until it is SHUTOFF), so the task state wins when it says more.
_BY_TASK = {
    "powering-off": ServerState.STOPPING,
    "powering-on": ServerState.STARTING,
    "rebooting": ServerState.REBOOTING,
    "reboot_pending": ServerState.REBOOTING,
    "reboot_started": ServerState.REBOOTING,
    "rebooting_hard": ServerState.REBOOTING,
    "reboot_pending_hard": ServerState.REBOOTING,
    "reboot_started_hard": ServerState.REBOOTING,
    "migrating": ServerState.MIGRATING,
    "resize_prep": ServerState.RESIZING,
    "resize_migrating": ServerState.RESIZING,
    "resize_migrated": ServerState.RESIZING,
    "resize_finish": ServerState.RESIZING,
    "resize_reverting": ServerState.RESIZING,
    "resize_confirming": ServerState.RESIZING,
    "rebuilding": ServerState.REBUILDING,
    "rebuild_block_device_mapping": ServerState.REBUILDING,
    "rebuild_spawning": ServerState.REBUILDING,
    "scheduling": ServerState.BUILDING,
    "block_device_mapping": ServerState.BUILDING,
    "networking": ServerState.BUILDING,
    "spawning": ServerState.BUILDING,
    "deleting": ServerState.DELETING,
    "soft-deleting": ServerState.DELETING,
    "image_snapshot": ServerState.SNAPSHOTTING,
    "image_snapshot_pending": ServerState.SNAPSHOTTING,
    "image_pending_upload": ServerState.SNAPSHOTTING,
    "image_uploading": ServerState.SNAPSHOTTING,
}

# Something is under way: no action is offered until it settles (the page keeps looking).
BUSY = frozenset(
    {
        ServerState.STARTING,
        ServerState.STOPPING,
        ServerState.REBOOTING,
        ServerState.RESIZING,
        ServerState.MIGRATING,
        ServerState.BUILDING,
        ServerState.REBUILDING,
        ServerState.DELETING,
        ServerState.SNAPSHOTTING,
    }
)

# Nova's rules, per action (``ServerAction`` values): start needs STOPPED; stop ACTIVE or ERROR; a soft
# reboot ACTIVE; a hard reboot ACTIVE, STOPPED, PAUSED, SUSPENDED or ERROR, also while rebooting.
ACTIONS: dict[str, frozenset[str]] = {
    "start": frozenset({ServerState.STOPPED}),
    "stop": frozenset({ServerState.RUNNING, ServerState.ERROR}),
    "reboot_soft": frozenset({ServerState.RUNNING}),
    "reboot_hard": frozenset(
        {
            ServerState.RUNNING,
            ServerState.STOPPED,
            ServerState.PAUSED,
            ServerState.SUSPENDED,
            ServerState.ERROR,
            ServerState.REBOOTING,
        }
    ),
    # A resize waits for its confirm or revert (Nova: vm_state resized).
    "confirm_resize": frozenset({ServerState.RESIZED}),
    "revert_resize": frozenset({ServerState.RESIZED}),
    # Nova resizes, rebuilds and snapshots a server that is running or stopped (and rebuilds one in
    # error); a snapshot of a paused or suspended one too, which Kennel never makes.
    "resize": frozenset({ServerState.RUNNING, ServerState.STOPPED}),
    "rebuild": frozenset({ServerState.RUNNING, ServerState.STOPPED, ServerState.ERROR}),
    "snapshot": frozenset({ServerState.RUNNING, ServerState.STOPPED}),
    # A lock is taken or given back in any state the server is not gone in.
    "lock": frozenset(set(ServerState) - {ServerState.DELETED, ServerState.DELETING, ServerState.UNKNOWN}),
    "unlock": frozenset(set(ServerState) - {ServerState.DELETED, ServerState.DELETING, ServerState.UNKNOWN}),
    # Kennel's own: a console is worth opening only on a running server; its log once it has one.
    "console": frozenset({ServerState.RUNNING}),
    "console_log": frozenset(
        set(ServerState) - {ServerState.BUILDING, ServerState.DELETED, ServerState.UNKNOWN}
    ),
}


def server_state_for(status: str, task_state: str | None = None) -> str:
    """The state to show for Nova's ``status`` and ``task_state``; "" when there is no server yet."""
    if not status:
        return ""
    by_status = _BY_STATUS.get(status.upper(), ServerState.UNKNOWN)
    if by_status == ServerState.DELETED:
        return by_status
    return _BY_TASK.get(task_state or "", by_status)


def action_allowed(state: str, action: str) -> bool:
    """Whether ``action`` makes sense for a server in ``state`` (Nova would accept it)."""
    return state in ACTIONS.get(action, frozenset())
