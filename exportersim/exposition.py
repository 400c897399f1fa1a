"""node-exporter and libvirt-exporter metrics for the emulated estate, in Prometheus's text format.

The names, types and labels are those of Debian's ``prometheus-node-exporter`` 1.5 and
``prometheus-libvirt-exporter`` (kumina's libvirt_exporter: one ``domain`` label, plus the block
device's ``source_file``/``target_device`` and the interface's ``source_bridge``/``target_device``).
libvirt's domain UUID is Nova's server id; it is added as a ``uuid`` label (as later libvirt exporters
do) so that a series maps to its VM without a lookup.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from exportersim.estate import GIB, HostSpec, VmSpec, vm_load
from exportersim.load import EPOCH, Wave

# How a busy CPU's time splits between node exporter's modes (idle is the rest).
_BUSY_MODES = (("user", 0.70), ("system", 0.20), ("iowait", 0.04), ("softirq", 0.03), ("irq", 0.01))
_ZERO_MODES = ("nice", "steal")


def host_waves(host: HostSpec) -> dict[str, Wave]:
    n = host.name
    return {
        "cpu": Wave.of(n, host.cpu_busy, 0.03 if host.hot else 0.3, "cpu"),
        "memory": Wave.of(n, host.memory_used, 0.05, "mem"),
        "receive": Wave.of(n, host.network_bps, 0.5, "rx"),
        "transmit": Wave.of(n, host.network_bps * 0.6, 0.5, "tx"),
        "disk": Wave.of(n, 2e5, 0.2, "fs"),  # bytes per second the filesystems fill
    }


class NodeCollector(Collector):
    """One host's node exporter at time ``at``."""

    def __init__(self, host: HostSpec, at: float) -> None:
        self.host, self.at = host, at

    def collect(self) -> Iterable[Metric]:
        host, t = self.host, self.at
        waves = host_waves(host)
        cpu = CounterMetricFamily(
            "node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", labels=["cpu", "mode"]
        )
        busy = waves["cpu"].total(t)
        elapsed = t - EPOCH
        # Every CPU of a host is as busy as the average: the scheduler spreads the load.
        busy = min(max(busy, 0.0), elapsed)
        for index in range(host.cpus):
            c = str(index)
            cpu.add_metric([c, "idle"], elapsed - busy)
            for mode, share in _BUSY_MODES:
                cpu.add_metric([c, mode], busy * share)
            for mode in _ZERO_MODES:
                cpu.add_metric([c, mode], 0.0)
        yield cpu
        rate = waves["cpu"].rate(t) * host.cpus
        for minutes in (1, 5, 15):
            gauge = GaugeMetricFamily(f"node_load{minutes}", f"{minutes}m load average.")
            gauge.add_metric([], round(rate * (1.0 + 0.02 * minutes), 2))
            yield gauge
        total = host.memory_bytes
        available = total * (1 - waves["memory"].rate(t))
        for name, value in (
            ("node_memory_MemTotal_bytes", total),
            ("node_memory_MemAvailable_bytes", available),
            ("node_memory_MemFree_bytes", available * 0.4),
            ("node_memory_Cached_bytes", available * 0.5),
            ("node_memory_Buffers_bytes", 2 * GIB),
        ):
            gauge = GaugeMetricFamily(name, f"Memory information field {name[12:-6]}_bytes.")
            gauge.add_metric([], float(int(value)))
            yield gauge
        labels = ["device", "fstype", "mountpoint"]
        size = GaugeMetricFamily("node_filesystem_size_bytes", "Filesystem size in bytes.", labels=labels)
        avail = GaugeMetricFamily("node_filesystem_avail_bytes", "Filesystem space available.", labels=labels)
        free = GaugeMetricFamily(
            "node_filesystem_free_bytes", "Filesystem free space in bytes.", labels=labels
        )
        filesystems = [("/dev/sda2", "ext4", "/", host.root_bytes, 0.35)]
        if host.instances_bytes:
            filesystems.append(("/dev/sdb1", "xfs", "/var/lib/nova/instances", host.instances_bytes, 0.55))
        filesystems.append(("tmpfs", "tmpfs", "/run", 32 * GIB, 0.01))
        for device, fstype, mount, capacity, used in filesystems:
            # Fills slowly and is cleaned up every few hours: a saw tooth around the used share.
            drift = (waves["disk"].total(t) % (capacity * 0.05)) if fstype != "tmpfs" else 0.0
            left = capacity * (1 - used) - drift
            for family, value in ((size, capacity), (avail, left), (free, left + capacity * 0.05)):
                family.add_metric([device, fstype, mount], float(int(value)))
        yield size
        yield avail
        yield free
        for direction, wave in (("receive", waves["receive"]), ("transmit", waves["transmit"])):
            counter = CounterMetricFamily(
                f"node_network_{direction}_bytes_total",
                f"Network device statistic {direction}_bytes.",
                labels=["device"],
            )
            counter.add_metric(["eno1"], float(int(wave.total(t))))
            counter.add_metric(["lo"], float(int(wave.total(t) * 0.1)))
            yield counter
        boot = GaugeMetricFamily("node_boot_time_seconds", "Node boot time, in unixtime.")
        boot.add_metric([], EPOCH)
        yield boot


class LibvirtCollector(Collector):
    """One compute host's libvirt exporter at time ``at``: its running domains."""

    def __init__(self, vms: list[VmSpec], at: float) -> None:
        self.vms, self.at = vms, at

    def collect(self) -> Iterable[Metric]:
        t = self.at
        dom = ["domain", "uuid"]
        up = GaugeMetricFamily("libvirt_up", "Whether scraping libvirt's metrics was successful.")
        up.add_metric([], 1.0)
        yield up
        families = {
            "max": GaugeMetricFamily(
                "libvirt_domain_info_maximum_memory_bytes",
                "Maximum allowed memory of the domain, in bytes.",
                labels=dom,
            ),
            "mem": GaugeMetricFamily(
                "libvirt_domain_info_memory_usage_bytes", "Memory usage of the domain, in bytes.", labels=dom
            ),
            "vcpus": GaugeMetricFamily(
                "libvirt_domain_info_virtual_cpus", "Number of virtual CPUs for the domain.", labels=dom
            ),
            "cpu": CounterMetricFamily(
                "libvirt_domain_info_cpu_time_seconds_total",
                "Amount of CPU time used by the domain, in seconds.",
                labels=dom,
            ),
        }
        block = [*dom, "source_file", "target_device"]
        iface = [*dom, "source_bridge", "target_device"]
        counters = {
            "rd": CounterMetricFamily(
                "libvirt_domain_block_stats_read_bytes_total",
                "Number of bytes read from a block device, in bytes.",
                labels=block,
            ),
            "wr": CounterMetricFamily(
                "libvirt_domain_block_stats_write_bytes_total",
                "Number of bytes written from a block device, in bytes.",
                labels=block,
            ),
            "rdreq": CounterMetricFamily(
                "libvirt_domain_block_stats_read_requests_total",
                "Number of read requests from a block device.",
                labels=block,
            ),
            "wrreq": CounterMetricFamily(
                "libvirt_domain_block_stats_write_requests_total",
                "Number of write requests from a block device.",
                labels=block,
            ),
            "rx": CounterMetricFamily(
                "libvirt_domain_interface_stats_receive_bytes_total",
                "Number of bytes received on a network interface, in bytes.",
                labels=iface,
            ),
            "tx": CounterMetricFamily(
                "libvirt_domain_interface_stats_transmit_bytes_total",
                "Number of bytes transmitted on a network interface, in bytes.",
                labels=iface,
            ),
            "rxp": CounterMetricFamily(
                "libvirt_domain_interface_stats_receive_packets_total",
                "Number of packets received on a network interface.",
                labels=iface,
            ),
            "txp": CounterMetricFamily(
                "libvirt_domain_interface_stats_transmit_packets_total",
                "Number of packets transmitted on a network interface.",
                labels=iface,
            ),
        }
        for vm in self.vms:
            load = vm_load(vm)
            ids = [vm.domain, vm.uuid]
            ram = vm.ram_mb * 1024 * 1024
            families["max"].add_metric(ids, float(ram))
            families["mem"].add_metric(ids, float(int(ram * load.memory.rate(t))))
            families["vcpus"].add_metric(ids, float(vm.vcpus))
            families["cpu"].add_metric(ids, round(load.cpu.total(t) * vm.vcpus, 3))
            disk = [*ids, f"/var/lib/nova/instances/{vm.uuid}/disk", "vda"]
            read, write = load.read.total(t), load.write.total(t)
            counters["rd"].add_metric(disk, float(int(read)))
            counters["wr"].add_metric(disk, float(int(write)))
            counters["rdreq"].add_metric(disk, float(int(read / 16384)))
            counters["wrreq"].add_metric(disk, float(int(write / 8192)))
            nic = [*ids, "br-int", f"tap{vm.uuid[:11]}"]
            rx, tx = load.receive.total(t), load.transmit.total(t)
            counters["rx"].add_metric(nic, float(int(rx)))
            counters["tx"].add_metric(nic, float(int(tx)))
            counters["rxp"].add_metric(nic, float(int(rx / 900)))
            counters["txp"].add_metric(nic, float(int(tx / 900)))
        yield from families.values()
        yield from counters.values()


def render(collector: Collector) -> bytes:
    from prometheus_client import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry)
