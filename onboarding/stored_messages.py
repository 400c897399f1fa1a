"""What an onboarding's chain says on its row and its steps (waiting, refused, failed), stored as
catalogue ids (``portal.stored_messages``) and shown in the reader's language. An id keeps its meaning
for good: reword the template, never reuse it."""

from django.utils.translation import gettext_lazy as _

from onboarding.models import OnboardingStep
from portal.stored_messages import message_define

# The steps' names, as parameters of the messages below.
STEP_NAMES = {
    value: message_define(f"onboarding.step.{value}", label) for value, label in OnboardingStep.Name.choices
}

# The chain.
RETRY_ASKED = message_define("onboarding.retry_asked", _("Retry asked by %(user)s."))
OFFBOARD_ASKED = message_define("onboarding.offboard_asked", _("Offboarding asked by %(user)s."))
WAITING_FOR_CLOUD = message_define(
    "onboarding.waiting_for_cloud",
    _("Waiting for the cloud, which cannot be reached; Kennel retries by itself. (%(e)s)"),
)
STEP_FAILED = message_define("onboarding.step_failed", _("%(step)s failed: %(reason)s"))
CLOUD_REFUSED = message_define(
    "onboarding.cloud_refused",
    _("The cloud refused: %(reason)s Fix the cause, then Retry: the steps done are skipped."),
)
# A reason as it came (a check's words, or what the worker saw when it gave up), translated inside.
REFUSED = message_define("onboarding.refused", _("%(reason)s"))
PERMISSION_DENIED = message_define("onboarding.permission_denied", _("permission denied"))

# A step that waits, or cannot succeed as things are.
NO_RESOURCE = message_define(
    "onboarding.no_resource", _("The %(step)s step has no %(key)s recorded; run the chain again.")
)
PROJECT_NAME_TAKEN = message_define(
    "onboarding.project_name_taken",
    _(
        "The cloud already has a project named %(name)s that Kennel did not make. Give the "
        "team another short name (offboard this one and onboard again), or link the "
        "existing project to a team instead."
    ),
)
NO_EXTERNAL_NETWORK = message_define(
    "onboarding.no_external_network",
    _(
        "The cloud has no external network named %(name)s. An administrator of the Kennel server "
        "sets, in its settings, the network floating IPs come from and restarts the workers; then "
        "Retry."
    ),
)
ROUTER_WITHOUT_GATEWAY = message_define(
    "onboarding.router_without_gateway",
    _(
        "Router %(router)s has no gateway on %(network)s. Delete the router in the cloud, then "
        "Retry: Kennel makes a new one."
    ),
)
NO_DEFAULT_SECURITY_GROUP = message_define(
    "onboarding.no_default_security_group",
    _("Neutron made no default security group for the project; Retry."),
)
QUOTA_CHANGE_WAITING = message_define(
    "onboarding.quota_change_waiting", _("Another quota change of the team is being applied; waiting for it.")
)
QUOTA_REQUEST_NOT_APPLIED = message_define(
    "onboarding.quota_request_not_applied",
    _("Quota request #%(id)s is %(status)s: %(error)s Look at the request, fix the cause, then Retry."),
)
VMS_BEING_DELETED = message_define(
    "onboarding.vms_being_deleted", _("Waiting for %(count)s VMs to be deleted: %(names)s.")
)
PROJECT_NOT_EMPTY = message_define(
    "onboarding.project_not_empty",
    _(
        "The project still holds what Kennel did not remove: %(left)s. Retry removes what was made "
        "since; delete in the cloud what Kennel cannot (it may belong to something Kennel does "
        "not manage), then Retry."
    ),
)
SUBNET_POOL_USED_UP = message_define(
    "onboarding.subnet_pool_used_up",
    _(
        "The subnet pool %(pool)s is used up: %(teams)s ranges are teams' and %(cloud)s overlap "
        "subnets the cloud has. An administrator of the Kennel server widens the teams' subnet pool "
        "in its settings (or offboards a team); then Retry."
    ),
)
SUBNET_ALLOCATION_FAILED = message_define(
    "onboarding.subnet_allocation_failed", _("Could not allocate a subnet range after three attempts; Retry.")
)
CLOUD_USER_NAME_TAKEN = message_define(
    "onboarding.cloud_user_name_taken",
    _(
        "Portal user %(user)s has the name of the portal's own cloud user; Kennel will not hand that "
        "account to a person. Remove %(user)s from the team (or rename the portal user), then Retry."
    ),
)
NO_PROJECT_YET = message_define("onboarding.no_project_yet", _("Team %(team)s has no cloud project yet."))

# After onboarding: members' roles kept in step with the team, and passwords set on request.
ROLES_CLOUD_AWAY = message_define(
    "onboarding.roles_cloud_away", _("The cloud stayed unreachable while updating roles: %(e)s")
)
PASSWORD_NOT_SET = message_define(
    "onboarding.password_not_set", _("The password could not be set: %(e)s Ask for a new one.")
)
