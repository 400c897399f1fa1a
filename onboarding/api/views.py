"""Onboarding endpoints, scoped like the pages: a team's people read its chain; only admins onboard,
retry, offboard, change members, keep templates and check orphans; each member reads their own
credentials. Reads go through selectors; every write calls a service."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from onboarding import selectors, services
from onboarding.api.serializers import (
    CloudPasswordSerializer,
    CloudPasswordStateSerializer,
    CredentialsSerializer,
    MemberInputSerializer,
    MemberRemoveInputSerializer,
    OffboardInputSerializer,
    OnboardingSerializer,
    OnboardInputSerializer,
    OrphanCheckSerializer,
    QuotaTemplateSerializer,
)
from onboarding.models import CloudAccount, Onboarding, QuotaTemplate
from portal.access import Action, Capability, can, restrict
from portal.api.errors import api_validation_error
from portal.models import Team, User
from portal.origin import origin


class OnboardsTeams(BasePermission):
    def has_permission(self, request, view) -> bool:
        return can(request.user, Capability.TEAMS_ONBOARD)


def _people(usernames: list[str], field: str) -> list[User]:
    found = {u.username: u for u in User.objects.filter(username__in=usernames, is_active=True)}
    missing = sorted(set(usernames) - set(found))
    if missing:
        raise ApiValidationError({field: [f"No active user named {name}." for name in missing]})
    return [found[name] for name in usernames]


class OnboardingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Teams Kennel onboarded and the chain of each, step by step (``POST`` starts one: admins)."""

    serializer_class = OnboardingSerializer
    lookup_field = "team__slug"
    lookup_url_kwarg = "slug"
    queryset = Onboarding.objects.none()  # for the schema; get_queryset() is what is served

    def get_queryset(self):
        return selectors.onboarding_list(user=self.request.user)

    def _changeable(self) -> Onboarding:
        onboarding = self.get_object()
        if not restrict(self.request.user, Onboarding.objects.filter(pk=onboarding.pk), Action.CHANGE):
            raise PermissionDenied
        return onboarding

    def _answer(self, onboarding: Onboarding, code: int = status.HTTP_202_ACCEPTED) -> Response:
        onboarding.refresh_from_db()
        return Response(OnboardingSerializer(onboarding).data, status=code)

    @extend_schema(request=OnboardInputSerializer, responses={201: OnboardingSerializer})
    def create(self, request):
        """Create a team with its members and leads and start onboarding it (admins)."""
        if not can(request.user, Capability.TEAMS_ONBOARD):
            raise PermissionDenied
        payload = OnboardInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        template = None
        if data["quota_template"]:
            template = QuotaTemplate.objects.filter(name=data["quota_template"]).first()
            if template is None:
                raise ApiValidationError(
                    {"quota_template": [f"No quota template named {data['quota_template']}."]}
                )
        try:
            onboarding = services.team_onboard(
                actor=request.user,
                name=data["name"],
                slug=data["slug"],
                description=data["description"],
                members=_people(data["members"], "members"),
                leads=_people(data["leads"], "leads"),
                quota_template=template,
                source=origin(request),
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        return self._answer(onboarding, status.HTTP_201_CREATED)

    def _act(self, service, onboarding: Onboarding | None = None, **kwargs) -> Response:
        onboarding = onboarding or self._changeable()
        try:
            service(actor=self.request.user, onboarding=onboarding, source=origin(self.request), **kwargs)
        except ValidationError as error:
            raise api_validation_error(error) from error
        return self._answer(onboarding)

    @extend_schema(request=None, responses={202: OnboardingSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, slug=None):
        """Resume a failed chain at its failed step (admins)."""
        return self._act(services.onboarding_retry)

    @extend_schema(request=None, responses={202: OnboardingSerializer})
    @action(detail=True, methods=["post"])
    def again(self, request, slug=None):
        """Run a finished onboarding again: nothing changes unless something drifted (admins)."""
        return self._act(services.onboarding_run_again)

    @extend_schema(request=OffboardInputSerializer, responses={202: OnboardingSerializer})
    @action(detail=True, methods=["post"])
    def offboard(self, request, slug=None):
        """Delete the team's VMs and everything in its project, then the project (admins; ``confirm``
        is the team's short name)."""
        onboarding = self._changeable()  # a team that is not there is a 404 whatever the body says
        payload = OffboardInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._act(
            services.team_offboard, onboarding=onboarding, confirm=payload.validated_data["confirm"]
        )

    @extend_schema(request=MemberInputSerializer, responses={202: OnboardingSerializer})
    @action(detail=True, methods=["post"])
    def members(self, request, slug=None):
        """Add a member or change a level (admins); the project's roles follow through a worker."""
        onboarding = self._changeable()
        payload = MemberInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        (user,) = _people([payload.validated_data["username"]], "username")
        try:
            services.team_member_set(
                actor=request.user,
                team=onboarding.team,
                user=user,
                level=payload.validated_data["level"],
                source=origin(request),
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        return self._answer(onboarding)

    @extend_schema(request=MemberRemoveInputSerializer, responses={202: OnboardingSerializer})
    @action(detail=True, methods=["post"], url_path="members/remove")
    def members_remove(self, request, slug=None):
        """Remove a member (admins); the worker revokes the role and deletes an unused Kennel account."""
        onboarding = self._changeable()
        payload = MemberRemoveInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        user = User.objects.filter(
            username=payload.validated_data["username"], memberships__team=onboarding.team
        ).first()
        if user is None:
            raise ApiValidationError({"username": ["Not a member of this team."]})
        services.team_member_remove(
            actor=request.user, team=onboarding.team, user=user, source=origin(request)
        )
        return self._answer(onboarding)


class CredentialsView(APIView):
    """Your own clouds.yaml and openrc for a team you belong to (no password in them); 404 for anyone
    else, admins included."""

    @extend_schema(responses=CredentialsSerializer)
    def get(self, request, slug: str):
        return Response(CredentialsSerializer(_own_credentials(request, slug)).data)


class CloudPasswordView(APIView):
    """Ask for a new random password for your own Kennel-made cloud account (a worker sets it); then
    ``POST …/password/show/`` returns it, once."""

    @extend_schema(request=None, responses={202: CloudPasswordStateSerializer})
    def post(self, request, slug: str):
        _own_credentials(request, slug)
        try:
            account = services.cloud_password_reset(actor=request.user, source=origin(request))
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(CloudPasswordStateSerializer(account).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=CloudPasswordStateSerializer)
    def get(self, request, slug: str):
        return Response(CloudPasswordStateSerializer(_own_credentials(request, slug).account).data)


class CloudPasswordShowView(APIView):
    """The new password, once: Kennel erases its copy as it answers (400 when there is none)."""

    @extend_schema(request=None, responses=CloudPasswordSerializer)
    def post(self, request, slug: str):
        _own_credentials(request, slug)
        try:
            password = services.cloud_password_reveal(actor=request.user, source=origin(request))
        except ValidationError as error:
            raise api_validation_error(error) from error
        response = Response(CloudPasswordSerializer({"password": password}).data)
        response["Cache-Control"] = "no-store"
        return response


def _own_credentials(request, slug: str):
    try:
        return selectors.cloud_credentials(user=request.user, slug=slug)
    except (Team.DoesNotExist, CloudAccount.DoesNotExist):
        raise Http404 from None


class QuotaTemplateViewSet(viewsets.ModelViewSet):
    """The admins' quota templates (limits in Kennel's dimension names)."""

    serializer_class = QuotaTemplateSerializer
    permission_classes = [IsAuthenticated, OnboardsTeams]
    queryset = QuotaTemplate.objects.none()

    def get_queryset(self):
        return selectors.quota_template_list(user=self.request.user)

    def _save(self, serializer, template: QuotaTemplate | None) -> None:
        data = serializer.validated_data
        try:
            saved = services.quota_template_save(
                actor=self.request.user,
                template=template,
                name=data.get("name", template.name if template else ""),
                description=data.get("description", template.description if template else ""),
                values=data.get("values", template.values if template else {}),
                source=origin(self.request),
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        serializer.instance = saved

    def perform_create(self, serializer) -> None:
        self._save(serializer, None)

    def perform_update(self, serializer) -> None:
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance: QuotaTemplate) -> None:
        services.quota_template_delete(
            actor=self.request.user, template=instance, source=origin(self.request)
        )


class OrphanCheckView(APIView):
    """The latest look for orphans (GET) or a new one (POST, answered at once; a worker looks)."""

    permission_classes = [IsAuthenticated, OnboardsTeams]

    @extend_schema(responses=OrphanCheckSerializer)
    def get(self, request):
        check = selectors.orphan_check_latest(user=request.user)
        if check is None:
            raise Http404
        return Response(OrphanCheckSerializer(check).data)

    @extend_schema(request=None, responses={202: OrphanCheckSerializer})
    def post(self, request):
        check = services.orphan_check_request(actor=request.user, source=origin(request))
        return Response(OrphanCheckSerializer(check).data, status=status.HTTP_202_ACCEPTED)
