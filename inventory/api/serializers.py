from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.models import (
    BmcProtocolChoice,
    HardwareState,
    PowerActionChoice,
    PowerRequest,
    Server,
    ServerDrain,
)


class HardwareStateSerializer(serializers.ModelSerializer):
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

    class Meta:
        model = Server
        fields = ["protocol", "address", "port"]


class ServerDrainSerializer(serializers.ModelSerializer):
    server = serializers.SlugRelatedField(slug_field="name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    vm_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ServerDrain
        fields = [
            "server",
            "status",
            "reason",
            "requested_by",
            "requested_at",
            "service_enabled",
            "vm_count",
            "vm_names",
            "checked_at",
            "error",
        ]


class ServerDrainInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


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
    reason = serializers.CharField(max_length=500)
    confirm_name = serializers.CharField(max_length=64, help_text="the server's name, typed as confirmation")


class ServerBmcInputSerializer(serializers.Serializer):
    """An admin sets a server's BMC. The password is write-only; omitted or blank keeps the stored one."""

    protocol = serializers.ChoiceField(choices=[("", "none"), *BmcProtocolChoice.choices], allow_blank=True)
    address = serializers.CharField(max_length=255, allow_blank=True, default="")
    port = serializers.IntegerField(min_value=1, max_value=65535, allow_null=True, default=None)
    username = serializers.CharField(max_length=64, allow_blank=True, default="")
    password = serializers.CharField(write_only=True, allow_blank=True, required=False, trim_whitespace=False)

    def validate(self, data):
        if data["protocol"] and not (data["address"] and data["port"] and data["username"]):
            raise serializers.ValidationError("A BMC needs an address, a port and a username.")
        return data
