"""What disk imports and image property changes say, stored as catalogue ids (``portal.stored_messages``)
and shown in the reader's language. An id keeps its meaning for good: reword the template, never reuse it."""

from django.utils.translation import gettext_lazy as _

from portal.stored_messages import message_define

# Image property changes.
WAITING_FOR_CLOUD = message_define("image.waiting_for_cloud", _("Waiting for the cloud: %(e)s"))
GLANCE_REFUSED = message_define("image.glance_refused", _("Glance refused the change: %(e)s"))
PROPERTIES_SET = message_define("image.properties_set", _("Glance has the new properties."))
SHOWN_AT_REFRESH = message_define(
    "image.shown_at_refresh", _("The catalog will show them at the next refresh (%(e)s).")
)
CHANGE_GAVE_UP = message_define(
    "image.change_gave_up",
    _("The cloud stayed unreachable (%(e)s); nothing was changed. Submit the change again."),
)

# Disk imports: what people did.
RETRY_ASKED = message_define("import.retry_asked", _("Retry requested by %(user)s."))
DISCARD_ASKED = message_define(
    "import.discard_asked", _("Discarded by %(user)s; removing what it left behind.")
)
DISCARDED = message_define(
    "import.discarded", _("Discarded; nothing of it is left in Glance or in the work directory.")
)

# Disk imports: the worker.
STEP_FAILED = message_define("import.step_failed", _("%(step)s failed: %(reason)s"))
FILE_ERROR = message_define("import.file_error", _("The portal host could not read or write a file: %(e)s"))
CLOUD_GAVE_UP = message_define("import.cloud_gave_up", _("The cloud stayed unreachable: %(e)s"))
NO_HYPERVISOR = message_define(
    "import.no_hypervisor", _("no hypervisor in the cloud runs %(arch)s (it has: %(known)s)")
)
NONE = message_define("import.none", _("none"))
NO_ROOM = message_define(
    "import.no_room", _("the import work directory has %(free)s bytes free; converting needs about %(need)s")
)
MIN_DISK_TOO_SMALL = message_define(
    "import.min_disk_too_small",
    _("the disk is %(gb)s GB but the minimum disk given is %(min)s GB; raise it or leave it 0"),
)
CONVERTED_GONE = message_define(
    "import.converted_gone", _("the converted file %(path)s is gone; retry converts again")
)
PARTLY_SENT = message_define("import.partly_sent", _("only %(sent)s of %(size)s bytes were sent"))
GLANCE_NOT_ACTIVE = message_define(
    "import.glance_not_active", _("Glance has the image as %(status)s, not active")
)
GLANCE_SIZE = message_define(
    "import.glance_size", _("Glance stored %(got)s bytes, the converted file has %(want)s")
)
GLANCE_HASH = message_define(
    "import.glance_hash", _("Glance's %(algo)s checksum differs from the one computed while sending")
)
GLANCE_MD5 = message_define(
    "import.glance_md5", _("Glance's MD5 checksum differs from the one computed while sending")
)
GLANCE_NO_CHECKSUM = message_define("import.glance_no_checksum", _("Glance reported no checksum to verify"))
IMPORTED = message_define("import.imported", _("Imported and verified (%(algo)s)."))
SHOWN_AT_NEXT_REFRESH = message_define(
    "import.shown_at_refresh", _("The catalog shows it at the next refresh (%(e)s).")
)
OFFERED = message_define("import.offered", _("Offered to developers."))
NOT_OFFERED = message_define("import.not_offered", _("Not offered: %(e)s"))
OFFER_LATER = message_define("import.offer_later", _("Offer it in the catalog once it appears there."))

# qemu-img's verdicts on a file (catalog/qemu.py).
QEMU_MISSING = message_define(
    "disk.qemu_missing", _("qemu-img is not installed on the portal host (Debian package qemu-utils).")
)
QEMU_SLOW = message_define("disk.qemu_slow", _("qemu-img took longer than %(s)s s to read the file."))
QEMU_CANNOT_OPEN = message_define(
    "disk.cannot_open", _("qemu-img cannot open the file (truncated or not a disk image): %(e)s")
)
NO_FILE = message_define("disk.no_file", _("The file %(path)s does not exist (any more)."))
EMPTY = message_define("disk.empty", _("The file is empty."))
FORMAT = message_define("disk.format", _("qemu-img reads it as %(fmt)s; Kennel imports only %(ok)s."))
BACKING_FILE = message_define(
    "disk.backing_file",
    _("The image depends on a backing file (%(b)s); flatten it first (qemu-img convert)."),
)
DATA_FILE = message_define(
    "disk.data_file", _("The image keeps its data in an external file; convert it to one file first.")
)
VMDK_EXTENTS = message_define(
    "disk.vmdk_extents",
    _("The VMDK's data is in other files (%(f)s); export it as one monolithic file first."),
)
NO_SIZE = message_define("disk.no_size", _("The image has no size."))
NOT_SECTORS = message_define(
    "disk.not_sectors", _("This is not a disk image: %(n)s bytes is not a whole number of 512-byte sectors.")
)
RAW_BYTES = message_define(
    "disk.raw_bytes",
    _("This is not a disk image: qemu-img sees raw bytes with no partition table or file system."),
)
QCOW2_DAMAGED = message_define(
    "disk.qcow2_damaged",
    _(
        "The qcow2 image is damaged: %(n)s corrupt clusters (it should be at least %(end)s bytes; "
        "truncated in transfer?). Copy it again."
    ),
)
CHECK_FAILED = message_define("disk.check_failed", _("qemu-img check failed: %(e)s"))
CONVERT_SLOW = message_define("disk.convert_slow", _("qemu-img convert took longer than %(s)s s."))
CONVERT_FAILED = message_define(
    "disk.convert_failed", _("qemu-img could not read the whole image (truncated or damaged?): %(e)s")
)

# An import's steps, named in STEP_FAILED (ImageImport.State's labels).
STEPS = {
    "uploaded": message_define("import.step.uploaded", _("Uploaded")),
    "inspecting": message_define("import.step.inspecting", _("Inspecting")),
    "converting": message_define("import.step.converting", _("Converting")),
    "uploading": message_define("import.step.uploading", _("Uploading to Glance")),
    "verifying": message_define("import.step.verifying", _("Verifying")),
    "done": message_define("import.step.done", _("Done")),
    "failed": message_define("import.step.failed", _("Failed")),
    "discarded": message_define("import.step.discarded", _("Discarded")),
}
