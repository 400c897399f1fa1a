"""Serializers for blueprints and services: output serializers for reads, input serializers for changes."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from blueprints import selectors
from blueprints.documents import document_dump
from blueprints.models import Blueprint, BlueprintVersion, Service, ServiceVm
from blueprints.services import SERVICE_MAX_VMS
from portal.architectures import Architecture


class BlueprintVersionSerializer(serializers.ModelSerializer):
    architectures = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = BlueprintVersion
        fields = ["id", "number", "note", "architectures", "created_at"]


class BlueprintVersionDetailSerializer(BlueprintVersionSerializer):
    blueprint = serializers.CharField(source="blueprint.name", read_only=True)
    spec = serializers.JSONField(read_only=True, help_text=_("The recipe, as the YAML document holds it."))
    document = serializers.SerializerMethodField(
        help_text=_("The version as a YAML document (what import reads).")
    )

    class Meta(BlueprintVersionSerializer.Meta):
        fields = [*BlueprintVersionSerializer.Meta.fields, "blueprint", "spec", "document"]

    def get_document(self, version: BlueprintVersion) -> str:
        return document_dump(
            name=version.blueprint.name, description=version.blueprint.description, spec=version.spec
        )


class BlueprintSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, help_text=_("Empty: global."))
    versions = BlueprintVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Blueprint
        fields = ["id", "name", "description", "team", "versions"]


class BlueprintImportSerializer(serializers.Serializer):
    team = serializers.SlugField(required=False, allow_blank=True, help_text=_("Empty: a global blueprint."))
    document = serializers.CharField(max_length=256_000, trim_whitespace=False)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class ServiceVmSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="vm.id", read_only=True)
    name = serializers.CharField(source="vm.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    status = serializers.CharField(source="vm.status", read_only=True)
    state = serializers.CharField(source="vm.state", read_only=True)
    host = serializers.CharField(source="vm.host", read_only=True)

    class Meta:
        model = ServiceVm
        fields = ["id", "name", "architecture", "version", "status", "state", "host"]


class ServiceSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    blueprint = serializers.CharField(source="blueprint.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    previous_version = serializers.IntegerField(
        source="previous_version.number", read_only=True, allow_null=True
    )
    maintainers = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    counts = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    parameters = serializers.DictField(read_only=True)
    vms = ServiceVmSerializer(source="live_members", many=True, read_only=True)
    status_message = serializers.CharField(
        source="status_message_text",
        read_only=True,
        help_text=_("The status line, in the reader's language."),
    )

    class Meta:
        model = Service
        fields = [
            "id",
            "team",
            "name",
            "blueprint",
            "version",
            "previous_version",
            "status",
            "status_message",
            "counts",
            "parameters",
            "maintainers",
            "vms",
            "created_at",
            "changed_at",
        ]


class ServicePortSerializer(serializers.Serializer):
    port = serializers.IntegerField()
    protocol = serializers.CharField()
    reached_from = serializers.ListField(
        child=serializers.CharField(),
        help_text=_(
            "The networks the team's security group rules let reach it; empty: the team's own VMs only."
        ),
    )


class ServiceDetailSerializer(ServiceSerializer):
    ports = serializers.SerializerMethodField()

    class Meta(ServiceSerializer.Meta):
        fields = [*ServiceSerializer.Meta.fields, "ports"]

    @extend_schema_field(ServicePortSerializer(many=True))
    def get_ports(self, service: Service) -> list[dict]:
        return ServicePortSerializer(selectors.service_ports(service=service), many=True).data


class CountsField(serializers.DictField):
    child = serializers.IntegerField(min_value=0, max_value=SERVICE_MAX_VMS)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        unknown = [k for k in value if k not in Architecture.values]
        if unknown:
            raise serializers.ValidationError(
                _("Not an architecture: %(a)s") % {"a": ", ".join(unknown)[:100]}
            )
        return value


class ServiceDeploySerializer(serializers.Serializer):
    team = serializers.SlugField()
    name = serializers.CharField(max_length=40)
    blueprint_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    parameters = serializers.DictField(required=False, default=dict)
    counts = CountsField()
    maintainers = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, default=list, max_length=50
    )


class ServiceScaleSerializer(serializers.Serializer):
    counts = CountsField()


class ServiceUpgradeSerializer(serializers.Serializer):
    blueprint_version = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
