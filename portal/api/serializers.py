from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from portal.models import ApiToken, AuditEvent, Membership, Role, Team, User
from portal.validators import validate_single_line


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "level"]


class TeamSerializer(serializers.ModelSerializer):
    members = MembershipSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "slug", "name", "description", "openstack_project_id", "created_at", "members"]


class CurrentTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "expires_at", "read_only"]


class MeSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="portal_role", read_only=True)
    teams = serializers.SerializerMethodField()
    token = serializers.SerializerMethodField(
        help_text=_("The API token this request was made with (null when signed in otherwise).")
    )

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "role", "teams", "token"]

    @extend_schema_field(CurrentTokenSerializer(allow_null=True))
    def get_token(self, user) -> dict | None:
        token = self.context.get("token")
        return CurrentTokenSerializer(token).data if isinstance(token, ApiToken) else None

    def get_teams(self, user) -> list[dict]:
        return [
            {"slug": m.team.slug, "name": m.team.name, "level": m.level}
            for m in user.memberships.select_related("team")
        ]


class AuditEventSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "team",
            "source",
            "outcome",
            "detail",
        ]


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "expires_at", "read_only"]


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[validate_single_line])
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text=_("Sooner than the default lifetime if given; null or absent: the default lifetime."),
    )
    read_only = serializers.BooleanField(
        default=False, help_text=_("A read-only token may only read: any change gets 403.")
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text=_("Shown once; store it now."))

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


class LoginInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[validate_single_line])
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    name = serializers.CharField(
        max_length=100,
        default="kennel CLI",
        help_text=_("A name for the new token, e.g. the machine."),
        validators=[validate_single_line],
    )
    read_only = serializers.BooleanField(
        default=False, help_text=_("A read-only token may only read: any change gets 403.")
    )


class LoginTokenSerializer(ApiTokenCreatedSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta(ApiTokenCreatedSerializer.Meta):
        fields = [*ApiTokenCreatedSerializer.Meta.fields, "username"]


class PersonSerializer(serializers.ModelSerializer):
    # The role that applies: a superuser is an admin, whatever was stored before.
    role = serializers.ChoiceField(source="portal_role", choices=Role.choices, read_only=True)
    teams = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "role",
            "is_superuser",
            "is_active",
            "last_login",
            "teams",
        ]
        read_only_fields = fields

    def get_teams(self, user) -> list[dict[str, str]]:
        return [{"team": m.team.slug, "level": m.level} for m in user.memberships.all()]


class PersonAddSerializer(serializers.Serializer):
    username = serializers.CharField(
        max_length=150, validators=[validate_single_line, UnicodeUsernameValidator()]
    )
    email = serializers.EmailField(help_text=_("The first sign-in link goes here."))
    role = serializers.ChoiceField(choices=Role.choices, default=Role.DEVELOPER)
    first_name = serializers.CharField(
        max_length=150, required=False, default="", allow_blank=True, validators=[validate_single_line]
    )
    last_name = serializers.CharField(
        max_length=150, required=False, default="", allow_blank=True, validators=[validate_single_line]
    )


class PersonChangeSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = serializers.BooleanField(required=False)

    def validate(self, data):
        if not data:
            raise serializers.ValidationError("Give a role, is_active, or both.")
        return data
