from django.urls import path

from onboarding import security_rule_views, views

app_name = "onboarding"
urlpatterns = [
    path("", views.onboarding_list, name="list"),
    path("new/", views.team_onboard, name="new"),
    path("templates/", views.quota_template_list, name="templates"),
    path("templates/new/", views.quota_template_edit, name="template-new"),
    path("templates/<int:pk>/", views.quota_template_edit, name="template-edit"),
    path("templates/<int:pk>/delete/", views.quota_template_delete, name="template-delete"),
    path("orphans/", views.orphans, name="orphans"),
    path("teams/<slug:slug>/", views.onboarding_team, name="team"),
    path("teams/<slug:slug>/retry/", views.onboarding_retry, name="retry"),
    path("teams/<slug:slug>/again/", views.onboarding_run_again, name="again"),
    path("teams/<slug:slug>/offboard/", views.team_offboard, name="offboard"),
    path("teams/<slug:slug>/members/", views.team_members, name="members"),
    path("teams/<slug:slug>/members/<int:user_id>/remove/", views.team_member_remove, name="member-remove"),
    path("teams/<slug:slug>/security-rules/", security_rule_views.security_rules, name="security-rules"),
    path(
        "security-rules/<int:pk>/remove/",
        security_rule_views.security_rule_delete,
        name="security-rule-remove",
    ),
    path("teams/<slug:slug>/cloud/", views.cloud_credentials, name="credentials"),
    path("teams/<slug:slug>/cloud/clouds.yaml", views.cloud_credentials_yaml, name="clouds-yaml"),
    path("teams/<slug:slug>/cloud/openrc.sh", views.cloud_credentials_openrc, name="openrc"),
    path("teams/<slug:slug>/cloud/password/", views.cloud_password_reset, name="password-reset"),
    path("teams/<slug:slug>/cloud/password/show/", views.cloud_password_reveal, name="password-reveal"),
]
