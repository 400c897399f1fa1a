from rest_framework import serializers

FIGURES_HELP = "figure name -> value; a figure Prometheus has no series for is left out"


class UsageStateSerializer(serializers.Serializer):
    state = serializers.CharField(
        help_text="ok; not_configured (KENNEL_PROMETHEUS_URL unset); unavailable (Prometheus away: no rows)",
    )
    error = serializers.CharField()


class UsageHostUsageSerializer(serializers.Serializer):
    name = serializers.CharField()
    server_id = serializers.IntegerField(allow_null=True)
    architecture = serializers.CharField()
    in_openstack = serializers.BooleanField()
    cpu_percent = serializers.FloatField(allow_null=True)
    memory_percent = serializers.FloatField(allow_null=True)
    disk_percent = serializers.FloatField(allow_null=True)
    vcpu_allocated = serializers.IntegerField(allow_null=True, help_text="Placement: vCPUs allocated")
    vcpu_capacity = serializers.IntegerField(allow_null=True, help_text="Placement: (total-reserved)*ratio")
    vcpu_overcommit = serializers.FloatField(allow_null=True, help_text="allocated vCPUs per physical CPU")
    vm_cpu_of_allocated = serializers.FloatField(
        allow_null=True, help_text="% of the allocated vCPUs the VMs really keep busy"
    )
    figures = serializers.DictField(child=serializers.FloatField(), help_text=FIGURES_HELP)


class UsageChartSerializer(serializers.Serializer):
    name = serializers.CharField()
    start = serializers.FloatField()
    end = serializers.FloatField()
    step = serializers.FloatField()
    times = serializers.ListField(child=serializers.FloatField())
    lines = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="figure -> value at each time (null: no sample)",
    )


class UsageHostListSerializer(UsageStateSerializer):
    hosts = UsageHostUsageSerializer(many=True)


class UsageHostDetailSerializer(UsageStateSerializer):
    host = UsageHostUsageSerializer(allow_null=True)
    charts = UsageChartSerializer(many=True)


class UsageVmUsageSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="vm.pk")
    name = serializers.CharField(source="vm.name")
    team = serializers.CharField(source="vm.team.slug")
    owner = serializers.CharField(source="vm.owner.username")
    server_id = serializers.CharField(source="vm.server_id")
    vcpus = serializers.IntegerField(source="vm.vcpus")
    host = serializers.CharField()
    cpu_percent = serializers.FloatField(allow_null=True, help_text="% of its vCPUs busy")
    memory_percent = serializers.FloatField(allow_null=True)
    disk_bps = serializers.FloatField(allow_null=True)
    network_bps = serializers.FloatField(allow_null=True)
    figures = serializers.DictField(child=serializers.FloatField(), help_text=FIGURES_HELP)


class UsageVmTotalsSerializer(serializers.Serializer):
    vms = serializers.IntegerField()
    measured = serializers.IntegerField()
    vcpus = serializers.FloatField()
    cpu_cores = serializers.FloatField()
    cpu_percent = serializers.FloatField(allow_null=True)
    memory_used = serializers.FloatField()
    memory_total = serializers.FloatField()
    disk_bps = serializers.FloatField()
    network_bps = serializers.FloatField()


class UsageVmListSerializer(UsageStateSerializer):
    count = serializers.IntegerField(help_text="running VMs in all pages")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    vms = UsageVmUsageSerializer(many=True)
    totals = UsageVmTotalsSerializer()


class UsageVmDetailSerializer(UsageStateSerializer):
    vm = UsageVmUsageSerializer(allow_null=True)
    charts = UsageChartSerializer(many=True)


class IdleVmSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    vm = serializers.IntegerField(source="vm.pk")
    name = serializers.CharField(source="vm.name")
    team = serializers.CharField(source="vm.team.slug")
    owner = serializers.CharField(source="vm.owner.username")
    cpu_percent = serializers.FloatField()
    network_bps = serializers.FloatField()
    window_days = serializers.IntegerField()
    flagged_at = serializers.DateTimeField()
    notified_at = serializers.DateTimeField(allow_null=True)


class IdleReclaimSerializer(serializers.Serializer):
    confirm = serializers.CharField(required=False, help_text="the VM's name (needed to delete)")
