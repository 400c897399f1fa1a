"""What a service's history and status line say (and what its VMs' histories say when the service
deletes one), stored as catalogue ids (``portal.stored_messages``) and shown in the reader's language.
An id keeps its meaning for good: reword the template, never reuse it."""

from django.utils.translation import gettext_lazy as _

from portal.stored_messages import message_define

# Asked for by a person.
DEPLOYED = message_define("service.deployed", _("%(user)s deployed %(version)s with %(counts)s."))
SCALE_ASKED = message_define("service.scale_asked", _("%(user)s asked for %(counts)s."))
VERSION_ASKED = message_define("service.version_asked", _("%(user)s asked to go from %(old)s to %(new)s."))
RETRY_ASKED = message_define("service.retry_asked", _("%(user)s asked to try again."))
DELETE_ASKED = message_define("service.delete_asked", _("%(user)s asked to delete it."))

# Seen by the worker.
VM_VANISHED = message_define(
    "service.vm_vanished", _("%(vm)s was deleted outside Kennel; a replacement is being built.")
)

# The worker's steps.
VM_BUILDING = message_define("service.vm_building", _("%(vm)s (%(version)s) is being built."))
VM_REPLACED = message_define("service.vm_replaced", _("%(vm)s (%(old)s) is replaced and deleted."))
VM_SCALED_DOWN = message_define("service.vm_scaled_down", _("%(vm)s is deleted: the service is scaled down."))
VM_DELETED_WITH = message_define("service.vm_deleted_with", _("%(vm)s is deleted with the service."))
VM_FAILED_DELETED = message_define("service.vm_failed_deleted", _("%(vm)s failed and is deleted."))
VM_FAILED = message_define("service.vm_failed", _("%(vm)s failed: %(why)s"))
READY = message_define("service.ready", _("Ready: %(counts)s at %(version)s."))
DELETED = message_define("service.deleted", _("Deleted with all its VMs."))
REFUSED = message_define("service.refused", _("The change was refused: %(reason)s"))
ACTOR_GONE = message_define("service.actor_gone", _("%(user)s may no longer create VMs for the team."))
WAITING_FOR_CLOUD = message_define("service.waiting_for_cloud", _("Waiting for the cloud: %(e)s"))
