"""The exporter emulator: the real exporters' names and labels, counters that only grow at the rate
the load says, a fixed idle rule, and the cloud's running servers as its VMs."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exportersim.estate import DEMO_HOSTS, VmSpec, vm_is_idle, vm_load, vms_from_cloud
from exportersim.exposition import LibvirtCollector, NodeCollector, render

VM = VmSpec(uuid="6a1c0000-0000-4000-8000-000000000001", domain="instance-0000002a", name="web",
            host="x2", vcpus=4, ram_mb=8192, disk_gb=80)  # fmt: skip


def families(text: bytes) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def test_node_metrics_have_node_exporters_names_and_labels():
    found = families(render(NodeCollector(DEMO_HOSTS[2], 1_800_000_000.0)))
    assert {"node_cpu_seconds", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
            "node_filesystem_size_bytes", "node_filesystem_avail_bytes", "node_network_receive_bytes",
            "node_network_transmit_bytes", "node_load1"} <= set(found)  # fmt: skip
    cpu = found["node_cpu_seconds"].samples
    assert {s.labels["mode"] for s in cpu} >= {"idle", "user", "system", "iowait"}
    assert len({s.labels["cpu"] for s in cpu}) == DEMO_HOSTS[2].cpus


def test_libvirt_metrics_name_each_domain_and_its_nova_id():
    found = families(render(LibvirtCollector([VM], 1_800_000_000.0)))
    cpu = found["libvirt_domain_info_cpu_time_seconds"].samples[0]
    assert cpu.labels == {"domain": "instance-0000002a", "uuid": VM.uuid}
    block = found["libvirt_domain_block_stats_read_bytes"].samples[0].labels
    assert block["target_device"] == "vda" and VM.uuid in block["source_file"]
    assert (
        found["libvirt_domain_interface_stats_receive_bytes"].samples[0].labels["source_bridge"] == "br-int"
    )


def test_counters_grow_at_the_rate_the_load_says():
    load = vm_load(VM)
    t = 1_800_000_000.0
    before = (
        families(render(LibvirtCollector([VM], t)))["libvirt_domain_info_cpu_time_seconds"].samples[0].value
    )
    after = (
        families(render(LibvirtCollector([VM], t + 10)))["libvirt_domain_info_cpu_time_seconds"]
        .samples[0]
        .value
    )
    assert (after - before) / 10 == pytest.approx(load.cpu.rate(t + 5) * VM.vcpus, rel=0.01)


def test_the_idle_rule_is_fixed_by_name_then_by_id():
    assert vm_is_idle(VmSpec(**{**VM.__dict__, "name": "idle-box"}))
    assert not vm_is_idle(VmSpec(**{**VM.__dict__, "name": "busy-box"}))
    assert vm_is_idle(VM) == vm_is_idle(VM)
    idle = vm_load(VmSpec(**{**VM.__dict__, "name": "idle-box"}))
    assert idle.cpu.base * (1 + idle.cpu.swing) < 0.02 and idle.receive.base + idle.transmit.base < 2048


@pytest.mark.integration
def test_the_cloud_source_lists_the_running_servers_of_every_project():
    from portal.cloud import cloud

    running = {s.id for s in cloud().list_servers() if s.status == "ACTIVE"}
    assert {vm.uuid for vm in vms_from_cloud()} >= running
