"""A tiny OpenStack that answers what the portal's reconciles read, for benchmarks: Keystone's version
discovery and password tokens (with a catalog), Nova's servers and hypervisors, Placement's providers
with their inventories, usages and traits, as the real services shape them (Nova pages servers 1,000
at a time with ``servers_links``, as its default ``max_limit`` does). Generated, not recorded: N
servers spread over P projects and H hypervisors, each server as rich as a real Nova answer (about
2 KB), so openstacksdk's parsing costs what it costs against a real cloud.

Runs in its own process (``serve()``) so the portal's CPU time can be measured alone; it counts the
requests per path (``GET /__stats``).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

NOVA_MAX_LIMIT = 1000
ARCHES = ("x86_64", "ppc64le")


def _id(kind: str, i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kennel-bench/{kind}/{i}"))


def server_id(i: int) -> str:
    return _id("server", i)


def project_id(i: int) -> str:
    return _id("project", i).replace("-", "")


def hypervisor_name(i: int) -> str:
    return f"cmp{i:04d}"


class Estate:
    """What the fake cloud holds; ``stopped`` servers answer SHUTOFF (a bench flips some between runs)."""

    def __init__(self, *, servers: int, hypervisors: int, projects: int, base: str) -> None:
        self.servers, self.hypervisors, self.projects, self.base = servers, hypervisors, projects, base
        self.stopped: set[int] = set()
        self.generation_bump = 0
        self.stats: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server_index = {server_id(i): i for i in range(servers)}
        self.provider_indexes = {_id("rp", i): i for i in range(hypervisors)}

    def server(self, i: int) -> dict:
        host = hypervisor_name(i % self.hypervisors)
        stopped = i in self.stopped
        return {
            "id": server_id(i),
            "name": f"vm-{i}",
            "status": "SHUTOFF" if stopped else "ACTIVE",
            "tenant_id": project_id(i % self.projects),
            "user_id": "9c3bb2b3b1c34d43a5c9b0f1d1e6f0aa",
            "metadata": {"kennel-request": str(i)} if i % 5 else {},
            "hostId": "c2f1a3e5d7b9" * 4,
            "image": {
                "id": _id("image", i % ARCHES.__len__()),
                "links": [{"rel": "bookmark", "href": f"{self.base}/compute/images/{_id('image', 0)}"}],
            },
            "flavor": {
                "vcpus": 1 + i % 8,
                "ram": 512 * (1 + i % 4),
                "disk": 10,
                "ephemeral": 0,
                "swap": 0,
                "original_name": f"m1.size{i % 8}",
                "extra_specs": {"hw_rng:allowed": "True"},
            },
            "created": "2026-11-01T10:00:00Z",
            "updated": "2026-11-30T10:00:00Z" if not stopped else "2026-12-02T10:00:00Z",
            "addresses": {
                f"team{i % self.projects}-net": [
                    {
                        "version": 4,
                        "addr": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                        "OS-EXT-IPS:type": "fixed",
                        "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:12:34:56",
                    }
                ]
            },
            "accessIPv4": "",
            "accessIPv6": "",
            "links": [
                {"rel": "self", "href": f"{self.base}/compute/v2.1/servers/{server_id(i)}"},
                {"rel": "bookmark", "href": f"{self.base}/compute/servers/{server_id(i)}"},
            ],
            "OS-DCF:diskConfig": "MANUAL",
            "progress": 0,
            "OS-EXT-AZ:availability_zone": "nova",
            "config_drive": "",
            "key_name": None,
            "OS-SRV-USG:launched_at": "2026-11-01T10:00:05.000000",
            "OS-SRV-USG:terminated_at": None,
            "OS-EXT-SRV-ATTR:host": host,
            "OS-EXT-SRV-ATTR:instance_name": f"instance-{i:08x}",
            "OS-EXT-SRV-ATTR:hypervisor_hostname": host,
            "OS-EXT-SRV-ATTR:reservation_id": f"r-{i:08x}",
            "OS-EXT-SRV-ATTR:launch_index": 0,
            "OS-EXT-SRV-ATTR:hostname": f"vm-{i}",
            "OS-EXT-SRV-ATTR:kernel_id": "",
            "OS-EXT-SRV-ATTR:ramdisk_id": "",
            "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
            "OS-EXT-SRV-ATTR:user_data": None,
            "OS-EXT-STS:task_state": None,
            "OS-EXT-STS:vm_state": "stopped" if stopped else "active",
            "OS-EXT-STS:power_state": 4 if stopped else 1,
            "os-extended-volumes:volumes_attached": [],
            "locked": False,
            "locked_reason": None,
            "description": None,
            "tags": [],
            "trusted_image_certificates": None,
            "host_status": "UP",
            "security_groups": [{"name": "default"}],
            "server_groups": [],
        }

    def servers_page(self, query: dict[str, list[str]]) -> dict:
        marker = query.get("marker", [None])[0]
        limit = min(int(query.get("limit", [NOVA_MAX_LIMIT])[0]), NOVA_MAX_LIMIT)
        since = query.get("changes-since", [None])[0]
        indexes = range(self.servers) if since is None else sorted(self.stopped)
        indexes = list(indexes)
        start = 0
        if marker is not None:
            start = indexes.index(self.server_index[marker]) + 1
        chosen = indexes[start : start + limit]
        body: dict = {"servers": [self.server(i) for i in chosen]}
        if len(chosen) == limit and start + limit < len(indexes):
            params = "&".join(f"{k}={v[0]}" for k, v in query.items() if k not in ("marker",))
            href = f"{self.base}/compute/v2.1/servers/detail?{params}&marker={server_id(chosen[-1])}"
            body["servers_links"] = [{"rel": "next", "href": href}]
        return body

    def hypervisor(self, i: int) -> dict:
        return {
            "id": _id("hypervisor", i),
            "hypervisor_hostname": hypervisor_name(i),
            "state": "up",
            "status": "enabled",
            "host_ip": f"192.168.{i // 256}.{i % 256}",
            "hypervisor_type": "QEMU",
            "hypervisor_version": 8002000,
            "service": {"host": hypervisor_name(i), "id": _id("service", i), "disabled_reason": None},
            "uptime": None,
        }

    def provider(self, i: int) -> dict:
        rp = _id("rp", i)
        return {
            "uuid": rp,
            "name": hypervisor_name(i),
            "generation": 10 + self.generation_bump * (i % 10 == 0),
            "parent_provider_uuid": None,
            "root_provider_uuid": rp,
            "links": [
                {"rel": "self", "href": f"/resource_providers/{rp}"},
                {"rel": "inventories", "href": f"/resource_providers/{rp}/inventories"},
                {"rel": "usages", "href": f"/resource_providers/{rp}/usages"},
                {"rel": "traits", "href": f"/resource_providers/{rp}/traits"},
            ],
        }

    def arch(self, i: int) -> str:
        return ARCHES[i % 4 == 0]

    def provider_index(self, rp: str) -> int:
        return self.provider_indexes[rp]


def _catalog(base: str) -> list[dict]:
    def entry(kind: str, name: str, path: str) -> dict:
        return {
            "type": kind,
            "name": name,
            "id": _id("service", hash(kind) % 1000),
            "endpoints": [
                {
                    "id": _id("endpoint", hash(kind) % 1000),
                    "interface": "public",
                    "region": "RegionOne",
                    "region_id": "RegionOne",
                    "url": f"{base}{path}",
                }
            ],
        }

    return [
        entry("identity", "keystone", "/identity"),
        entry("compute", "nova", "/compute/v2.1"),
        entry("placement", "placement", "/placement"),
    ]


def _handler(estate: Estate) -> type[BaseHTTPRequestHandler]:
    base = estate.base

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _count(self, path: str) -> None:
            key = re.sub(r"/[0-9a-f-]{32,36}", "/{id}", path)
            with estate.lock:
                estate.stats[f"{self.command} {key}"] += 1

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            path = urlsplit(self.path).path
            if path == "/__reset":
                with estate.lock:
                    estate.stats.clear()
                return self._send(200, {})
            if path == "/__stop":
                with estate.lock:
                    estate.stopped |= set(range(7, estate.servers, estate.servers // 20))
                    estate.generation_bump += 1
                return self._send(200, {"stopped": len(estate.stopped)})
            self._count(path)
            if path.rstrip("/") == "/identity/v3/auth/tokens":
                token = {
                    "methods": ["password"],
                    "expires_at": "2099-01-01T00:00:00.000000Z",
                    "issued_at": "2026-12-02T00:00:00.000000Z",
                    "user": {
                        "id": "u-admin",
                        "name": "admin",
                        "domain": {"id": "default", "name": "Default"},
                    },
                    "project": {
                        "id": "p-admin",
                        "name": "admin",
                        "domain": {"id": "default", "name": "Default"},
                    },
                    "roles": [{"id": "r-admin", "name": "admin"}],
                    "catalog": _catalog(base),
                }
                return self._send(201, {"token": token}, {"X-Subject-Token": "bench-token"})
            return self._send(404, {"error": path})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path, query = url.path.rstrip("/"), parse_qs(url.query)
            if path == "/__stats":
                with estate.lock:
                    return self._send(200, dict(estate.stats))
            self._count(path)
            v3 = {
                "id": "v3.14",
                "status": "stable",
                "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
                "media-types": [
                    {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
                ],
            }
            nova = {
                "id": "v2.1",
                "status": "CURRENT",
                "version": "2.96",
                "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}],
            }
            placement = {
                "id": "v1.0",
                "max_version": "1.39",
                "min_version": "1.0",
                "status": "CURRENT",
                "links": [{"rel": "self", "href": ""}],
            }
            if path == "/identity":
                return self._send(300, {"versions": {"values": [v3]}})
            if path == "/identity/v3":
                return self._send(200, {"version": v3})
            if path == "/compute":
                return self._send(200, {"versions": [nova]})
            if path == "/compute/v2.1":
                return self._send(200, {"version": nova})
            if path == "/compute/v2.1/servers/detail":
                return self._send(200, estate.servers_page(query))
            if path == "/compute/v2.1/os-hypervisors/detail":
                return self._send(
                    200, {"hypervisors": [estate.hypervisor(i) for i in range(estate.hypervisors)]}
                )
            if path == "/placement":
                return self._send(200, {"versions": [placement]})
            if path == "/placement/resource_providers":
                # ``required=HW_ARCH_<ARCH>`` (microversion 1.18): the providers carrying that trait.
                required = query.get("required", [""])[0]
                return self._send(
                    200,
                    {
                        "resource_providers": [
                            estate.provider(i)
                            for i in range(estate.hypervisors)
                            if not required or required == f"HW_ARCH_{estate.arch(i).upper()}"
                        ]
                    },
                )
            if path == "/placement/traits":
                # ``associated=true&name=startswith:HW_ARCH_``: the architecture traits providers carry.
                prefix = query.get("name", [""])[0].removeprefix("startswith:")
                traits = sorted({f"HW_ARCH_{arch.upper()}" for arch in ARCHES} | {"HW_CPU_X86_AVX2"})
                return self._send(200, {"traits": [t for t in traits if t.startswith(prefix)]})
            match = re.fullmatch(
                r"/placement/resource_providers/([0-9a-f-]+)/(inventories|usages|traits)", path
            )
            if match:
                i = estate.provider_index(match.group(1))
                generation = estate.provider(i)["generation"]
                arch = estate.arch(i)
                if match.group(2) == "inventories":
                    common = {"min_unit": 1, "step_size": 1}
                    body: dict = {
                        "inventories": {
                            "VCPU": {
                                "total": 64,
                                "reserved": 0,
                                "max_unit": 64,
                                "allocation_ratio": 16.0,
                                **common,
                            },
                            "MEMORY_MB": {
                                "total": 524288,
                                "reserved": 4096,
                                "max_unit": 524288,
                                "allocation_ratio": 1.2,
                                **common,
                            },
                            "DISK_GB": {
                                "total": 3600,
                                "reserved": 0,
                                "max_unit": 3600,
                                "allocation_ratio": 1.0,
                                **common,
                            },
                        }
                    }
                elif match.group(2) == "usages":
                    body = {
                        "usages": {
                            "VCPU": (i * 37) % 900,
                            "MEMORY_MB": (i * 1024) % 500000,
                            "DISK_GB": i % 3000,
                        }
                    }
                else:
                    body = {
                        "traits": [
                            f"HW_ARCH_{arch.upper()}",
                            "COMPUTE_NET_VIF_MODEL_VIRTIO",
                            "HW_CPU_X86_AVX2",
                        ]
                    }
                return self._send(200, {**body, "resource_provider_generation": generation})
            return self._send(404, {"error": path})

    return Handler


def serve(port: int, servers: int, hypervisors: int, projects: int, ready=None) -> None:
    """Serve the estate on 127.0.0.1:``port`` until the process is ended; set ``ready`` once listening."""
    estate = Estate(
        servers=servers, hypervisors=hypervisors, projects=projects, base=f"http://127.0.0.1:{port}"
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(estate))
    httpd.daemon_threads = True
    if ready is not None:
        ready.set()
    httpd.serve_forever()
