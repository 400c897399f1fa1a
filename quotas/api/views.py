"""Quota endpoints, scoped like the pages. Reads go through selectors; every write calls a service."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api.errors import api_validation_error
from portal.models import Team
from portal.origin import origin
from portal.selectors import team_list
from quotas import selectors, services
from quotas.api.serializers import (
    AnswerInputSerializer,
    QuestionInputSerializer,
    QuotaApproveInputSerializer,
    QuotaRequestInputSerializer,
    QuotaRequestSerializer,
    ReasonInputSerializer,
    TeamQuotaSerializer,
)
from quotas.filtersets import QuotaRequestFilterSet

# A refusal of one dimension goes under ``values``, as a nested serializer's would; these stay on top.
_REQUEST_FIELDS = ("reason", "question", "answer")


class QuotaViewSet(viewsets.GenericViewSet):
    """Each team's quota: per dimension the limit, what is used (counted now), what is asked in open
    requests and what remains. Developers see their teams; managers and admins all."""

    lookup_field = "slug"
    serializer_class = TeamQuotaSerializer

    def get_queryset(self):
        sort = self.request.query_params.get("sort", "name")
        if sort not in selectors.QUOTA_OVERVIEW_SORTS:
            raise serializers.ValidationError(
                {"sort": [f"one of {', '.join(selectors.QUOTA_OVERVIEW_SORTS)}"]}
            )
        return selectors.quota_overview_teams(
            user=self.request.user, sort=sort, search=self.request.query_params.get("q", "")[:100]
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "sort",
                str,
                enum=list(selectors.QUOTA_OVERVIEW_SORTS),
                description="name (the default), or a dimension: the fullest teams first",
            ),
            OpenApiParameter("q", str, description="the team's name or short name contains this"),
        ],
        responses=TeamQuotaSerializer(many=True),
    )
    def list(self, request):
        """50 teams a page (``?page=``; a page past the last is a 404), in the overview page's order."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            TeamQuotaSerializer(selectors.quota_tables(page or []), many=True).data
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("slug", str, OpenApiParameter.PATH, description="the team's short name")
        ],
        responses=TeamQuotaSerializer,
    )
    def retrieve(self, request, slug: str):
        team = get_object_or_404(team_list(user=request.user), slug=slug)
        return Response(TeamQuotaSerializer(selectors.team_quota_table(team)).data)


class QuotaRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Quota requests the user may see. POST asks for new limits; admins approve (optionally with edited
    values), reject or ask; the requester answers or cancels; admins retry a failed apply."""

    serializer_class = QuotaRequestSerializer
    filterset_class = QuotaRequestFilterSet

    def get_queryset(self):
        return selectors.quota_request_list(user=self.request.user).prefetch_related("events__actor")

    @extend_schema(request=QuotaRequestInputSerializer, responses={201: QuotaRequestSerializer})
    def create(self, request):
        data = QuotaRequestInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        team: Team = data.validated_data["team"]
        try:
            created = services.quota_request_submit(
                actor=request.user,
                team=team,
                values=data.validated_data["values"],
                reason=data.validated_data["reason"],
                source=origin(request),
            )
        except ValidationError as error:
            raise api_validation_error(error, nest_under="values", top_level=_REQUEST_FIELDS) from error
        except PermissionDenied as error:
            return Response({"detail": str(error)}, status=status.HTTP_403_FORBIDDEN)
        return Response(self._fresh(created.pk), status=status.HTTP_201_CREATED)

    def _fresh(self, pk: int) -> dict:
        return QuotaRequestSerializer(self.get_queryset().get(pk=pk)).data

    def _act(self, request, service, inputs: type[serializers.Serializer] | None = None) -> Response:
        """Run ``service`` on the request named in the URL, with the validated ``inputs`` (whose field
        names are the service's keyword arguments)."""
        quota_request = self.get_object()
        arguments = {}
        if inputs is not None:
            data = inputs(data=request.data)
            data.is_valid(raise_exception=True)
            arguments = dict(data.validated_data)
        try:
            service(actor=request.user, request=quota_request, source=origin(request), **arguments)
        except ValidationError as error:
            raise api_validation_error(error, nest_under="values", top_level=_REQUEST_FIELDS) from error
        except PermissionDenied:
            return Response(
                {"detail": "You may not do this to this request."}, status=status.HTTP_403_FORBIDDEN
            )
        return Response(self._fresh(quota_request.pk))

    @extend_schema(request=QuotaApproveInputSerializer, responses=QuotaRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._act(request, services.quota_request_approve, QuotaApproveInputSerializer)

    @extend_schema(request=ReasonInputSerializer, responses=QuotaRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._act(request, services.quota_request_reject, ReasonInputSerializer)

    @extend_schema(request=QuestionInputSerializer, responses=QuotaRequestSerializer)
    @action(detail=True, methods=["post"])
    def ask(self, request, pk=None):
        return self._act(request, services.quota_request_ask, QuestionInputSerializer)

    @extend_schema(request=AnswerInputSerializer, responses=QuotaRequestSerializer)
    @action(detail=True, methods=["post"])
    def answer(self, request, pk=None):
        return self._act(request, services.quota_request_answer, AnswerInputSerializer)

    @extend_schema(request=None, responses=QuotaRequestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._act(request, services.quota_request_cancel)

    @extend_schema(request=None, responses=QuotaRequestSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._act(request, services.quota_request_retry)
