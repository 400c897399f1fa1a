"""``python -m exportersim run``: Prometheus on loopback scraping the emulated exporters and this
machine's node exporter, until Ctrl-C or SIGTERM (what ``make run`` starts).
``python -m exportersim serve``: only the emulated exporters (the runner starts it)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

from exportersim.estate import DEMO_HOSTS, VmSource, vms_from_cloud, vms_from_file


def serve(args: argparse.Namespace) -> None:
    from exportersim.server import ExporterServer

    wanted = set(args.hosts.split(",")) if args.hosts else {h.name for h in DEMO_HOSTS}
    hosts = [h for h in DEMO_HOSTS if h.name in wanted]
    if args.vms == "cloud":
        source = VmSource(vms_from_cloud, refresh=args.refresh)
    elif args.vms == "none":
        source = VmSource(list, refresh=1e9)
    else:
        path = Path(args.vms)
        source = VmSource(lambda: vms_from_file(path), refresh=1e9)
    server = ExporterServer(("127.0.0.1", args.port), hosts, source)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(f"exportersim: {len(hosts)} hosts on http://127.0.0.1:{args.port}/", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()


def run(args: argparse.Namespace) -> None:
    from exportersim.runner import Stack

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack = Stack(
        Path(args.workdir),
        prometheus_port=args.prometheus_port,
        exporter_port=args.exporter_port,
        node_exporter_port=args.node_exporter_port,
        interval=args.interval,
        vms=args.vms,
        rule_files=tuple(args.rules),
    )
    with stack:
        print(f"exportersim: Prometheus on {stack.url}/ scraping {stack.exporter_url}/", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser("exportersim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the emulated exporters")
    serve_parser.add_argument("--port", type=int, default=19100)
    serve_parser.add_argument("--hosts", default="", help="comma-separated host names (default: all)")
    serve_parser.add_argument("--vms", default="cloud", help="'cloud' (openstacksdk), 'none' or a JSON file")
    serve_parser.add_argument("--refresh", type=float, default=30.0, help="seconds between cloud listings")
    run_parser = commands.add_parser("run", help="Prometheus scraping the emulator and the node exporter")
    run_parser.add_argument("--workdir", default="var/prometheus")
    run_parser.add_argument("--prometheus-port", type=int, default=19090)
    run_parser.add_argument("--exporter-port", type=int, default=19100)
    run_parser.add_argument("--node-exporter-port", type=int, default=19101)
    run_parser.add_argument("--interval", type=float, default=15)
    run_parser.add_argument("--vms", default="cloud")
    run_parser.add_argument(
        "--rules", action="append", default=[], help="a rules file Prometheus loads (repeatable)"
    )
    args = parser.parse_args()
    {"serve": serve, "run": run}[args.command](args)


if __name__ == "__main__":
    main()
