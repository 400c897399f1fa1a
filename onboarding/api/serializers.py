"""The onboarding API's shapes: chains with their steps, the inputs of each action, templates and a
member's credentials (which hold no password)."""

from __future__ import annotations

from rest_framework import serializers

from onboarding.models import CloudAccount, Onboarding, OnboardingStep, OrphanCheck, QuotaTemplate
from portal.models import Membership
from portal.validators import validate_single_line, validate_text
from quotas.dimensions import QUOTA_VALUE_MAX


class OnboardingStepSerializer(serializers.ModelSerializer):
    message = serializers.CharField(source="message_text", read_only=True)

    class Meta:
        model = OnboardingStep
        fields = ["phase", "name", "status", "resources", "message", "started_at", "finished_at"]


class OnboardingSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True)
    project_id = serializers.CharField(source="team.openstack_project_id", read_only=True)
    quota_template = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    steps = serializers.SerializerMethodField()
    message = serializers.CharField(source="message_text", read_only=True)
    roles_message = serializers.CharField(source="roles_message_text", read_only=True)

    class Meta:
        model = Onboarding
        fields = [
            "team",
            "team_name",
            "project_id",
            "state",
            "message",
            "quota_template",
            "quota_values",
            "requested_by",
            "steps",
            "roles_synced_at",
            "roles_message",
            "created_at",
            "updated_at",
            "finished_at",
        ]

    def get_steps(self, onboarding: Onboarding) -> list[dict]:
        steps = onboarding.steps.filter(phase=onboarding.phase).order_by("position")
        return OnboardingStepSerializer(steps, many=True).data


class OnboardInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[validate_single_line])
    slug = serializers.SlugField(max_length=48)
    description = serializers.CharField(
        required=False, allow_blank=True, default="", validators=[validate_text]
    )
    members = serializers.ListField(
        child=serializers.CharField(validators=[validate_single_line]), required=False, default=list
    )
    leads = serializers.ListField(
        child=serializers.CharField(validators=[validate_single_line]), required=False, default=list
    )
    quota_template = serializers.CharField(
        required=False, allow_null=True, default=None, validators=[validate_single_line]
    )


class OffboardInputSerializer(serializers.Serializer):
    confirm = serializers.CharField(
        help_text="The team's short name, typed to confirm (its VMs are deleted).",
        validators=[validate_single_line],
    )


class MemberInputSerializer(serializers.Serializer):
    username = serializers.CharField(validators=[validate_single_line])
    level = serializers.ChoiceField(choices=Membership.Level.choices, default=Membership.Level.MEMBER)


class MemberRemoveInputSerializer(serializers.Serializer):
    username = serializers.CharField(validators=[validate_single_line])


class QuotaTemplateSerializer(serializers.ModelSerializer):
    values = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=QUOTA_VALUE_MAX),
        help_text='limits by dimension, e.g. {"instances": 5, "cores": 12}',
    )

    class Meta:
        model = QuotaTemplate
        fields = ["id", "name", "description", "values", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class CredentialsSerializer(serializers.Serializer):
    cloud_name = serializers.CharField()
    username = serializers.CharField(source="account.keystone_name")
    project_id = serializers.CharField()
    auth_url = serializers.CharField()
    region_name = serializers.CharField()
    clouds_yaml = serializers.SerializerMethodField()
    openrc = serializers.SerializerMethodField()

    def get_clouds_yaml(self, credentials) -> str:
        return credentials.clouds_yaml()

    def get_openrc(self, credentials) -> str:
        return credentials.openrc()


class OrphanCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrphanCheck
        fields = ["id", "state", "findings", "message", "created_at", "finished_at"]


class CloudPasswordStateSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="keystone_name")
    state = serializers.ChoiceField(source="password_state", choices=CloudAccount.Password.choices)
    message = serializers.CharField(source="password_message_text")

    class Meta:
        model = CloudAccount
        fields = ["username", "state", "message", "created_by_kennel"]


class CloudPasswordSerializer(serializers.Serializer):
    password = serializers.CharField()
