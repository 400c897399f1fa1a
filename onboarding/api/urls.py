from django.urls import path

from onboarding.api import security_rules, views
from portal.api.routers import Router

router = Router()
router.register("onboardings", views.OnboardingViewSet, basename="onboarding")
router.register("security-rules", security_rules.SecurityRuleViewSet, basename="security-rule")
router.register("quota-templates", views.QuotaTemplateViewSet, basename="quota-template")
urlpatterns = [
    path(
        "onboardings/<slug:slug>/credentials/", views.CredentialsView.as_view(), name="onboarding-credentials"
    ),
    path(
        "onboardings/<slug:slug>/credentials/password/",
        views.CloudPasswordView.as_view(),
        name="onboarding-password",
    ),
    path(
        "onboardings/<slug:slug>/credentials/password/show/",
        views.CloudPasswordShowView.as_view(),
        name="onboarding-password-show",
    ),
    path("orphans/", views.OrphanCheckView.as_view(), name="orphans"),
    *router.urls,
]
