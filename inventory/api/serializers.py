from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ParseError

from inventory.models import (
    BmcProtocolChoice,
    BmcTlsVerifyChoice,
    DataCenter,
    DrainMove,
    HardwareState,
    PowerActionChoice,
    PowerRequest,
    Server,
    ServerDrain,
    ServerRole,
)
from portal.api.parsers import csv_text_decode
from portal.architectures import Architecture
from portal.validators import validate_single_line, validate_text


class HardwareStateSerializer(serializers.ModelSerializer):
    error = serializers.CharField(
        source="error_text", read_only=True, help_text=_("Why it failed, in the reader's language.")
    )

    class Meta:
        model = HardwareState
        fields = [
            "power_state",
            "health",
            "reachable",
            "max_temperature_c",
            "power_watts",
            "sensors",
            "polled_at",
            "last_seen_at",
            "error",
        ]


class BmcSerializer(serializers.ModelSerializer):
    """Where the BMC is. Its username and password are never part of any response."""

    protocol = serializers.CharField(source="bmc_protocol")
    address = serializers.CharField(source="bmc_address")
    port = serializers.IntegerField(source="bmc_port")
    tls_verify = serializers.CharField(
        source="bmc_tls_verify",
        help_text='Redfish certificate check: "verify", "skip", or "" for the setting KENNEL_BMC_TLS_VERIFY',
    )

    class Meta:
        model = Server
        fields = ["protocol", "address", "port", "tls_verify"]


class DrainMoveSerializer(serializers.ModelSerializer):
    """One VM a drain moves off: ``status`` waiting, migrating, moved (to ``target_host``), gone
    (deleted meanwhile) or failed (``error`` says why it could not move)."""

    error = serializers.CharField(source="reason", read_only=True)

    class Meta:
        model = DrainMove
        fields = [
            "name",
            "server_id",
            "status",
            "source_host",
            "target_host",
            "error",
            "started_at",
            "finished_at",
        ]


class ServerDrainSerializer(serializers.ModelSerializer):
    server = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    vm_count = serializers.IntegerField(read_only=True)
    moves = DrainMoveSerializer(many=True, read_only=True)
    confirmed = serializers.BooleanField(
        read_only=True,
        help_text=_("Drained for real: a check since the drain finished saw the compute service disabled."),
    )

    error = serializers.CharField(
        source="error_text", read_only=True, help_text=_("Why it failed, in the reader's language.")
    )

    class Meta:
        model = ServerDrain
        fields = [
            "server",
            "status",
            "reason",
            "requested_by",
            "requested_at",
            "service_enabled",
            "confirmed",
            "vm_count",
            "vm_names",
            "checked_at",
            "error",
            "migrate",
            "moves",
        ]


class ServerDrainInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, validators=[validate_single_line])
    migrate = serializers.BooleanField(
        default=False,
        help_text=_(
            "Also move the host's VMs off by live migration, one at a time, to hosts of the same "
            "architecture; follow each VM in the drain's moves."
        ),
    )


class ServerSerializer(serializers.ModelSerializer):
    datacenter = serializers.SlugRelatedField(slug_field="code", read_only=True)
    bmc = serializers.SerializerMethodField()
    hardware = serializers.SerializerMethodField()
    drain = serializers.SerializerMethodField()

    class Meta:
        model = Server
        fields = [
            "id",
            "name",
            "architecture",
            "datacenter",
            "vendor",
            "model",
            "serial",
            "rack",
            "rack_unit",
            "roles",
            "hypervisor_hostname",
            "in_openstack",
            "notes",
            "bmc",
            "hardware",
            "drain",
        ]

    @extend_schema_field(BmcSerializer(allow_null=True))
    def get_bmc(self, server: Server) -> dict | None:
        return BmcSerializer(server).data if server.has_bmc else None

    @extend_schema_field(ServerDrainSerializer(allow_null=True))
    def get_drain(self, server: Server) -> dict | None:
        drain = getattr(server, "drain", None)
        return ServerDrainSerializer(drain).data if drain is not None else None

    @extend_schema_field(HardwareStateSerializer(allow_null=True))
    def get_hardware(self, server: Server) -> dict | None:
        state = getattr(server, "hardware_state", None)
        return HardwareStateSerializer(state).data if state is not None else None


class PowerRequestSerializer(serializers.ModelSerializer):
    server = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    confirmed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    error = serializers.CharField(
        source="error_text", read_only=True, help_text=_("Why it failed, in the reader's language.")
    )

    class Meta:
        model = PowerRequest
        fields = [
            "id",
            "server",
            "action",
            "reason",
            "status",
            "requested_by",
            "confirmed_by",
            "created_at",
            "finished_at",
            "error",
        ]


class PowerRequestInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=PowerActionChoice.choices)
    reason = serializers.CharField(max_length=500, validators=[validate_single_line])
    confirm_name = serializers.CharField(
        max_length=64, help_text="the server's name, typed as confirmation", validators=[validate_single_line]
    )


class ServerBmcInputSerializer(serializers.Serializer):
    """An admin sets a server's BMC. The password is write-only; omitted or blank keeps the stored one."""

    protocol = serializers.ChoiceField(choices=[("", "none"), *BmcProtocolChoice.choices], allow_blank=True)
    address = serializers.CharField(
        max_length=255, allow_blank=True, default="", validators=[validate_single_line]
    )
    port = serializers.IntegerField(min_value=1, max_value=65535, allow_null=True, default=None)
    username = serializers.CharField(
        max_length=64, allow_blank=True, default="", validators=[validate_single_line]
    )
    password = serializers.CharField(write_only=True, allow_blank=True, required=False, trim_whitespace=False)
    tls_verify = serializers.ChoiceField(
        choices=BmcTlsVerifyChoice.choices,
        allow_blank=True,
        required=False,
        help_text='"verify", "skip", or "" for KENNEL_BMC_TLS_VERIFY; omitted keeps the stored choice',
    )

    def validate(self, data):
        if data["protocol"] and not (data["address"] and data["port"] and data["username"]):
            raise serializers.ValidationError("A BMC needs an address, a port and a username.")
        return data


class ServerWriteSerializer(serializers.Serializer):
    """An admin creates or edits a server's record. The BMC is set through ``PUT .../bmc/``."""

    name = serializers.CharField(max_length=64, validators=[validate_single_line])
    architecture = serializers.ChoiceField(choices=Architecture.choices)
    datacenter = serializers.SlugRelatedField(
        slug_field="code", queryset=DataCenter.objects.all(), help_text="the data center's code"
    )
    vendor = serializers.CharField(
        max_length=64, allow_blank=True, required=False, validators=[validate_single_line]
    )
    model = serializers.CharField(
        max_length=64, allow_blank=True, required=False, validators=[validate_single_line]
    )
    serial = serializers.CharField(
        max_length=64, allow_blank=True, required=False, validators=[validate_single_line]
    )
    rack = serializers.CharField(
        max_length=32, allow_blank=True, required=False, validators=[validate_single_line]
    )
    rack_unit = serializers.IntegerField(min_value=0, max_value=32767, allow_null=True, required=False)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=ServerRole.choices), required=False)
    hypervisor_hostname = serializers.CharField(
        max_length=255, allow_blank=True, required=False, validators=[validate_single_line]
    )
    notes = serializers.CharField(
        allow_blank=True, required=False, trim_whitespace=False, validators=[validate_text]
    )


class DataCenterSerializer(serializers.ModelSerializer):
    server_count = serializers.SerializerMethodField()

    class Meta:
        model = DataCenter
        fields = ["code", "name", "server_count"]

    def get_server_count(self, datacenter: DataCenter) -> int:
        annotated = getattr(datacenter, "server_count", None)
        return annotated if annotated is not None else datacenter.servers.count()


class DataCenterWriteSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=32)
    name = serializers.CharField(max_length=100, validators=[validate_single_line])


class ServerImportInputSerializer(serializers.Serializer):
    """The CSV as text (``csv``) or as an uploaded file (``file``), and whether to only preview it."""

    csv = serializers.CharField(required=False, trim_whitespace=False)
    file = serializers.FileField(required=False)
    dry_run = serializers.BooleanField(default=False)

    def validate(self, data):
        if ("csv" in data) == ("file" in data):
            raise serializers.ValidationError("Give the CSV either as csv (text) or as file (an upload).")
        if "file" in data:
            try:
                data["csv"] = csv_text_decode(data.pop("file").read())
            except ParseError as refused:
                raise serializers.ValidationError({"file": [refused.detail]}) from None
        return data


class ImportChangeSerializer(serializers.Serializer):
    before = serializers.CharField()
    after = serializers.CharField()


class ImportRowSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="the spreadsheet's row number (the header is row 1)")
    name = serializers.CharField()
    action = serializers.ChoiceField(choices=["create", "update", "unchanged", "invalid"])
    changes = serializers.DictField(child=ImportChangeSerializer())
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='messages per column ("" for the row as a whole)',
    )


class ImportResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    applied = serializers.BooleanField()
    valid = serializers.BooleanField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.CharField(), help_text="about the file as a whole")
    rows = ImportRowSerializer(many=True)


def import_result(plan, *, dry_run: bool) -> dict:
    """An ImportPlan as the API shows it. Rows that change nothing are left out of ``rows``."""
    return {
        "dry_run": dry_run,
        "applied": plan.applied,
        "valid": plan.valid,
        "created": plan.created,
        "updated": plan.updated,
        "unchanged": plan.unchanged,
        "invalid": plan.invalid_rows,
        "errors": plan.errors,
        "rows": [
            {
                "row": r.row,
                "name": r.name,
                "action": r.action,
                "changes": {c: {"before": b, "after": a} for c, (b, a) in r.changes.items()},
                "errors": r.errors,
            }
            for r in plan.rows
            if r.action != "unchanged"
        ],
    }
