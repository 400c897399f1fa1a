"""Seeding the mirror's estate for the page benchmarks (a helper, not a benchmark: no ``main``).

``bench/dashboard.py`` and ``bench/scale.py`` both seed compute hosts straight into the mirror (the
cloud's hypervisor, the physical server behind it and its BMC state); this is the one place that does.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from inventory.models import DataCenter, HardwareState, Server, ServerRole
from provisioning.models import CloudHost

DATACENTERS = ("dc1", "dc2")


def seed_hosts(start: int, count: int, *, size: int = 1) -> None:
    """``count`` compute hosts numbered from ``start``: every fourth ppc64le, each with its physical
    server, a BMC state (one in 10 unreachable, one in 25 hot, one in 8 off) and some usage.

    ``size`` multiplies a host's capacity: 1 is a 32-core, 256 GiB, 1.8 TB host, 2 twice that. Usage
    grows with the host's number and wraps below its capacity.
    """
    now = timezone.now()
    dcs = [
        DataCenter.objects.get_or_create(code=code, defaults={"name": code.upper()})[0]
        for code in DATACENTERS
    ]
    CloudHost.objects.bulk_create(
        [
            CloudHost(
                name=f"h{i}",
                architecture="ppc64le" if i % 4 == 0 else "x86_64",
                state="up",
                status="enabled",
                inventories={
                    "VCPU": {
                        "total": 32 * size,
                        "reserved": 0,
                        "allocation_ratio": 16.0,
                        "used": (i * 37) % (480 * size),
                    },
                    "MEMORY_MB": {
                        "total": 262144 * size,
                        "reserved": 4096,
                        "allocation_ratio": 1.2,
                        "used": (i * 1024) % (300000 * size),
                    },
                    "DISK_GB": {
                        "total": 1800 * size,
                        "reserved": 0,
                        "allocation_ratio": 1.0,
                        "used": (i * 53) % (1800 * size - 100),
                    },
                },
                seen_at=now,
            )
            for i in range(start, start + count)
        ]
    )
    servers = Server.objects.bulk_create(
        [
            Server(
                name=f"srv-h{i}",
                architecture="ppc64le" if i % 4 == 0 else "x86_64",
                datacenter=dcs[i % len(dcs)],
                roles=[ServerRole.COMPUTE.value],
                hypervisor_hostname=f"h{i}",
                bmc_protocol="ipmi",
                bmc_address=f"10.{i // 62500}.{i // 250 % 250}.{i % 250}",
                bmc_port=623,
                bmc_username="ADMIN",
            )
            for i in range(start, start + count)
        ]
    )
    HardwareState.objects.bulk_create(
        [
            HardwareState(
                server=server,
                power_state="off" if i % 8 == 0 else "on",
                health="warning" if i % 13 == 0 else "ok",
                reachable=i % 10 != 0,
                max_temperature_c=None if i % 10 == 0 else (86.0 if i % 25 == 0 else 55.0),
                polled_at=now,
                last_seen_at=now - timedelta(hours=i % 10 == 0),
                error="The BMC did not answer." if i % 10 == 0 else "",
            )
            for i, server in zip(range(start, start + count), servers, strict=True)
        ]
    )
