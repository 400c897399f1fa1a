from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from inventory.api.serializers import (
    DataCenterSerializer,
    DataCenterWriteSerializer,
    ImportResultSerializer,
    PowerRequestInputSerializer,
    PowerRequestSerializer,
    ServerBmcInputSerializer,
    ServerDrainInputSerializer,
    ServerDrainSerializer,
    ServerImportInputSerializer,
    ServerSerializer,
    ServerWriteSerializer,
    import_result,
)
from inventory.filtersets import ServerFilterSet
from inventory.models import DataCenter
from inventory.selectors import power_request_list, server_list
from inventory.server_csv import servers_csv_export, servers_csv_import
from inventory.services import (
    AssetRefused,
    DrainRefused,
    PowerActionRefused,
    datacenter_create,
    datacenter_delete,
    datacenter_update,
    power_request_cancel,
    power_request_confirm,
    power_request_create,
    server_bmc_set,
    server_create,
    server_delete,
    server_drain_request,
    server_undrain_request,
    server_update,
)
from portal.access import Capability, can, restrict
from portal.api.errors import api_validation_error
from portal.api.parsers import BoundedJSONParser, CsvTextParser
from portal.origin import origin


def _require_power(request) -> None:
    if not can(request.user, Capability.POWER_OPERATE):
        raise PermissionDenied


def _require_change(request) -> None:
    if not can(request.user, Capability.INVENTORY_CHANGE):
        raise PermissionDenied


def _refused(refusal: Exception) -> Response:
    return Response({"detail": str(refusal)}, status=status.HTTP_409_CONFLICT)


class CsvRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: text/csv``; the CSV itself is sent as it is. Errors become one
    line of text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "detail" in data:
            data = data["detail"]
        return str(data).encode()


class ServerViewSet(viewsets.ModelViewSet):
    """The physical servers with their BMC's location and latest hardware state (managers and admins;
    others see an empty list). Admins create, change and delete them. BMC usernames and passwords are
    never returned."""

    serializer_class = ServerSerializer
    filterset_class = ServerFilterSet

    def get_queryset(self):
        return server_list(user=self.request.user)

    def _written(self, server, code=status.HTTP_200_OK) -> Response:
        return Response(ServerSerializer(self.get_queryset().get(pk=server.pk)).data, status=code)

    @extend_schema(request=ServerWriteSerializer, responses={201: ServerSerializer})
    def create(self, request, *args, **kwargs):
        """Record a server (admins). ``datacenter`` is the data center's code."""
        _require_change(request)
        data = ServerWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            server = server_create(actor=request.user, fields=data.validated_data, source=origin(request))
        except ValidationError as error:
            raise api_validation_error(error) from None
        return self._written(server, status.HTTP_201_CREATED)

    @extend_schema(request=ServerWriteSerializer, responses={200: ServerSerializer})
    def update(self, request, *args, partial=False, **kwargs):
        """Change a server's record (admins); PATCH changes only the fields given."""
        server = self.get_object()
        _require_change(request)
        data = ServerWriteSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        try:
            server = server_update(
                actor=request.user, server=server, fields=data.validated_data, source=origin(request)
            )
        except ValidationError as error:
            raise api_validation_error(error) from None
        return self._written(server)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="in use; the detail says why")})
    def destroy(self, request, *args, **kwargs):
        """Delete a server's record (admins); refused (409) while a power action or drain is open."""
        server = self.get_object()
        _require_change(request)
        try:
            server_delete(actor=request.user, server=server, source=origin(request))
        except AssetRefused as refusal:
            return _refused(refusal)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=False, methods=["get"], renderer_classes=[JSONRenderer, CsvRenderer])
    def export(self, request):
        """Every server as CSV, the columns of the import (managers and admins). Never a password; the
        BMC username only for admins."""
        if not can(request.user, Capability.INVENTORY_VIEW):
            raise PermissionDenied
        return HttpResponse(servers_csv_export(user=request.user), content_type="text/csv; charset=utf-8")

    @extend_schema(
        request={
            "application/json": ServerImportInputSerializer,
            "multipart/form-data": ServerImportInputSerializer,
            "text/csv": OpenApiTypes.STR,
        },
        responses={
            200: ImportResultSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="an ImportResult listing each row's problems when the file is wrong, or the "
                "fields' errors when the request itself is (no csv or file, a file that is not UTF-8)",
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[BoundedJSONParser, MultiPartParser, FormParser, CsvTextParser],
    )
    def import_csv(self, request):
        """Import servers from CSV (admins): every row validated first, then all applied in one
        transaction or none. ``dry_run`` (in the body or the query) only previews. 400 with per-row,
        per-column errors when anything is wrong; nothing is written then."""
        _require_change(request)
        # JSON gives a dict (the parser refuses anything else); a form upload a QueryDict (files
        # included); text/csv the parser's dict.
        data = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
        data.setdefault("dry_run", request.query_params.get("dry_run", False))
        given = ServerImportInputSerializer(data=data)
        given.is_valid(raise_exception=True)
        dry_run = given.validated_data["dry_run"]
        plan = servers_csv_import(
            actor=request.user, text=given.validated_data["csv"], dry_run=dry_run, source=origin(request)
        )
        body = import_result(plan, dry_run=dry_run)
        return Response(body, status=status.HTTP_200_OK if plan.valid else status.HTTP_400_BAD_REQUEST)

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
        try:
            server_bmc_set(
                actor=request.user,
                server=server,
                protocol=values["protocol"],
                address=values["address"],
                port=values["port"],
                username=values["username"],
                password=values.get("password") or None,
                tls_verify=values.get("tls_verify"),
                source=origin(request),
            )
        except ValidationError as refusal:  # e.g. an address outside the allowed BMC networks
            raise api_validation_error(
                ValidationError({k.removeprefix("bmc_"): v for k, v in refusal.message_dict.items()})
            ) from None
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
        still on it; with ``migrate`` it then moves them off by live migration, one at a time. Read the
        outcome (and each VM's move) back from ``drain`` on the server."""
        server = self.get_object()
        _require_power(request)
        data = ServerDrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            drain = server_drain_request(
                actor=request.user,
                server=server,
                reason=data.validated_data["reason"],
                migrate=data.validated_data["migrate"],
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

    @extend_schema(request=None, responses={200: PowerRequestSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """An admin withdraws a power action that still waits for a second admin (409 once confirmed)."""
        power_request = self.get_object()
        _require_power(request)
        try:
            cancelled = power_request_cancel(
                actor=request.user, request=power_request, source=origin(request)
            )
        except PowerActionRefused as refusal:
            return Response({"detail": str(refusal)}, status=status.HTTP_409_CONFLICT)
        return Response(PowerRequestSerializer(cancelled).data)


class DataCenterViewSet(viewsets.ModelViewSet):
    """Data centers by code (managers and admins read, admins change; others see an empty list)."""

    serializer_class = DataCenterSerializer
    lookup_field = "code"

    def get_queryset(self):
        return restrict(
            self.request.user, DataCenter.objects.annotate(server_count=Count("servers")).order_by("code")
        )

    def _written(self, datacenter, code=status.HTTP_200_OK) -> Response:
        return Response(DataCenterSerializer(self.get_queryset().get(pk=datacenter.pk)).data, status=code)

    @extend_schema(request=DataCenterWriteSerializer, responses={201: DataCenterSerializer})
    def create(self, request, *args, **kwargs):
        _require_change(request)
        data = DataCenterWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            datacenter = datacenter_create(actor=request.user, source=origin(request), **data.validated_data)
        except ValidationError as error:
            raise api_validation_error(error) from None
        return self._written(datacenter, status.HTTP_201_CREATED)

    @extend_schema(request=DataCenterWriteSerializer, responses={200: DataCenterSerializer})
    def update(self, request, *args, partial=False, **kwargs):
        datacenter = self.get_object()
        _require_change(request)
        data = DataCenterWriteSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        values = {"code": datacenter.code, "name": datacenter.name, **data.validated_data}
        try:
            datacenter = datacenter_update(
                actor=request.user, datacenter=datacenter, source=origin(request), **values
            )
        except ValidationError as error:
            raise api_validation_error(error) from None
        return self._written(datacenter)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="servers stand in it")})
    def destroy(self, request, *args, **kwargs):
        """Delete an empty data center (admins); refused (409) while servers stand in it."""
        datacenter = self.get_object()
        _require_change(request)
        try:
            datacenter_delete(actor=request.user, datacenter=datacenter, source=origin(request))
        except AssetRefused as refusal:
            return _refused(refusal)
        return Response(status=status.HTTP_204_NO_CONTENT)
