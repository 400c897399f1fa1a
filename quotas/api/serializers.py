from __future__ import annotations

from rest_framework import serializers

from portal.access import restrict
from portal.models import Team
from portal.validators import validate_text
from quotas.models import QuotaRequest, QuotaRequestEvent


class QuotaLineSerializer(serializers.Serializer):
    key = serializers.CharField(source="dimension.key")
    label = serializers.CharField(source="dimension.label")
    unit = serializers.CharField(source="dimension.unit")
    enforced_by = serializers.SerializerMethodField()
    quota = serializers.IntegerField(source="limit", allow_null=True, help_text="null: unlimited")
    used = serializers.IntegerField()
    cloud_used = serializers.IntegerField(
        allow_null=True, help_text="the cloud's own count, where it keeps one"
    )
    pending = serializers.IntegerField(
        source="requested", allow_null=True, help_text="asked in open requests"
    )
    remaining = serializers.IntegerField(allow_null=True)

    def get_enforced_by(self, line) -> str:
        return "cloud" if line.dimension.enforced_by_cloud else "portal"


class TeamQuotaSerializer(serializers.Serializer):
    team = serializers.CharField(source="team.slug")
    name = serializers.CharField(source="team.name")
    synced_at = serializers.DateTimeField(allow_null=True)
    dimensions = QuotaLineSerializer(source="lines", many=True)


class QuotaRequestEventSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    message = serializers.CharField(source="text")

    class Meta:
        model = QuotaRequestEvent
        fields = ["at", "actor", "status", "message"]


class QuotaRequestSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    events = QuotaRequestEventSerializer(many=True, read_only=True)

    class Meta:
        model = QuotaRequest
        fields = [
            "id",
            "team",
            "requested_by",
            "reason",
            "values",
            "previous",
            "approved_values",
            "status",
            "auto_approved",
            "decided_by",
            "decided_at",
            "decision_comment",
            "results",
            "error",
            "created_at",
            "updated_at",
            "events",
        ]


class QuotaRequestInputSerializer(serializers.Serializer):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.none())
    values = serializers.DictField(
        child=serializers.JSONField(), help_text='e.g. {"cores": 64, "cores:ppc64le": 16}'
    )
    reason = serializers.CharField(validators=[validate_text])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the teams the user may see: another team's slug is "does not exist", like a 404. (No
        # request when the OpenAPI schema is generated.)
        request = self.context.get("request")
        if request is not None:
            self.fields["team"].queryset = restrict(request.user, Team.objects.all())


class QuotaApproveInputSerializer(serializers.Serializer):
    values = serializers.DictField(
        child=serializers.JSONField(), required=False, help_text="edited values; omit to approve as asked"
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="", validators=[validate_text])


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(validators=[validate_text])


class QuestionInputSerializer(serializers.Serializer):
    question = serializers.CharField(validators=[validate_text])


class AnswerInputSerializer(serializers.Serializer):
    answer = serializers.CharField(validators=[validate_text])
