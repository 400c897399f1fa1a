"""Blueprint and service endpoints. Reads go through selectors; every write calls a service."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response

from blueprints import selectors, services
from blueprints.api.serializers import (
    BlueprintImportSerializer,
    BlueprintSerializer,
    BlueprintVersionDetailSerializer,
    ServiceDeploySerializer,
    ServiceDetailSerializer,
    ServiceScaleSerializer,
    ServiceSerializer,
    ServiceUpgradeSerializer,
)
from portal.access import Action
from portal.api.errors import api_validation_error
from portal.models import User
from portal.origin import origin
from portal.selectors import team_list


def _team(user, slug):
    team = team_list(user=user).filter(slug=slug).first()
    if team is None:
        raise ApiValidationError({"team": [f"No team {slug!r} of yours."]})
    return team


class BlueprintViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Blueprints the user may see (global ones and their teams'), with their versions.
    POST …/import/ stores a YAML document as the next version."""

    serializer_class = BlueprintSerializer

    def get_queryset(self):
        return selectors.blueprint_list(user=self.request.user)

    @extend_schema(request=BlueprintImportSerializer, responses={201: BlueprintVersionDetailSerializer})
    @action(detail=False, methods=["post"], url_path="import")
    def import_document(self, request):
        payload = BlueprintImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        team = _team(request.user, data["team"]) if data.get("team") else None
        try:
            version = services.blueprint_import(
                actor=request.user,
                team=team,
                text=data["document"],
                note=data.get("note", ""),
                source=origin(request),
            )
        except PermissionDenied:
            raise
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(BlueprintVersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


class BlueprintVersionViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One version: its recipe; …/export/ gives it as a YAML document."""

    serializer_class = BlueprintVersionDetailSerializer

    def get_queryset(self):
        return selectors.blueprint_version_list(user=self.request.user)

    @extend_schema(responses={(200, "application/yaml"): OpenApiResponse(description="the YAML document")})
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        version = self.get_object()
        text = services.blueprint_version_export(actor=request.user, version=version)
        return HttpResponse(text, content_type="application/yaml; charset=utf-8")


class ServiceViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Team services the user may see, with their VMs and version. POST deploys one; DELETE deletes it
    with its VMs; POST …/scale/, …/upgrade/, …/rollback/, …/retry/ change it (202: a worker does it)."""

    serializer_class = ServiceSerializer

    def get_queryset(self):
        return selectors.service_list(user=self.request.user)

    def get_serializer_class(self):
        # One service also says who reaches its ports (a query the list does not make per service).
        return ServiceDetailSerializer if self.action == "retrieve" else ServiceSerializer

    def _accepted(self, act) -> Response:
        try:
            service = act()
        except ValidationError as error:
            raise api_validation_error(error) from error
        fresh = selectors.service_list(user=self.request.user).get(pk=service.pk)
        return Response(ServiceSerializer(fresh).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ServiceDeploySerializer, responses={202: ServiceSerializer})
    def create(self, request):
        payload = ServiceDeploySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        team = _team(request.user, data["team"])
        version = (
            selectors.blueprint_version_list(user=request.user).filter(pk=data["blueprint_version"]).first()
        )
        if version is None:
            raise ApiValidationError({"blueprint_version": ["No such blueprint version."]})
        maintainers = list(User.objects.filter(username__in=data["maintainers"], memberships__team=team))
        if len(maintainers) != len(set(data["maintainers"])):
            raise ApiValidationError({"maintainers": ["Maintainers must be members of the team."]})
        return self._accepted(
            lambda: services.service_deploy(
                actor=request.user,
                team=team,
                version=version,
                name=data["name"],
                parameters=data["parameters"],
                counts=data["counts"],
                maintainers=maintainers,
                source=origin(request),
            )
        )

    def _operable(self, pk, action_: Action):
        service = selectors.service_list(user=self.request.user).filter(pk=pk).first()
        if service is None:
            raise Http404
        return service

    @extend_schema(request=None, responses={202: ServiceSerializer})
    def destroy(self, request, pk=None):
        service = self._operable(pk, Action.DELETE)
        return self._accepted(
            lambda: services.service_delete(actor=request.user, service=service, source=origin(request))
        )

    @extend_schema(request=ServiceScaleSerializer, responses={202: ServiceSerializer})
    @action(detail=True, methods=["post"])
    def scale(self, request, pk=None):
        service = self._operable(pk, Action.OPERATE)
        payload = ServiceScaleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        counts = payload.validated_data["counts"]
        return self._accepted(
            lambda: services.service_scale(
                actor=request.user, service=service, counts=counts, source=origin(request)
            )
        )

    @extend_schema(request=ServiceUpgradeSerializer, responses={202: ServiceSerializer})
    @action(detail=True, methods=["post"])
    def upgrade(self, request, pk=None):
        service = self._operable(pk, Action.OPERATE)
        payload = ServiceUpgradeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = (
            selectors.blueprint_version_list(user=request.user)
            .filter(pk=payload.validated_data["blueprint_version"], blueprint=service.blueprint)
            .first()
        )
        if version is None:
            raise ApiValidationError({"blueprint_version": ["No such version of this service's blueprint."]})
        return self._accepted(
            lambda: services.service_upgrade(
                actor=request.user, service=service, version=version, source=origin(request)
            )
        )

    @extend_schema(request=None, responses={202: ServiceSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        service = self._operable(pk, Action.OPERATE)
        return self._accepted(
            lambda: services.service_rollback(actor=request.user, service=service, source=origin(request))
        )

    @extend_schema(request=None, responses={202: ServiceSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        service = self._operable(pk, Action.OPERATE)
        return self._accepted(
            lambda: services.service_retry(actor=request.user, service=service, source=origin(request))
        )
