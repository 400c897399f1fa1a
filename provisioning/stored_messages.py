"""What a VM's history and status line say, stored as catalogue ids (``portal.stored_messages``) and
shown in the reader's language. An id keeps its meaning for good: reword the template, never reuse it."""

from django.utils.translation import gettext_lazy as _

from portal.stored_messages import message_define

# Asked for by a person.
REQUESTED = message_define("vm.requested", _("Requested by %(user)s."))
ACTION_ASKED = message_define("vm.action_asked", _("%(user)s asked to %(action)s it."))
DELETE_ASKED = message_define("vm.delete_asked", _("%(user)s asked to delete it."))
CANCELLED = message_define("vm.cancelled", _("Cancelled by %(user)s before it was built."))
OFFBOARDED = message_define("vm.offboarded", _("Deleted with its team, which %(user)s offboarded."))
LEASE_EXTENDED = message_define("vm.lease_extended", _("%(user)s extended the lease to %(date)s."))
FLOATING_IP_ASKED = message_define("vm.floating_ip_asked", _("%(user)s asked for a floating IP."))
FLOATING_IP_RELEASE_ASKED = message_define(
    "vm.floating_ip_release_asked", _("%(user)s released the floating IP.")
)

# The verbs ACTION_ASKED names (a parameter translated with its sentence).
ACTION_VERBS = {
    "start": message_define("vm.verb.start", _("start")),
    "stop": message_define("vm.verb.stop", _("stop")),
    "reboot_soft": message_define("vm.verb.reboot_soft", _("reboot")),
    "reboot_hard": message_define("vm.verb.reboot_hard", _("hard-reboot")),
    "confirm_resize": message_define("vm.verb.confirm_resize", _("confirm the resize of")),
    "revert_resize": message_define("vm.verb.revert_resize", _("revert the resize of")),
    "lock": message_define("vm.verb.lock", _("lock")),
    "unlock": message_define("vm.verb.unlock", _("unlock")),
}

# Changing it in place, and its snapshots.
RESIZE_ASKED = message_define("vm.resize_asked", _("%(user)s asked to resize it from %(old)s to %(new)s."))
REBUILD_ASKED = message_define("vm.rebuild_asked", _("%(user)s asked to rebuild it from %(image)s."))
SNAPSHOT_ASKED = message_define("vm.snapshot_asked", _("%(user)s asked for a snapshot named %(name)s."))
SNAPSHOT_READY = message_define(
    "vm.snapshot_ready", _("Snapshot %(name)s is ready; your team can request VMs from it.")
)
SNAPSHOT_REFUSED = message_define("vm.snapshot_refused", _("The cloud refused the snapshot: %(detail)s"))
SNAPSHOT_IMAGE_GONE = message_define(
    "vm.snapshot_image_gone", _("The snapshot's image was deleted in the cloud.")
)
SNAPSHOT_FAILED = message_define(
    "vm.snapshot_failed", _("The snapshot %(name)s failed in the cloud (image %(status)s).")
)

# The build.
CLOUD_ACCEPTED = message_define("vm.cloud_accepted", _("The cloud accepted the request (server %(id)s)."))
BUILT = message_define("vm.built", _("Built on %(host)s."))
CATALOG_GONE = message_define(
    "vm.catalog_gone", _("The image or flavor was removed from the cloud; request the VM again.")
)
DELETED_WHILE_BUILDING = message_define(
    "vm.deleted_while_building", _("The server was deleted outside Kennel while it was being built.")
)
BUILD_TIMEOUT = message_define(
    "vm.build_timeout", _("The VM did not become active within 15 minutes; delete it and try again.")
)
WAITING_FOR_CLOUD = message_define(
    "vm.waiting_for_cloud",
    _("Waiting for the cloud, which cannot be reached right now; Kennel retries by itself. (%(error)s)"),
)

# The cloud's refusals and faults, in words a developer can act on.
QUOTA_REFUSED = message_define(
    "vm.quota_refused",
    _(
        "Your team's quota does not allow this VM (%(detail)s). Delete a VM you no longer need, "
        "or ask your team lead to request more quota."
    ),
)
CLOUD_REFUSED_REQUEST = message_define(
    "vm.cloud_refused_request", _("The cloud refused the request: %(detail)s")
)
CLOUD_REFUSED = message_define("vm.cloud_refused", _("The cloud refused: %(detail)s"))
NO_VALID_HOST = message_define(
    "vm.no_valid_host",
    _("No %(arch)s host had room for a %(flavor)s VM. Try a smaller flavor, or ask an admin about capacity."),
)
BUILD_FAULT = message_define("vm.build_fault", _("The cloud could not build the VM: %(fault)s"))
NO_REASON = message_define("vm.no_reason", _("no reason given"))

# Its life afterwards.
DELETED = message_define("vm.deleted", _("Deleted."))
VANISHED = message_define("vm.vanished", _("The server was deleted outside Kennel."))
LEASE_EXPIRED_DELETING = message_define("vm.lease_expired_deleting", _("The lease expired; deleting."))
LEASE_EXPIRED_STOPPING = message_define(
    "vm.lease_expired_stopping", _("The lease expired; stopping. Extend the lease, then start it again.")
)
FLOATING_IP_ATTACHED = message_define("vm.floating_ip_attached", _("Floating IP %(ip)s attached."))
FLOATING_IP_RELEASED = message_define("vm.floating_ip_released", _("Floating IP released."))
FLOATING_IP_ADDRESS_RELEASED = message_define(
    "vm.floating_ip_address_released", _("Floating IP %(ip)s released.")
)
FLOATING_IP_NOT_RELEASED = message_define(
    "vm.floating_ip_not_released", _("Floating IP %(ip)s could not be released: %(error)s")
)
NO_CONSOLE_PROXY = message_define(
    "vm.no_console_proxy",
    _("This cloud offers no console: %(detail)s. Ask an admin to run Nova's console proxy."),
)
NO_CONSOLE = message_define("vm.no_console", _("No console: %(detail)s"))
CLOUD_AWAY = message_define(
    "vm.cloud_away", _("The cloud could not be reached (%(detail)s); try again in a few minutes.")
)
NO_CONSOLE_LOG = message_define("vm.no_console_log", _("The cloud gave no console log: %(detail)s"))

# Volumes (a volume's status line).
VOLUME_QUOTA_REFUSED = message_define(
    "volume.quota_refused",
    _("The volume quota refused it: %(detail)s Ask for more quota on the team's page or delete a volume."),
)
VOLUME_CLOUD_REFUSED = message_define("volume.cloud_refused", _("The cloud refused it: %(detail)s"))
VOLUME_FAILED = message_define(
    "volume.failed", _("The cloud could not make the volume (status %(status)s); delete it and ask again.")
)
VOLUME_GONE = message_define("volume.gone", _("The volume was deleted outside Kennel."))
VOLUME_ATTACH_FAILED = message_define(
    "volume.attach_failed", _("It could not be attached to %(vm)s: %(detail)s")
)
VOLUME_DETACH_FAILED = message_define(
    "volume.detach_failed", _("It could not be detached from %(vm)s: %(detail)s")
)
VOLUME_VM_GONE = message_define("volume.vm_gone", _("Its VM %(vm)s was deleted; the volume is kept."))
VOLUME_STUCK = message_define(
    "volume.stuck", _("The cloud left it %(status)s for more than 10 minutes; ask an admin to look at it.")
)
