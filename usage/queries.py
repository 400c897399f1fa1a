"""The PromQL Kennel asks: one expression per list and per chart, never one per VM or host.

Several figures travel in one expression: each is tagged with a ``figure`` label
(``label_replace(expr, "figure", "cpu", "", "")``) and joined with ``or``, so a list of hosts or VMs
with six columns is still one query. Series are grouped by the host label and the VM label of the
settings (``instance`` and ``uuid`` by default), the labels Kennel maps to servers and VMs. No text a
user typed reaches a query: host names come from the inventory and are escaped, VM ids are Nova's.
"""

from __future__ import annotations

import re

from django.conf import settings

# Filesystems and network devices that are not a host's own disks and uplinks.
FILESYSTEMS = 'fstype!~"tmpfs|devtmpfs|ramfs|overlay|squashfs|nsfs|fuse.*|autofs"'
DEVICES = 'device!~"lo|veth.*|tap.*|qbr.*|qvb.*|qvo.*|br-.*|virbr.*|docker.*|ovs-system|vxlan.*|genev.*"'


def host_label() -> str:
    return str(settings.KENNEL_PROMETHEUS_HOST_LABEL)


def vm_label() -> str:
    return str(settings.KENNEL_PROMETHEUS_VM_LABEL)


def rate_window(step: float = 0) -> str:
    """rate()'s range: the configured one, or the chart's step if that is longer (no sample skipped)."""
    return f"{max(int(settings.KENNEL_PROMETHEUS_RATE_SECONDS), int(step))}s"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def host_matcher(names: list[str]) -> str:
    """Series of the hosts called any of ``names``: the label's value may carry a domain or a port
    (``x2``, ``x2.dc1.example.org:9100``), in any case."""
    alternatives = "|".join(sorted({re.escape(n.lower()) for n in names if n}))
    return f"{host_label()}=~{_quote(f'(?i)({alternatives})([.:].*)?')}"


def vm_matcher(server_id: str) -> str:
    return f"{vm_label()}={_quote(server_id)}"


def vms_matcher(server_ids: list[str]) -> str:
    """Series of any of these VMs (a short list only: Prometheus 2.42 matches a long alternation slowly,
    ~0.25 s for 2,000 ids, more than evaluating every VM's series)."""
    # A hyphen outside brackets is literal: Nova's ids stay plain strings Prometheus can look up as a set.
    alternatives = "|".join(sorted({re.escape(i).replace("\\-", "-") for i in server_ids if i}))
    return f"{vm_label()}=~{_quote(alternatives)}"


def figures(parts: dict[str, str]) -> str:
    return " or ".join(f'label_replace({expr}, "figure", "{name}", "", "")' for name, expr in parts.items())


def _sel(metric: str, *matchers: str) -> str:
    inner = ",".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}" if inner else metric


def host_figures(*, where: str = "", step: float = 0, charts: str = "", use_rules: bool = False) -> str:
    """Per host: CPUs, busy CPUs (cores), memory, disk, network, load, and what its VMs use (with
    ``use_rules``, from the VMs' recorded CPU rates; a chart never)."""
    h, r = host_label(), rate_window(step)
    by = f"by ({h})"
    idle = _sel("node_cpu_seconds_total", 'mode="idle"', where)
    fs = _sel("node_filesystem_size_bytes", FILESYSTEMS, where)
    fs_avail = _sel("node_filesystem_avail_bytes", FILESYSTEMS, where)
    parts = {
        "cpus": f"count {by} ({idle})",
        "cpu_used": f"count {by} ({idle}) - sum {by} (rate({idle}[{r}]))",
        "vm_cpu": f"sum {by} ({_sel(recorded('cpu'), where)})"
        if use_rules and not charts
        else f"sum {by} (rate({_sel(VM_COUNTERS['cpu'], where)}[{r}]))",
        "memory_total": f"sum {by} ({_sel('node_memory_MemTotal_bytes', where)})",
        "memory_used": f"sum {by} ({_sel('node_memory_MemTotal_bytes', where)} - "
        f"{_sel('node_memory_MemAvailable_bytes', where)})",
        "disk_total": f"sum {by} ({fs})",
        "disk_used": f"sum {by} ({fs} - {fs_avail})",
        "net_rx": f"sum {by} (rate({_sel('node_network_receive_bytes_total', DEVICES, where)}[{r}]))",
        "net_tx": f"sum {by} (rate({_sel('node_network_transmit_bytes_total', DEVICES, where)}[{r}]))",
        "load1": f"sum {by} ({_sel('node_load1', where)})",
        "vms": f"count {by} ({_sel('libvirt_domain_info_virtual_cpus', where)})",
        "vm_vcpus": f"sum {by} ({_sel('libvirt_domain_info_virtual_cpus', where)})",
    }
    if charts:
        parts = {name: parts[name] for name in CHART_FIGURES[charts]}
    return figures(parts)


# The libvirt exporter's counters a VM's figures are the rates of.
VM_COUNTERS = {
    "cpu": "libvirt_domain_info_cpu_time_seconds_total",
    "disk_read": "libvirt_domain_block_stats_read_bytes_total",
    "disk_write": "libvirt_domain_block_stats_write_bytes_total",
    "net_rx": "libvirt_domain_interface_stats_receive_bytes_total",
    "net_tx": "libvirt_domain_interface_stats_transmit_bytes_total",
}


def recorded(figure: str) -> str:
    """The series a recording rule keeps of a VM counter's rate, by VM and host."""
    return f"kennel_vm:{figure}:rate"


def recording_rules(*, rate_seconds: int | None = None) -> dict:
    """Prometheus's recording rules for what Kennel's lists read (``manage.py prometheus_rules`` writes
    them): each VM counter's rate over ``KENNEL_PROMETHEUS_RATE_SECONDS``, by VM and host, evaluated by
    Prometheus at its evaluation interval. A list of 2,000 VMs then reads five thousand recorded samples
    instead of computing rate() over every VM's raw series (24,000 of them) at each read."""
    seconds = rate_seconds or int(settings.KENNEL_PROMETHEUS_RATE_SECONDS)
    by = f"by ({vm_label()}, {host_label()})"
    return {
        "groups": [
            {
                "name": "kennel",
                "rules": [
                    {"record": recorded(figure), "expr": f"sum {by} (rate({metric}[{seconds}s]))"}
                    for figure, metric in VM_COUNTERS.items()
                ],
            }
        ]
    }


def vm_figures(*, where: str = "", step: float = 0, charts: str = "", use_rules: bool = False) -> str:
    """Per VM (by its Nova id alone: the smallest answer): CPU cores busy, memory used, disk and network
    bytes per second. Its vCPUs, RAM and host Kennel knows. A chart asks for its own, finer figures (a
    rate over its step: never the recorded ones). ``use_rules``: the rates are the recorded series."""
    v, r = vm_label(), rate_window(step)
    by = f"by ({v})"

    def rate(figure: str) -> str:
        if use_rules and not charts:
            return f"sum {by} ({_sel(recorded(figure), where)})"
        return f"sum {by} (rate({_sel(VM_COUNTERS[figure], where)}[{r}]))"

    parts = {
        "cpu": rate("cpu"),
        "vcpus": f"sum {by} ({_sel('libvirt_domain_info_virtual_cpus', where)})",
        "memory_used": f"sum {by} ({_sel('libvirt_domain_info_memory_usage_bytes', where)})",
        "memory_total": f"sum {by} ({_sel('libvirt_domain_info_maximum_memory_bytes', where)})",
        "disk": f"{rate('disk_read')} + {rate('disk_write')}",
        "network": f"{rate('net_rx')} + {rate('net_tx')}",
        "disk_read": rate("disk_read"),
        "disk_write": rate("disk_write"),
        "net_rx": rate("net_rx"),
        "net_tx": rate("net_tx"),
    }
    names = CHART_FIGURES[charts] if charts else VM_LIST_FIGURES
    return figures({name: parts[name] for name in names})


# What a list of VMs needs: the four figures a row shows, and the vCPUs and RAM libvirt gives the VM (its
# CPU share, busiest first, and the totals), whatever the number of VMs.
VM_LIST_FIGURES = ("cpu", "vcpus", "memory_used", "memory_total", "disk", "network")


def idle_figures(*, window_seconds: int) -> str:
    """Per VM, averaged over the window: the busy share of its vCPUs and its network bytes per second."""
    v, r = vm_label(), rate_window()
    by = f"by ({v})"
    cpu = (
        f"sum {by} (rate(libvirt_domain_info_cpu_time_seconds_total[{r}])) "
        f"/ sum {by} (libvirt_domain_info_virtual_cpus)"
    )
    net = (
        f"sum {by} (rate(libvirt_domain_interface_stats_receive_bytes_total[{r}])) "
        f"+ sum {by} (rate(libvirt_domain_interface_stats_transmit_bytes_total[{r}]))"
    )
    return figures(
        {
            "cpu": f"avg_over_time(({cpu})[{window_seconds}s:{r}])",
            "network": f"avg_over_time(({net})[{window_seconds}s:{r}])",
        }
    )


# Which figures each chart draws (one query per chart).
CHART_FIGURES = {
    "cpu": ("cpus", "cpu_used", "vm_cpu"),
    "vm_cpu": ("vcpus", "cpu"),
    "memory": ("memory_total", "memory_used"),
    "disk": ("disk_total", "disk_used"),
    "vm_disk": ("disk_read", "disk_write"),
    "network": ("net_rx", "net_tx"),
}
