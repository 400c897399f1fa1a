"""``kennel host top`` and ``kennel vm top``: what servers and VMs really use (Prometheus, through
``/api/v1/usage/``), busiest first."""

from __future__ import annotations

import sys

from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import print_json, print_table

MANAGERS = ("manager", "admin")


def rate(value: float | None) -> str:
    """Bytes per second for people: 1.2 MB/s."""
    if value is None:
        return "-"
    for factor, unit in ((1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s")):
        if value >= factor:
            return f"{value / factor:.1f} {unit}"
    return f"{value:.0f} B/s"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _say_state(answer: dict) -> bool:
    """Print why there are no figures (to stderr); True when there are."""
    if answer["state"] == "not_configured":
        print("Metrics are not configured on this Kennel (KENNEL_PROMETHEUS_URL).", file=sys.stderr)
        return False
    if answer["state"] == "unavailable":
        print(f"Prometheus cannot be reached right now: {answer['error']}", file=sys.stderr)
        return False
    return True


def cmd_host_top(ctx: Context) -> int:
    ctx.require_role(*MANAGERS, doing="kennel host top")
    answer = ctx.client.get("usage/hosts/")
    if ctx.json:
        print_json(answer)
        return Exit.OK
    if not _say_state(answer):
        return Exit.OK
    rows = sorted(answer["hosts"], key=lambda h: -(h["cpu_percent"] if h["cpu_percent"] is not None else -1))
    f = lambda h, k: (h.get("figures") or {}).get(k)  # noqa: E731
    print_table(
        rows[: ctx.args.limit] if ctx.args.limit else rows,
        [
            ("SERVER", lambda h: h["name"]),
            ("ARCH", lambda h: h["architecture"]),
            ("CPUS", lambda h: None if f(h, "cpus") is None else int(f(h, "cpus"))),
            ("CPU", lambda h: percent(h["cpu_percent"])),
            ("VMS CORES", lambda h: None if f(h, "vm_cpu") is None else f"{f(h, 'vm_cpu'):.2f}"),
            ("VCPUS ALLOC", lambda h: h["vcpu_allocated"]),
            (
                "OVERCOMMIT",
                lambda h: None if h["vcpu_overcommit"] is None else f"{h['vcpu_overcommit']:.2f}x",
            ),
            ("MEM", lambda h: percent(h["memory_percent"])),
            ("DISK", lambda h: percent(h["disk_percent"])),
            ("NET IN", lambda h: rate(f(h, "net_rx"))),
            ("NET OUT", lambda h: rate(f(h, "net_tx"))),
            ("LOAD", lambda h: None if f(h, "load1") is None else f"{f(h, 'load1'):.2f}"),
            ("OPENSTACK", lambda h: h["in_openstack"]),
        ],
        empty="No servers.",
    )
    return Exit.OK


def _server_id(ctx: Context, host: str) -> int:
    """A server's id from its name (as ``kennel host top`` shows it) or its id."""
    if host.isdigit():
        return int(host)
    for server in ctx.client.get("usage/hosts/")["hosts"]:
        if server["server_id"] is not None and server["name"].lower() == host.lower():
            return int(server["server_id"])
    raise CliError(f"No server called {host}.", Exit.NOT_FOUND)


def cmd_vm_top(ctx: Context) -> int:
    host = None
    if ctx.args.host:
        ctx.require_role(*MANAGERS, doing="kennel vm top --host")
        host = _server_id(ctx, ctx.args.host)
    answer = ctx.client.get("usage/vms/", team=ctx.args.team, host=host, page=ctx.args.page)
    if ctx.json:
        print_json(answer)
        return Exit.OK
    if not _say_state(answer):
        return Exit.OK
    rows = answer["vms"]
    print_table(
        rows[: ctx.args.limit] if ctx.args.limit else rows,
        [
            ("ID", lambda v: v["id"]),
            ("NAME", lambda v: v["name"]),
            ("TEAM", lambda v: v["team"]),
            ("HOST", lambda v: v["host"]),
            ("VCPUS", lambda v: v["vcpus"]),
            ("CPU", lambda v: percent(v["cpu_percent"])),
            ("MEM", lambda v: percent(v["memory_percent"])),
            ("DISK", lambda v: rate(v["disk_bps"])),
            ("NET", lambda v: rate(v["network_bps"])),
        ],
        empty="No running VMs.",
    )
    if answer.get("pages", 1) > 1:
        print(f"page {answer['page']} of {answer['pages']} ({answer['count']} VMs; --page N for more)")
    t = answer["totals"]
    print(
        f"total: {t['vms']} VMs ({t['measured']} measured), "
        f"{t['cpu_cores']:.2f} of {t['vcpus']:.0f} vCPUs busy ({percent(t['cpu_percent'])}), "
        f"disk {rate(t['disk_bps'])}, network {rate(t['network_bps'])}"
    )
    return Exit.OK
