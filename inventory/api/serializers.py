from rest_framework import serializers

from inventory.models import Server


class ServerSerializer(serializers.ModelSerializer):
    datacenter = serializers.SlugRelatedField(slug_field="code", read_only=True)

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
        ]
