"""``/api/v1/floating-ips/``: the floating IPs of the teams' projects, from the mirror a worker refreshes
every minute, and their release by a team lead."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api.errors import api_validation_error
from portal.origin import origin
from provisioning.floating_ips import floating_ip_list, floating_ip_release_request
from provisioning.models import CloudFloatingIp


class FloatingIpSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    vm_name = serializers.CharField(source="vm.name", read_only=True, default=None)
    unused = serializers.BooleanField(read_only=True, help_text=_("True when attached to nothing (no port)."))
    attached_to = serializers.SerializerMethodField(
        help_text=_("The VM's name, a server Kennel did not make, or null when unused.")
    )

    class Meta:
        model = CloudFloatingIp
        fields = [
            "id",
            "address",
            "team",
            "project_id",
            "unused",
            "attached_to",
            "vm",
            "vm_name",
            "server_id",
            "port_id",
            "release",
            "release_error",
            "seen_at",
        ]

    def get_attached_to(self, fip: CloudFloatingIp) -> str | None:
        if fip.vm is not None:
            return fip.vm.name
        return fip.server_name or fip.server_id or fip.port_id or None


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("team", str, description="only this team's (its short name)")]
    )
)
class FloatingIpViewSet(viewsets.ReadOnlyModelViewSet):
    """Floating IPs of the projects of the user's teams (all, for managers and admins), as Neutron
    listed them at ``seen_at``. POST …/release/ releases an unused one (team leads and admins)."""

    serializer_class = FloatingIpSerializer

    def get_queryset(self):
        queryset = floating_ip_list(user=self.request.user)
        team = self.request.query_params.get("team")
        return queryset.filter(team__slug=team) if team else queryset

    @extend_schema(request=None, responses={202: FloatingIpSerializer})
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        """Release an unused floating IP of the team's project; a worker does it and the address
        disappears from this list (and from the team's quota usage) once Neutron no longer holds it."""
        fip = self.get_object()
        try:
            fip = floating_ip_release_request(actor=request.user, fip=fip, source=origin(request))
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(FloatingIpSerializer(fip).data, status=status.HTTP_202_ACCEPTED)
