"""Read-only utilization of the compute hosts (managers and admins), from the cloud mirror."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from inventory.selectors import (
    headroom,
    host_utilization_list,
    utilization_by_architecture,
    utilization_by_datacenter,
)
from portal.access import Capability, can
from provisioning.selectors import hosts_synced_at


class ResourceUsageSerializer(serializers.Serializer):
    resource_class = serializers.CharField()
    capacity = serializers.IntegerField(help_text="(total - reserved) * allocation_ratio")
    used = serializers.IntegerField()
    free = serializers.IntegerField()
    percent = serializers.FloatField()


class HostUtilizationSerializer(serializers.Serializer):
    name = serializers.CharField()
    architecture = serializers.CharField()
    state = serializers.CharField()
    status = serializers.CharField()
    vm_count = serializers.IntegerField()
    server_id = serializers.IntegerField(allow_null=True)
    server_name = serializers.CharField()
    datacenter = serializers.CharField()
    resources = ResourceUsageSerializer(many=True)


class UtilizationGroupSerializer(serializers.Serializer):
    key = serializers.CharField()
    host_count = serializers.IntegerField()
    vm_count = serializers.IntegerField()
    resources = ResourceUsageSerializer(many=True)


class FlavorHeadroomSerializer(serializers.Serializer):
    architecture = serializers.CharField()
    flavor = serializers.CharField()
    vcpus = serializers.IntegerField()
    ram_mb = serializers.IntegerField()
    disk_gb = serializers.IntegerField()
    count = serializers.IntegerField()


class UtilizationSerializer(serializers.Serializer):
    synced_at = serializers.DateTimeField(allow_null=True)
    sync_error = serializers.CharField()
    hosts = HostUtilizationSerializer(many=True)
    by_architecture = UtilizationGroupSerializer(many=True)
    by_datacenter = UtilizationGroupSerializer(many=True)
    headroom = FlavorHeadroomSerializer(many=True)


@extend_schema(responses={200: UtilizationSerializer})
@api_view(["GET"])
def utilization(request):
    """Per compute host, per architecture and per data center: capacity by Placement's rule, usage and
    VMs; and how many more VMs of each flavor fit per architecture (managers and admins)."""
    if not can(request.user, Capability.INVENTORY_VIEW):
        raise PermissionDenied
    user = request.user
    hosts = host_utilization_list(user=user)
    synced_at, sync_error = hosts_synced_at()
    data = {
        "synced_at": synced_at,
        "sync_error": sync_error,
        "hosts": hosts,
        "by_architecture": utilization_by_architecture(user=user, hosts=hosts),
        "by_datacenter": utilization_by_datacenter(user=user, hosts=hosts),
        "headroom": headroom(user=user),
    }
    return Response(UtilizationSerializer(data).data)
