"""``/api/v1/volumes/``: the teams' volumes (Cinder). Asking for, attaching, detaching and deleting one
answers at once (201 or 202) and a worker does the work: poll the volume until ``busy`` is false."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response

from portal.access import restrict
from portal.api.errors import api_validation_error
from portal.inputs import INTEGER_MAX
from portal.models import Team
from portal.origin import origin
from portal.validators import validate_single_line
from provisioning.models import VmRequest, Volume
from provisioning.services import volumes as service


class VolumeSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    vm_name = serializers.CharField(source="vm.name", read_only=True, default=None)
    busy = serializers.BooleanField(read_only=True, help_text=_("True while a worker follows the cloud."))
    message = serializers.CharField(
        source="message_text", read_only=True, help_text=_("Why the last step failed, in your language.")
    )

    class Meta:
        model = Volume
        fields = [
            "id", "name", "team", "owner", "size_gb", "status", "busy", "vm", "vm_name", "device",
            "volume_id", "message", "created_at", "updated_at",
        ]  # fmt: skip


class VolumeInputSerializer(serializers.Serializer):
    team = serializers.CharField(
        max_length=50, validators=[validate_single_line], help_text=_("The team's short name.")
    )
    name = serializers.CharField(max_length=63, validators=[validate_single_line])
    size_gb = serializers.IntegerField(min_value=1, max_value=settings.KENNEL_VOLUME_MAX_GB)


class VolumeAttachInputSerializer(serializers.Serializer):
    vm = serializers.IntegerField(min_value=1, max_value=INTEGER_MAX, help_text=_("The VM's id."))


@extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("team", str, description="only this team's (its short name)")]
    )
)
class VolumeViewSet(viewsets.GenericViewSet):
    """Volumes of the user's teams (every team's for managers and admins). The owner, the team's leads
    and admins attach, detach and delete them; any member asks for one for the team."""

    serializer_class = VolumeSerializer

    def get_queryset(self):
        queryset = service.volume_list(user=self.request.user)
        team = self.request.query_params.get("team")
        return queryset.filter(team__slug=team) if team else queryset

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(VolumeSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(VolumeSerializer(self.get_object()).data)

    @extend_schema(request=VolumeInputSerializer, responses={201: VolumeSerializer})
    def create(self, request):
        """Ask for an empty volume for a team: 201 at once, then ``queued`` → ``creating`` →
        ``available`` (or ``failed`` with the cloud's reason). 400 names a bad field or a full quota."""
        payload = VolumeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        team = restrict(request.user, Team.objects.all()).filter(slug=data["team"]).first()
        if team is None:
            raise ApiValidationError({"team": [f"No such team: {data['team']!r}."]})
        try:
            volume = service.volume_request(
                actor=request.user,
                team=team,
                name=data["name"],
                size_gb=data["size_gb"],
                source=origin(request),
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        except PermissionDenied:
            raise ApiValidationError({"team": [f"You may not ask for volumes for {team.slug}."]}) from None
        return Response(VolumeSerializer(volume).data, status=status.HTTP_201_CREATED)

    def _accepted(self, change) -> Response:
        volume = self.get_object()
        try:
            volume = change(volume)
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(VolumeSerializer(volume).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: VolumeSerializer})
    def destroy(self, request, pk=None):
        """Delete a volume that is not attached; its data is gone for good."""
        return self._accepted(
            lambda v: service.volume_delete_request(actor=request.user, volume=v, source=origin(request))
        )

    @extend_schema(request=VolumeAttachInputSerializer, responses={202: VolumeSerializer})
    @action(detail=True, methods=["post"])
    def attach(self, request, pk=None):
        """Attach an available volume to a running VM of its team."""
        payload = VolumeAttachInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        vm = restrict(request.user, VmRequest.objects.all()).filter(pk=payload.validated_data["vm"]).first()
        if vm is None:
            raise ApiValidationError({"vm": [f"No such VM: {payload.validated_data['vm']}."]})
        return self._accepted(
            lambda v: service.volume_attach_request(
                actor=request.user, volume=v, vm=vm, source=origin(request)
            )
        )

    @extend_schema(request=None, responses={202: VolumeSerializer})
    @action(detail=True, methods=["post"])
    def detach(self, request, pk=None):
        """Detach an attached volume from its VM."""
        return self._accepted(
            lambda v: service.volume_detach_request(actor=request.user, volume=v, source=origin(request))
        )
