"""A Nova fake virt driver that looks like one of the team's real servers.

Nova's own ``FakeDriver`` reports 1000 vCPUs, x86_64 for every node and a
random node UUID per process (so a restarted nova-compute refuses to start).
This subclass presents exactly one node per nova-compute process, named
after the compute host, with:

* a stable node UUID kept in ``$state_path/compute_id`` (Nova's own local
  node identity, as a real single-node driver does);
* the node's architecture in ``supported_instances`` (what
  ImagePropertiesFilter reads) and in ``cpu_info``, plus the
  ``HW_ARCH_<ARCH>`` trait on its resource provider (what the
  ``image_metadata_prefilter`` asks Placement for);
* realistic vCPU / RAM / disk totals taken from the ``[kennel_fake]``
  config section of that compute's nova.conf;
* snapshots that finish: Nova's ``FakeDriver.snapshot`` uploads nothing, so
  the image stays ``queued`` for ever; this one uploads a small stand-in
  disk, as the libvirt driver uploads the real one, and the image becomes
  ``active`` (a VM can then be built from it).

It is selected with ``compute_driver = kennel_fake.KennelFakeDriver``;
Nova imports drivers only under ``nova.virt.``, so ``kennel_devcloud.launchers``
registers this module there before nova-compute starts.
"""

from __future__ import annotations

import collections
import io
import time

import nova.conf
from nova.objects import fields as obj_fields
from nova.virt import fake
from oslo_config import cfg
from oslo_serialization import jsonutils

CONF = nova.conf.CONF

kennel_fake_opts = [
    cfg.StrOpt("architecture", default="x86_64", help="Architecture of this host (x86_64, ppc64le, ...)."),
    cfg.IntOpt("vcpus", default=32, help="Hardware threads the host offers."),
    cfg.IntOpt("memory_mb", default=262144, help="Physical memory of the host in MiB."),
    cfg.IntOpt("local_gb", default=1800, help="Local disk of the host in GB."),
    cfg.StrOpt("cpu_model", default="Cascadelake-Server"),
    cfg.StrOpt("cpu_vendor", default="Intel"),
    cfg.IntOpt("sockets", default=2),
    cfg.IntOpt("cores", default=16),
    cfg.IntOpt("threads", default=1),
]
CONF.register_opts(kennel_fake_opts, group="kennel_fake")

_BOOT_TIME = time.time()


class KennelFakeDriver(fake.FakeDriverWithoutFakeNodes):
    """One realistic fake node per nova-compute, with a stable identity."""

    def __init__(self, virtapi, read_only=False):
        opts = CONF.kennel_fake
        self.architecture = obj_fields.Architecture.canonicalize(opts.architecture)
        # FakeDriver sizes its Resources and its Placement inventory from
        # these attributes, so set them before the parent constructor runs.
        self.vcpus = opts.vcpus
        self.memory_mb = opts.memory_mb
        self.local_gb = opts.local_gb
        super().__init__(virtapi, read_only=read_only)
        self.host_status_base["supported_instances"] = [
            (self.architecture, obj_fields.HVType.FAKE, obj_fields.VMMode.HVM)
        ]

    def _cpu_info(self) -> str:
        opts = CONF.kennel_fake
        return jsonutils.dumps(
            collections.OrderedDict(
                [
                    ("arch", self.architecture),
                    ("model", opts.cpu_model),
                    ("vendor", opts.cpu_vendor),
                    ("features", []),
                    ("topology", {"sockets": opts.sockets, "cores": opts.cores, "threads": opts.threads}),
                ]
            )
        )

    def get_available_resource(self, nodename):
        resources = super().get_available_resource(nodename)
        if resources:
            resources["cpu_info"] = self._cpu_info()
        return resources

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        super().update_provider_tree(provider_tree, nodename, allocations=allocations)
        # Placement-side architecture: lets hw_architecture become a required
        # trait (scheduler image_metadata_prefilter) instead of only a filter.
        provider_tree.add_traits(nodename, "HW_ARCH_" + self.architecture.upper())

    def snapshot(self, context, instance, image_id, update_task_state):
        super().snapshot(context, instance, image_id, update_task_state)
        from nova.image import glance

        disk_format = instance.system_metadata.get("image_disk_format") or "raw"
        stand_in = io.BytesIO(b"kennel devcloud snapshot of " + instance.uuid.encode() + b"\n" * 4000)
        glance.API().update(
            context,
            image_id,
            {"disk_format": disk_format, "container_format": "bare"},
            data=stand_in,
            purge_props=False,
        )

    def get_host_uptime(self) -> str:
        """Answer like uptime(1) does; the real command's output is what Nova passes on."""
        up = int(time.time() - _BOOT_TIME)
        days, rest = divmod(up, 86400)
        hours, minutes = divmod(rest // 60, 60)
        now = time.strftime("%H:%M:%S")
        return f" {now} up {days} days, {hours:2d}:{minutes:02d},  0 users,  load average: 0.00, 0.00, 0.00"
