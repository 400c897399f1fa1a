"""Serializers for the catalog's admin API: output serializers for reads, input serializers for actions."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from catalog.models import ImageImport, ImagePropertyChange
from portal.api.parsers import PG_INT_MAX
from portal.architectures import Architecture
from portal.validators import validate_single_line
from provisioning.models import CloudFlavor, CloudImage


class ImagePropertyChangeSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    message = serializers.CharField(
        source="text", read_only=True, help_text=_("What happened, in the language the client asked for.")
    )

    class Meta:
        model = ImagePropertyChange
        fields = [
            "id",
            "image_id",
            "image_name",
            "properties",
            "remove",
            "min_disk_gb",
            "min_ram_mb",
            "status",
            "message",
            "requested_by",
            "created_at",
            "updated_at",
        ]


class CatalogImageSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="cloud_id", read_only=True)
    latest_change = ImagePropertyChangeSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CloudImage
        fields = [
            "id",
            "name",
            "display_name",
            "offered",
            "architecture",
            "status",
            "os_distro",
            "os_version",
            "min_disk_gb",
            "min_ram_mb",
            "visibility",
            "properties",
            "seen_at",
            "latest_change",
        ]


class ImageOfferInputSerializer(serializers.Serializer):
    offered = serializers.BooleanField()
    display_name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", validators=[validate_single_line]
    )


class ImagePropertiesInputSerializer(serializers.Serializer):
    """The image's properties as they should be in Glance; a blank value removes the property."""

    architecture = serializers.ChoiceField(
        choices=[("", ""), *Architecture.choices], allow_blank=True, help_text=_("hw_architecture")
    )
    os_distro = serializers.CharField(max_length=64, allow_blank=True, validators=[validate_single_line])
    os_version = serializers.CharField(max_length=64, allow_blank=True, validators=[validate_single_line])
    machine_type = serializers.CharField(
        max_length=32,
        allow_blank=True,
        help_text=_("hw_machine_type: pseries for ppc64le; pc or q35 for x86_64."),
        validators=[validate_single_line],
    )
    min_disk_gb = serializers.IntegerField(min_value=0, max_value=PG_INT_MAX)
    min_ram_mb = serializers.IntegerField(min_value=0, max_value=PG_INT_MAX)


class FlavorFitSerializer(serializers.Serializer):
    architecture = serializers.CharField()
    suits = serializers.BooleanField(help_text=_("The flavor's extra specs allow this architecture."))
    host_fits = serializers.BooleanField(help_text=_("The largest host of this architecture could hold it."))
    offered_images = serializers.IntegerField()
    all_images = serializers.IntegerField()


class CatalogFlavorSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="cloud_id", read_only=True)
    architectures = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text=_("Where developers can use it now.")
    )
    fits = FlavorFitSerializer(many=True, read_only=True)

    class Meta:
        model = CloudFlavor
        fields = [
            "id",
            "name",
            "vcpus",
            "ram_mb",
            "disk_gb",
            "is_public",
            "offered",
            "extra_specs",
            "architectures",
            "fits",
        ]


class FlavorOfferInputSerializer(serializers.Serializer):
    offered = serializers.BooleanField()


class ImageImportSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    progress_percent = serializers.IntegerField(read_only=True, allow_null=True)
    finished = serializers.BooleanField(read_only=True)
    resumes_at = serializers.CharField(read_only=True)
    message = serializers.CharField(
        source="text", read_only=True, help_text=_("What happened, in the language the client asked for.")
    )

    class Meta:
        model = ImageImport
        fields = [
            "id",
            "name",
            "display_name",
            "architecture",
            "os_distro",
            "os_version",
            "min_disk_gb",
            "min_ram_mb",
            "machine_type",
            "target_format",
            "offer",
            "source",
            "original_filename",
            "source_bytes",
            "state",
            "completed",
            "finished",
            "resumes_at",
            "message",
            "attempts",
            "source_format",
            "virtual_size_bytes",
            "converted_bytes",
            "progress_bytes",
            "progress_total",
            "progress_percent",
            "local_sha512",
            "glance_image_id",
            "requested_by",
            "created_at",
            "updated_at",
            "finished_at",
        ]


class ImageImportInputSerializer(serializers.Serializer):
    """An import from a file already on the portal host (upload large files with scp or rsync)."""

    path = serializers.CharField(
        max_length=1024,
        help_text=_("Relative to the import directory on the Kennel server."),
        validators=[validate_single_line],
    )
    name = serializers.CharField(max_length=255, validators=[validate_single_line])
    architecture = serializers.ChoiceField(choices=Architecture.choices)
    display_name = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", validators=[validate_single_line]
    )
    os_distro = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", validators=[validate_single_line]
    )
    os_version = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", validators=[validate_single_line]
    )
    machine_type = serializers.CharField(
        max_length=32, required=False, allow_blank=True, default="", validators=[validate_single_line]
    )
    min_disk_gb = serializers.IntegerField(min_value=0, max_value=PG_INT_MAX, required=False, default=0)
    min_ram_mb = serializers.IntegerField(min_value=0, max_value=PG_INT_MAX, required=False, default=0)
    target_format = serializers.ChoiceField(
        choices=ImageImport.TargetFormat.choices, required=False, default=ImageImport.TargetFormat.QCOW2
    )
    offer = serializers.BooleanField(required=False, default=False)
