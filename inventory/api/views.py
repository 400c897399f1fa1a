from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from inventory.api.serializers import (
    PowerRequestInputSerializer,
    PowerRequestSerializer,
    ServerBmcInputSerializer,
    ServerDrainInputSerializer,
    ServerDrainSerializer,
    ServerSerializer,
)
from inventory.filtersets import ServerFilterSet
from inventory.selectors import power_request_list, server_list
from inventory.services import (
    DrainRefused,
    PowerActionRefused,
    power_request_confirm,
    power_request_create,
    server_bmc_set,
    server_drain_request,
    server_undrain_request,
)
from portal.access import Capability, can
from portal.origin import origin


def _require_power(request) -> None:
    if not can(request.user, Capability.POWER_OPERATE):
        raise PermissionDenied


class ServerViewSet(viewsets.ReadOnlyModelViewSet):
    """The physical servers with their BMC's location and latest hardware state (managers and admins;
    others see an empty list). BMC usernames and passwords are never returned."""

    serializer_class = ServerSerializer
    filterset_class = ServerFilterSet

    def get_queryset(self):
        return server_list(user=self.request.user)

    @extend_schema(request=ServerBmcInputSerializer, responses={200: ServerSerializer})
    @action(detail=True, methods=["put"])
    def bmc(self, request, pk=None):
        """Set the server's BMC (admins). The password is write-only; blank keeps the stored one."""
        server = self.get_object()
        if not can(request.user, Capability.INVENTORY_CHANGE):
            raise PermissionDenied
        data = ServerBmcInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        server_bmc_set(
            actor=request.user,
            server=server,
            protocol=values["protocol"],
            address=values["address"],
            port=values["port"],
            username=values["username"],
            password=values.get("password") or None,
            source=origin(request),
        )
        return Response(ServerSerializer(self.get_queryset().get(pk=server.pk)).data)

    @extend_schema(request=PowerRequestInputSerializer, responses={201: PowerRequestSerializer})
    @action(detail=True, methods=["post"])
    def power(self, request, pk=None):
        """Ask for a guarded power action (admins): a reason and the server's name typed to confirm."""
        server = self.get_object()
        _require_power(request)
        data = PowerRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = power_request_create(
                actor=request.user, server=server, source=origin(request), **data.validated_data
            )
        except PowerActionRefused as refusal:
            return Response({"detail": str(refusal)}, status=status.HTTP_409_CONFLICT)
        return Response(PowerRequestSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ServerDrainInputSerializer, responses={202: ServerDrainSerializer})
    @action(detail=True, methods=["post"])
    def drain(self, request, pk=None):
        """Drain a compute node (admins): a worker disables its Nova compute service and lists the VMs
        still on it; read the outcome back from ``drain`` on the server."""
        server = self.get_object()
        _require_power(request)
        data = ServerDrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            drain = server_drain_request(
                actor=request.user,
                server=server,
                reason=data.validated_data["reason"],
                source=origin(request),
            )
        except DrainRefused as refusal:
            return Response({"detail": str(refusal)}, status=status.HTTP_409_CONFLICT)
        return Response(ServerDrainSerializer(drain).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: ServerDrainSerializer})
    @action(detail=True, methods=["post"])
    def undrain(self, request, pk=None):
        """Put a drained compute node back in service (admins): a worker enables its compute service."""
        server = self.get_object()
        _require_power(request)
        try:
            drain = server_undrain_request(actor=request.user, server=server, source=origin(request))
        except DrainRefused as refusal:
            return Response({"detail": str(refusal)}, status=status.HTTP_409_CONFLICT)
        return Response(ServerDrainSerializer(drain).data, status=status.HTTP_202_ACCEPTED)


class PowerRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Guarded power actions and their outcome (managers read, admins act)."""

    serializer_class = PowerRequestSerializer

    def get_queryset(self):
        return power_request_list(user=self.request.user)

    @extend_schema(request=None, responses={200: PowerRequestSerializer})
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        """A second admin confirms a controller's power action."""
        power_request = self.get_object()
        _require_power(request)
        try:
            confirmed = power_request_confirm(
                actor=request.user, request=power_request, source=origin(request)
            )
        except PowerActionRefused as refusal:
            return Response({"detail": str(refusal)}, status=status.HTTP_409_CONFLICT)
        return Response(PowerRequestSerializer(confirmed).data)
