from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import api_view
from rest_framework.response import Response

from portal import selectors, services
from portal.access import restrict
from portal.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    AuditEventSerializer,
    MeSerializer,
    TeamSerializer,
)
from portal.filtersets import AuditEventFilterSet
from portal.models import ApiToken
from portal.origin import origin


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request):
    """The signed-in user, their portal role and their teams."""
    return Response(MeSerializer(request.user).data)


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    """Teams the user may see: their own, or all for managers and admins."""

    serializer_class = TeamSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return selectors.team_list(user=self.request.user).prefetch_related("memberships__user")


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log: all of it for managers and admins, a developer's own entries otherwise."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilterSet

    def get_queryset(self):
        return selectors.audit_event_list(user=self.request.user).select_related("team")


class ApiTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The user's own API tokens. Creating one returns its key once; deleting revokes it."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        return restrict(self.request.user, ApiToken.objects.all())

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        payload = ApiTokenCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        token, key = services.api_token_create(
            user=request.user, source=origin(request), **payload.validated_data
        )
        token.key = key
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.api_token_revoke(actor=self.request.user, token=instance, source=origin(self.request))
