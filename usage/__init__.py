"""What servers and VMs really use: CPU, memory, disk and network from Prometheus (node and libvirt
exporters), beside what Placement says is allocated; idle VMs and their reclaim list."""
