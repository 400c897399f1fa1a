from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = _("Team onboarding")

    def ready(self) -> None:
        from onboarding import access  # noqa: F401  (registers the scoping rules)
