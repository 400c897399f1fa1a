"""One HTTP server for every emulated exporter: ``/node/<host>/metrics``, ``/libvirt/<host>/metrics``,
and ``/estate.json`` (what is served: the hosts, each VM with whether it is idle)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from exportersim.estate import HostSpec, VmSource, vm_is_idle
from exportersim.exposition import LibvirtCollector, NodeCollector, render

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ExporterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], hosts: list[HostSpec], vms: VmSource) -> None:
        super().__init__(address, _Handler)
        self.hosts = {host.name: host for host in hosts}
        self.vm_source = vms

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="exportersim", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: ExporterServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # a scrape every few seconds per host would drown everything else

    def _send(self, status: int, body: bytes, content_type: str = CONTENT_TYPE) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        now = time.time()
        if parts == ["estate.json"]:
            vms = self.server.vm_source.vms()
            body = {
                "hosts": [asdict(h) | {"hot": h.hot} for h in self.server.hosts.values()],
                "vms": [asdict(vm) | {"idle": vm_is_idle(vm)} for vm in vms],
                "source_error": self.server.vm_source.error,
            }
            self._send(200, json.dumps(body).encode(), "application/json")
            return
        if len(parts) == 3 and parts[2] == "metrics" and parts[1] in self.server.hosts:
            host = self.server.hosts[parts[1]]
            if parts[0] == "node":
                self._send(200, render(NodeCollector(host, now)))
                return
            if parts[0] == "libvirt" and host.compute:
                vms = [vm for vm in self.server.vm_source.vms() if vm.host == host.name]
                self._send(200, render(LibvirtCollector(vms, now)))
                return
        self._send(404, b"not found\n")
