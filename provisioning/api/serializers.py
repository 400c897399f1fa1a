"""Serializers for VMs and the catalog: output serializers for reads, input serializers for actions."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.architectures import Architecture
from portal.cloud.gateway import ServerAction
from portal.validators import validate_single_line
from provisioning import cloudinit
from provisioning.models import CloudFlavor, CloudImage, Profile, VmEvent, VmRequest, VmSnapshot
from provisioning.server_states import ServerState
from provisioning.services.vm_requests import VM_COUNT_MAX


class VmEventSerializer(serializers.ModelSerializer):
    message = serializers.CharField(
        source="text", read_only=True, help_text=_("What happened, in the language the client asked for.")
    )
    message_id = serializers.SerializerMethodField(
        help_text=_("The message's catalogue id (null for steps stored before messages had one).")
    )
    message_params = serializers.SerializerMethodField(help_text=_("The message's parameters."))

    class Meta:
        model = VmEvent
        fields = ["at", "status", "message", "message_id", "message_params"]

    def get_message_id(self, event: VmEvent) -> str | None:
        return (event.message_ref or {}).get("id")

    def get_message_params(self, event: VmEvent) -> dict[str, Any]:
        return (event.message_ref or {}).get("params") or {}


# What ``state`` can be: a server's state, or a request's status while there is no server.
VM_STATES = list(dict([*VmRequest.Status.choices, *ServerState.choices]).items())


class VmSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    finished = serializers.BooleanField(read_only=True, help_text=_("The request's life cycle is over."))
    state = serializers.ChoiceField(
        choices=VM_STATES,
        read_only=True,
        help_text=_(
            "What to show first: server_state, or the request's status while there is no server "
            "(queued, building, failed) or it is deleted."
        ),
    )
    status_message = serializers.CharField(
        source="status_message_text",
        read_only=True,
        help_text=_("Why the status is what it is, if anything."),
    )
    console_error = serializers.CharField(
        source="console_error_text",
        read_only=True,
        help_text=_("Why the cloud gave no console, when it did not."),
    )
    console_log_error = serializers.CharField(source="console_log_error_text", read_only=True)
    allowed_actions = serializers.SerializerMethodField(
        help_text=_("The actions that make sense in the server's state now; the others are refused (409).")
    )

    class Meta:
        model = VmRequest
        fields = [
            "id",
            "name",
            "team",
            "owner",
            "architecture",
            "image_name",
            "flavor_name",
            "vcpus",
            "ram_mb",
            "disk_gb",
            "state",
            "server_state",
            "status",
            "status_message",
            "finished",
            "server_id",
            "server_status",
            "server_task_state",
            "locked",
            "allowed_actions",
            "host",
            "addresses",
            "floating_ip",
            "console_url",
            "console_url_at",
            "console_error",
            "console_log",
            "console_log_at",
            "console_log_error",
            "created_at",
            "updated_at",
            "expires_at",
        ]
        extra_kwargs = {
            "server_state": {
                "help_text": _(
                    "The server's state in the cloud, from Nova's status and task state; empty while "
                    "there is no server yet."
                )
            },
            "status": {
                "help_text": _(
                    "The request's life cycle in Kennel: queued, building, active (built), failed, "
                    "deleting, deleted. Not the server's state."
                )
            },
            "server_status": {"help_text": _("Nova's status, as mirrored (ACTIVE, SHUTOFF, REBOOT ...).")},
            "server_task_state": {"help_text": _("Nova's task state, as mirrored (powering-off ...).")},
            "locked": {
                "help_text": _("Locked against changes (Nova's lock): every action but unlock is refused.")
            },
            "console_url": {"help_text": _("The last console URL (short-lived); POST …/console/ for one.")},
            "console_log": {
                "help_text": _("The server's console output (last lines) as read at console_log_at.")
            },
        }

    def get_allowed_actions(self, vm: VmRequest) -> list[str]:
        return sorted(vm.allowed_actions)


class VmSnapshotSerializer(serializers.ModelSerializer):
    vm = serializers.PrimaryKeyRelatedField(read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    image = serializers.SlugRelatedField(
        slug_field="cloud_id", read_only=True, help_text=_("The Glance image's id, once the cloud made it.")
    )
    message = serializers.CharField(
        source="text", read_only=True, help_text=_("Why it failed, in the language the client asked for.")
    )

    class Meta:
        model = VmSnapshot
        fields = ["id", "vm", "team", "name", "architecture", "status", "image", "message", "created_at"]


class VmDetailSerializer(VmSerializer):
    events = VmEventSerializer(many=True, read_only=True)
    snapshots = VmSnapshotSerializer(many=True, read_only=True)

    class Meta(VmSerializer.Meta):
        fields = [*VmSerializer.Meta.fields, "events", "snapshots"]


class VmRequestInputSerializer(serializers.Serializer):
    team = serializers.SlugField(help_text=_("The team's short name."))
    name = serializers.CharField(max_length=63, validators=[validate_single_line])
    image = serializers.CharField(help_text=_("Image id or name."), validators=[validate_single_line])
    flavor = serializers.CharField(help_text=_("Flavor id or name."), validators=[validate_single_line])
    profile = serializers.CharField(
        required=False, allow_blank=True, help_text=_("Profile name."), validators=[validate_single_line]
    )
    architecture = serializers.ChoiceField(
        choices=Architecture.choices,
        required=False,
        help_text=_("If given, the image must be of this architecture."),
    )
    ssh_keys = serializers.ListField(
        child=serializers.CharField(validators=[cloudinit.validate_ssh_public_key]),
        required=False,
        max_length=20,
        help_text=_("OpenSSH public keys for the default user; without this, your imported keys."),
    )
    packages = serializers.ListField(
        child=serializers.CharField(validators=[cloudinit.validate_package_name]),
        required=False,
        max_length=50,
        help_text=_("Extra packages to install."),
    )


class VmBatchInputSerializer(VmRequestInputSerializer):
    count = serializers.IntegerField(
        min_value=1,
        max_value=VM_COUNT_MAX,
        help_text=_(
            "How many VMs; named name-1 … name-N. All fit within quota and capacity, or none is made."
        ),
    )


class VmResizeInputSerializer(serializers.Serializer):
    flavor = serializers.CharField(help_text=_("Flavor id or name."), validators=[validate_single_line])


class VmRebuildInputSerializer(serializers.Serializer):
    image = serializers.CharField(help_text=_("Image id or name."), validators=[validate_single_line])


class VmSnapshotInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=[validate_single_line])


VM_ACTIONS = [(a.value, a.value) for a in ServerAction]


class VmActionInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=VM_ACTIONS)


class VmFloatingIpInputSerializer(serializers.Serializer):
    attach = serializers.BooleanField(help_text=_("True to get a floating IP, false to release it."))


class VmExtendInputSerializer(serializers.Serializer):
    # The service refuses more than KENNEL_VM_LEASE_MAX_DAYS; this bound only keeps date math sane.
    days = serializers.IntegerField(min_value=1, max_value=36_500)


class ArchitectureSerializer(serializers.Serializer):
    architecture = serializers.CharField()
    image_count = serializers.IntegerField()
    host_count = serializers.IntegerField()


class ImageSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="cloud_id")
    team = serializers.SlugRelatedField(
        slug_field="slug",
        read_only=True,
        allow_null=True,
        help_text=_("The team whose own image (a snapshot) this is; null for the catalog's."),
    )

    class Meta:
        model = CloudImage
        fields = [
            "id",
            "name",
            "architecture",
            "os_distro",
            "os_version",
            "min_disk_gb",
            "min_ram_mb",
            "team",
        ]


class FlavorSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="cloud_id")
    fits = serializers.IntegerField(
        read_only=True,
        required=False,
        allow_null=True,
        help_text=_("How many more fit on the image's architecture now (and within the team's quota)."),
    )
    quota_fits = serializers.IntegerField(
        read_only=True,
        required=False,
        allow_null=True,
        help_text=_("How many more the team's quota allows; null: no team asked, or no bound."),
    )

    class Meta:
        model = CloudFlavor
        fields = ["id", "name", "vcpus", "ram_mb", "disk_gb", "fits", "quota_fits"]


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = Profile
        fields = ["id", "name", "description"]


class ProfileDetailSerializer(ProfileSerializer):
    parts = serializers.SerializerMethodField(help_text=_("What the profile configures, in order."))
    user_data = serializers.DictField(
        child=serializers.CharField(),
        read_only=True,
        help_text=_("The user-data a VM named vm-name gets, by architecture (without your SSH keys)."),
    )

    class Meta(ProfileSerializer.Meta):
        fields = [*ProfileSerializer.Meta.fields, "parts", "user_data"]

    def get_parts(self, profile: Profile) -> list[str]:
        return [part.get("kind", "?") for part in profile.parts]
