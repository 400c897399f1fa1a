from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from portal import selectors, services
from portal.access import restrict
from portal.api.errors import api_validation_error
from portal.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    AuditEventSerializer,
    LoginInputSerializer,
    LoginTokenSerializer,
    MeSerializer,
    PersonAddSerializer,
    PersonChangeSerializer,
    PersonSerializer,
    TeamSerializer,
)
from portal.filtersets import AuditEventFilterSet, PersonFilterSet
from portal.models import ApiToken
from portal.origin import origin


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
def me(request):
    """The signed-in user, their portal role and their teams, and the API token in use (its expiry
    and scope, which `kennel whoami` shows)."""
    return Response(MeSerializer(request.user, context={"token": request.auth}).data)


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    """Teams the user may see: their own, or all for managers and admins."""

    serializer_class = TeamSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return selectors.team_list(user=self.request.user).prefetch_related("memberships__user")


class PersonViewSet(viewsets.ReadOnlyModelViewSet):
    """People with their portal role, teams and whether they may sign in (managers and admins; others see
    themselves and their teammates). PATCH, for admins, sets the role and/or ``is_active``, like the
    People page."""

    serializer_class = PersonSerializer
    filterset_class = PersonFilterSet

    def get_queryset(self):
        return selectors.people_list(user=self.request.user)

    @extend_schema(request=PersonAddSerializer, responses={201: PersonSerializer})
    def create(self, request):
        """Admins add a person (a local account, no password) and a first sign-in link goes to them by
        mail: a one-time link that expires (PASSWORD_RESET_TIMEOUT)."""
        data = PersonAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            person = services.person_add(actor=request.user, source=origin(request), **data.validated_data)
        except DjangoPermissionDenied:
            return Response({"detail": _("Only admins add people.")}, status=status.HTTP_403_FORBIDDEN)
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(PersonSerializer(person).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"], url_path="sign-in-link")
    def sign_in_link(self, request, pk=None):
        """Admins send a person a new sign-in link (the first one was lost or expired)."""
        person = self.get_object()
        try:
            services.person_sign_in_link_send(actor=request.user, user=person, source=origin(request))
        except DjangoPermissionDenied:
            return Response({"detail": _("Only admins add people.")}, status=status.HTTP_403_FORBIDDEN)
        except ValidationError as error:
            return Response({"detail": " ".join(error.messages)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=PersonChangeSerializer, responses=PersonSerializer)
    def partial_update(self, request, pk=None):
        person = self.get_object()
        data = PersonChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                if "role" in data.validated_data:
                    services.user_set_role(
                        actor=request.user,
                        user=person,
                        role=data.validated_data["role"],
                        source=origin(request),
                    )
                if "is_active" in data.validated_data:
                    services.user_set_active(
                        actor=request.user,
                        user=person,
                        active=data.validated_data["is_active"],
                        source=origin(request),
                    )
        except DjangoPermissionDenied:
            return Response({"detail": _("Only admins change people.")}, status=status.HTTP_403_FORBIDDEN)
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(PersonSerializer(self.get_queryset().get(pk=person.pk)).data)


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
        try:
            token, key = services.api_token_create(
                user=request.user, source=origin(request), **payload.validated_data
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        token.key = key  # type: ignore[attr-defined]  # shown once, in this answer only; never stored
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.api_token_revoke(actor=self.request.user, token=instance, source=origin(self.request))


@extend_schema(
    request=LoginInputSerializer,
    responses={
        201: LoginTokenSerializer,
        400: OpenApiResponse(description="A field is missing."),
        401: OpenApiResponse(description="Wrong username or password, or the account is disabled."),
        429: OpenApiResponse(
            description="Too many failed attempts for this account or from this address; retry after "
            "Retry-After (seconds)."
        ),
    },
    auth=[],
)
@api_view(["POST"])
@authentication_classes([])  # a stale token in the header must not stand in the way of a new one
@permission_classes([AllowAny])
def login(request):
    """Exchange a username and password for a new personal API token (what `kennel login` does).

    The key is in the answer once. Failed attempts are audited and limited per account and per client
    address by django-axes, as on the login page: once locked out, even the right password gets 429."""
    payload = LoginInputSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    # Django's authenticate() sends user_login_failed on failure, which writes the audit entry.
    user = authenticate(request._request, username=data["username"], password=data["password"])
    if user is None:
        return Response(
            {"detail": _("Wrong username or password, or the account is disabled.")},
            status=status.HTTP_401_UNAUTHORIZED,
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )
    token, key = services.api_token_create(
        user=user, name=data["name"], read_only=data["read_only"], source=origin(request)
    )
    token.key = key  # type: ignore[attr-defined]  # shown once, in this answer only; never stored
    return Response(LoginTokenSerializer(token).data, status=status.HTTP_201_CREATED)


@extend_schema(
    request=None,
    responses={
        204: OpenApiResponse(description="The token of this request is revoked."),
        400: OpenApiResponse(description="The request was not made with an API token."),
    },
)
@api_view(["POST"])
def logout(request):
    """Revoke the API token this request was made with (what `kennel logout` does)."""
    if not isinstance(request.auth, ApiToken):
        return Response(
            {"detail": _("This request was not made with an API token; revoke tokens under API tokens.")},
            status=status.HTTP_400_BAD_REQUEST,
        )
    services.api_token_revoke(actor=request.user, token=request.auth, source=origin(request))
    return Response(status=status.HTTP_204_NO_CONTENT)
