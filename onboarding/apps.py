from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = _("Team onboarding")

    def ready(self) -> None:
        from onboarding import access  # noqa: F401  (registers the scoping rules)
        from onboarding.services import team_roles_sync_enqueue
        from portal.hooks import Event, hook_register

        # The core's people and memberships changed: bring the cloud projects' roles up to date.
        hook_register(Event.TEAM_ROLES_CHANGED, team_roles_sync_enqueue)
