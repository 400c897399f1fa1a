"""What a BMC poll, a power action and a drain leave on their rows when they fail, stored as catalogue
ids (``portal.stored_messages``) and shown in the reader's language. An id keeps its meaning for good:
reword the template, never reuse it."""

from django.utils.translation import gettext_lazy as _

from portal.stored_messages import message_define

# A BMC that failed (a poll or a power action).
BMC_OUT_OF_REACH = message_define(
    "bmc.out_of_reach",
    _(
        "Not polled: the BMC's address or port is outside what Kennel may reach (or its name does not "
        "resolve). An administrator of the Kennel server can allow it in its settings."
    ),
)
BMC_CREDENTIALS_REFUSED = message_define("bmc.credentials_refused", _("The BMC refused the credentials."))
BMC_TIMEOUT = message_define("bmc.timeout", _("The BMC did not answer within %(seconds)s s."))
BMC_NO_ANSWER = message_define("bmc.no_answer", _("The BMC did not answer."))
BMC_NOT_ITS_PROTOCOL = message_define(
    "bmc.not_its_protocol", _("The BMC answered with something that is not its protocol: %(detail)s")
)
BMC_FAILED = message_define("bmc.failed", _("The BMC failed: %(detail)s"))
BMC_POLL_FAILED = message_define("bmc.poll_failed", _("Polling failed; see the worker's log."))
BMC_SECRET_UNREADABLE = message_define(
    "bmc.secret_unreadable", _("The stored BMC password cannot be decrypted.")
)

# A drain's worker.
DRAIN_WAITING_FOR_CLOUD = message_define(
    "drain.waiting_for_cloud",
    _("Waiting for the cloud, which cannot be reached right now; Kennel retries by itself."),
)
DRAIN_NO_COMPUTE_SERVICE = message_define(
    "drain.no_compute_service", _("The cloud has no compute service on this host.")
)
DRAIN_CLOUD_REFUSED = message_define("drain.cloud_refused", _("The cloud refused: %(detail)s"))
