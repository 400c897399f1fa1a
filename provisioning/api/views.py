"""VM and catalog endpoints. Reads go through selectors; every write calls a service."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response

from portal.access import restrict
from portal.api.errors import api_validation_error
from portal.architectures import Architecture
from portal.cloud.gateway import ServerAction
from portal.origin import origin
from portal.selectors import team_list
from provisioning import selectors, services
from provisioning.api.serializers import (
    ArchitectureSerializer,
    FlavorSerializer,
    ImageSerializer,
    ProfileDetailSerializer,
    ProfileSerializer,
    VmActionInputSerializer,
    VmBatchInputSerializer,
    VmDetailSerializer,
    VmExtendInputSerializer,
    VmFloatingIpInputSerializer,
    VmRebuildInputSerializer,
    VmRequestInputSerializer,
    VmResizeInputSerializer,
    VmSerializer,
    VmSnapshotInputSerializer,
    VmSnapshotSerializer,
)
from provisioning.filtersets import VmFilterSet
from provisioning.models import Profile, SshKey

_CONFLICT = OpenApiResponse(description="the server's state makes the action pointless; detail says why")


def _accepted(act) -> Response:
    """202 with the VM after ``act()`` (a service); its refusal as 409 (the server's state) or 400."""
    try:
        vm = act()
    except services.VmStateConflict as error:
        return Response({"detail": " ".join(error.messages)}, status=status.HTTP_409_CONFLICT)
    except ValidationError as error:
        raise api_validation_error(error) from error
    return Response(VmSerializer(vm).data, status=status.HTTP_202_ACCEPTED)


def _profiles(user):
    return restrict(user, Profile.objects.filter(is_active=True))


class VmViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """VMs the user may see. POST requests one; DELETE deletes it; POST …/action/ starts, stops, reboots."""

    filterset_class = VmFilterSet

    def get_queryset(self):
        return selectors.vm_list(user=self.request.user).prefetch_related("events", "snapshots__image")

    def get_serializer_class(self):
        return VmDetailSerializer if self.action == "retrieve" else VmSerializer

    def _request_vms(self, request, serializer_class, count: int | None) -> list:
        """Check what ``request`` asks for and submit it: the VMs accepted (all or none)."""
        payload = serializer_class(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        user = request.user
        team = team_list(user=user).filter(slug=data["team"]).first()
        if team is None:
            raise ApiValidationError({"team": [f"No team {data['team']!r} of yours."]})
        image = (
            selectors.image_list(user=user, team=team)
            .filter(Q(cloud_id=data["image"]) | Q(name=data["image"]))
            .first()
        )
        flavor = (
            selectors.flavor_list(user=user)
            .filter(Q(cloud_id=data["flavor"]) | Q(name=data["flavor"]))
            .first()
        )
        profile = (
            Profile.objects.filter(is_active=True, name=data["profile"]).first()
            if data.get("profile")
            else None
        )
        missing = {
            k: [f"No such {k}: {data[k]!r}."] for k, v in (("image", image), ("flavor", flavor)) if v is None
        }
        if data.get("profile") and profile is None:
            missing["profile"] = [f"No such profile: {data['profile']!r}."]
        if image is not None and data.get("architecture") and image.architecture != data["architecture"]:
            missing["image"] = [
                f"Image {image.name!r} is {image.architecture}, not {data['architecture']}; "
                "choose one of that architecture's images."
            ]
        if missing or image is None or flavor is None:  # (None is in ``missing``; said for the type checker)
            raise ApiValidationError(missing)
        # As on the request page: without a list of keys, the developer's imported keys go on the VM.
        ssh_keys = data.get("ssh_keys")
        if ssh_keys is None:
            ssh_keys = list(restrict(user, SshKey.objects.all()).values_list("public_key", flat=True))
        try:
            return services.vm_requests_submit(
                actor=user,
                team=team,
                name=data["name"],
                count=data["count"] if count is None else count,
                image=image,
                flavor=flavor,
                profile=profile,
                ssh_keys=ssh_keys,
                packages=data.get("packages", []),
                source=origin(request),
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        except PermissionDenied:
            raise ApiValidationError({"team": [f"You may not request VMs for {team.slug}."]}) from None

    @extend_schema(request=VmRequestInputSerializer, responses={201: VmDetailSerializer})
    def create(self, request):
        (vm,) = self._request_vms(request, VmRequestInputSerializer, count=1)
        return Response(VmDetailSerializer(vm).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=VmBatchInputSerializer, responses={201: VmSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def batch(self, request):
        """Request ``count`` VMs alike, named name-1 … name-N: all of them fit within the team's quota
        and the hosts' room, or none is made (400 saying why)."""
        vms = self._request_vms(request, VmBatchInputSerializer, count=None)
        return Response(VmSerializer(vms, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: VmSerializer, 409: _CONFLICT})
    def destroy(self, request, pk=None):
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        return _accepted(
            lambda: services.vm_delete_request(actor=request.user, vm=vm, source=origin(request))
        )

    @extend_schema(request=VmActionInputSerializer, responses={202: VmSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"], url_path="action")
    def server_action(self, request, pk=None):
        """Start, stop or reboot; 409 when the server's state makes it pointless (see allowed_actions)."""
        # Not named "action": DRF keeps the current action's name in self.action.
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        payload = VmActionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return _accepted(
            lambda: services.vm_action_request(
                actor=request.user,
                vm=vm,
                action=ServerAction(payload.validated_data["action"]),
                source=origin(request),
            )
        )

    @extend_schema(request=VmFloatingIpInputSerializer, responses={202: VmSerializer})
    @action(detail=True, methods=["post"], url_path="floating-ip")
    def floating_ip(self, request, pk=None):
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        payload = VmFloatingIpInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            vm = services.vm_floating_ip_request(
                actor=request.user, vm=vm, attach=payload.validated_data["attach"], source=origin(request)
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(VmSerializer(vm).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: VmSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def console(self, request, pk=None):
        """Ask for a console URL; it appears as console_url on the VM within seconds, or console_error
        says why the cloud has none. 409 unless the server is running."""
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        return _accepted(
            lambda: services.vm_console_request(actor=request.user, vm=vm, source=origin(request))
        )

    @extend_schema(request=None, responses={202: VmSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"], url_path="console-log")
    def console_log(self, request, pk=None):
        """Ask a worker to read the server's console output; it replaces console_log (and
        console_log_at) within seconds."""
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        return _accepted(
            lambda: services.vm_console_log_request(actor=request.user, vm=vm, source=origin(request))
        )

    @extend_schema(request=VmResizeInputSerializer, responses={202: VmSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def resize(self, request, pk=None):
        """Resize to another flavor (checked against the team's quota first); the VM then shows
        server_state "resized" until POST …/action/ with confirm_resize or revert_resize."""
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        payload = VmResizeInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        wanted = payload.validated_data["flavor"]
        flavor = selectors.flavor_list(user=request.user).filter(Q(cloud_id=wanted) | Q(name=wanted)).first()
        if flavor is None:
            raise ApiValidationError({"flavor": [f"No such flavor: {wanted!r}."]})
        return _accepted(
            lambda: services.vm_resize_request(
                actor=request.user, vm=vm, flavor=flavor, source=origin(request)
            )
        )

    @extend_schema(request=VmRebuildInputSerializer, responses={202: VmSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def rebuild(self, request, pk=None):
        """Rebuild the VM's disk from an image of its architecture (the catalog's or the team's own)."""
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        payload = VmRebuildInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        wanted = payload.validated_data["image"]
        image = (
            selectors.image_list(user=request.user, team=vm.team)
            .filter(Q(cloud_id=wanted) | Q(name=wanted))
            .first()
        )
        if image is None:
            raise ApiValidationError({"image": [f"No such image: {wanted!r}."]})
        return _accepted(
            lambda: services.vm_rebuild_request(
                actor=request.user, vm=vm, image=image, source=origin(request)
            )
        )

    @extend_schema(request=VmSnapshotInputSerializer, responses={202: VmSnapshotSerializer, 409: _CONFLICT})
    @action(detail=True, methods=["post"])
    def snapshot(self, request, pk=None):
        """Snapshot the VM into the team's own image (with its architecture); the snapshot's status
        follows on the VM's detail, and the image appears in the catalog's images for the team."""
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        payload = VmSnapshotInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            snapshot = services.vm_snapshot_request(
                actor=request.user, vm=vm, name=payload.validated_data["name"], source=origin(request)
            )
        except services.VmStateConflict as error:
            return Response({"detail": " ".join(error.messages)}, status=status.HTTP_409_CONFLICT)
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(VmSnapshotSerializer(snapshot).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=VmExtendInputSerializer, responses={200: VmSerializer})
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        vm = get_object_or_404(self.get_queryset(), pk=pk)
        payload = VmExtendInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            vm = services.vm_lease_extend(
                actor=request.user, vm=vm, days=payload.validated_data["days"], source=origin(request)
            )
        except ValidationError as error:
            raise api_validation_error(error) from error
        return Response(VmSerializer(vm).data)


@extend_schema(responses=ArchitectureSerializer(many=True))
@api_view(["GET"])
def architectures(request):
    """Architectures the cloud can run now: an active image of it and a compute host of it."""
    return Response(ArchitectureSerializer(selectors.architecture_list(), many=True).data)


@extend_schema(
    parameters=[
        OpenApiParameter("architecture", str),
        OpenApiParameter("team", str, description="Only the images this team may build from (team slug)."),
    ],
    responses=ImageSerializer(many=True),
)
@api_view(["GET"])
def images(request):
    team = None
    if request.query_params.get("team"):
        team = team_list(user=request.user).filter(slug=request.query_params["team"]).first()
        if team is None:
            raise ApiValidationError({"team": [f"No such team of yours: {request.query_params['team']!r}."]})
    found = selectors.image_list(
        user=request.user, architecture=request.query_params.get("architecture"), team=team
    ).select_related("team")
    return Response(ImageSerializer(found, many=True).data)


@extend_schema(
    parameters=[
        OpenApiParameter("image", str, description="Only flavors that fit this image (id or name)."),
        OpenApiParameter(
            "architecture", str, description="Count how many fit on this architecture (default: the image's)."
        ),
        OpenApiParameter("team", str, description="Also count how many the team's quota allows (team slug)."),
    ],
    responses=FlavorSerializer(many=True),
)
@api_view(["GET"])
def flavors(request):
    image = None
    if request.query_params.get("image"):
        wanted = request.query_params["image"]
        image = selectors.image_list(user=request.user).filter(Q(cloud_id=wanted) | Q(name=wanted)).first()
        if image is None:
            raise ApiValidationError({"image": [f"No such image: {wanted!r}."]})
    architecture = request.query_params.get("architecture") or (image.architecture if image else None)
    if architecture is not None and architecture not in Architecture.values:
        known = ", ".join(Architecture.values)
        raise ApiValidationError({"architecture": [f"No such architecture: {architecture!r}; use {known}."]})
    team = None
    if request.query_params.get("team"):
        team = team_list(user=request.user).filter(slug=request.query_params["team"]).first()
        if team is None:
            raise ApiValidationError({"team": [f"No such team of yours: {request.query_params['team']!r}."]})
    found = list(selectors.flavor_list(user=request.user, image=image))
    if architecture:
        for room in selectors.flavor_room(flavors=found, architecture=architecture, team=team):
            # FlavorSerializer reads the counts from the flavor; django-stubs knows only the model's fields.
            room.flavor.fits, room.flavor.quota_fits = room.fits, room.quota_fits  # type: ignore[attr-defined]
    return Response(FlavorSerializer(found, many=True).data)


@extend_schema(responses=ProfileSerializer(many=True))
@api_view(["GET"])
def profiles(request):
    return Response(ProfileSerializer(_profiles(request.user), many=True).data)


@extend_schema(responses=ProfileDetailSerializer)
@api_view(["GET"])
def profile_detail(request, ref: str):
    """One offered profile by name (or id): its parts and the user-data it makes on each architecture."""
    found = _profiles(request.user)
    # An id is ASCII digits that fit a bigint ("²".isdigit() is true, and 5,000 digits are no id).
    is_id = ref.isascii() and ref.isdigit() and len(ref) <= 18
    profile = found.filter(Q(name=ref) | Q(pk=int(ref)) if is_id else Q(name=ref)).first()
    if profile is None:
        raise Http404
    try:
        profile.user_data = {
            arch.architecture: services.vm_user_data_render(
                profile=profile, architecture=arch.architecture, hostname="vm-name"
            )
            for arch in selectors.architecture_list()
        }
    except ValidationError as error:
        raise api_validation_error(error) from error
    return Response(ProfileDetailSerializer(profile).data)
