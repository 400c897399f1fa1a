"""``/api/v1/security-rules/``: who may reach each team's VMs (the ingress rules of its project's default
security group, as a worker last listed them), and a lead's changes, which a worker carries out."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response

from onboarding.models import SecurityRule
from onboarding.security_rules import security_rule_add, security_rule_list, security_rule_remove
from portal import selectors
from portal.api.errors import api_validation_error
from portal.origin import origin
from portal.validators import validate_single_line


class SecurityRuleSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    description = serializers.CharField(
        source="describe", read_only=True, help_text=_("The rule in plain words.")
    )
    open_to_every_address = serializers.BooleanField(source="world", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SecurityRule
        fields = [
            "id",
            "team",
            "description",
            "protocol",
            "port_min",
            "port_max",
            "remote_cidr",
            "remote_group",
            "ethertype",
            "open_to_every_address",
            "state",
            "error",
            "requested_by",
            "cloud_id",
            "security_group_id",
            "changed_at",
            "seen_at",
        ]
        read_only_fields = fields  # an answer; SecurityRuleInputSerializer reads what a person sends


class SecurityRuleInputSerializer(serializers.Serializer):
    team = serializers.SlugField(help_text=_("The team's short name."))
    protocol = serializers.ChoiceField(choices=SecurityRule.Protocol.choices)
    port_min = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=65535,
        help_text=_("tcp and udp only; with neither port: every port."),
    )
    port_max = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=65535, help_text=_("Defaults to port_min.")
    )
    remote_cidr = serializers.CharField(
        max_length=64,
        validators=[validate_single_line],
        help_text=_("Who may connect, as a network (0.0.0.0/0: every address)."),
    )
    confirm_open = serializers.BooleanField(
        default=False, help_text=_("Admins only: confirm opening SSH to every address.")
    )


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("team", str, description="only this team's (its short name)")]
    )
)
class SecurityRuleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Who may reach the VMs of the user's teams (every team's, for managers and admins). POST adds a
    rule and DELETE removes one (team leads and admins): 202, a worker does it and ``state`` follows
    (adding, removing, then active or gone; failed with ``error``)."""

    serializer_class = SecurityRuleSerializer

    def get_queryset(self):
        queryset = security_rule_list(user=self.request.user)
        team = self.request.query_params.get("team")
        return queryset.filter(team__slug=team) if team else queryset

    @extend_schema(request=SecurityRuleInputSerializer, responses={202: SecurityRuleSerializer})
    def create(self, request):
        payload = SecurityRuleInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        team = selectors.team_list(user=request.user).filter(slug=data["team"]).first()
        if team is None:
            raise ApiValidationError({"team": [f"No team {data['team']!r} of yours."]})
        try:
            rule = security_rule_add(
                actor=request.user,
                team=team,
                protocol=data["protocol"],
                port_min=data.get("port_min"),
                port_max=data.get("port_max"),
                remote_cidr=data["remote_cidr"],
                confirm_open=data["confirm_open"],
                source=origin(request),
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(SecurityRuleSerializer(rule).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={202: SecurityRuleSerializer, 204: None})
    def destroy(self, request, pk=None):
        rule = self.get_object()
        try:
            removing = security_rule_remove(actor=request.user, rule=rule, source=origin(request))
        except ValidationError as error:
            raise api_validation_error(error) from error
        if removing is None:  # a failed add, dropped at once
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(SecurityRuleSerializer(removing).data, status=status.HTTP_202_ACCEPTED)
