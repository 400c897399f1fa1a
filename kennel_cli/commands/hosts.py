"""``kennel host ...``: the physical servers (managers read them, admins act on them)."""

from __future__ import annotations

import argparse
import sys
import time

from kennel_cli.commands import command, noun
from kennel_cli.commands.top import cmd_host_top
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import print_fields, print_json, print_table, when

POWER_ACTIONS = ("on", "soft_off", "hard_off", "cycle", "reset")
MANAGERS = ("manager", "admin")


def register(commands) -> None:
    host = noun(commands, "host", "physical servers, their BMC state and power (managers, admins)")
    listing = command(host, "list", cmd_host_list, "every physical server with its latest BMC reading")
    listing.add_argument("--arch", help="only this architecture")
    listing.add_argument("--dc", help="only this data center (its code)")
    show = command(
        host, "show", cmd_host_show, "one server: location, roles, BMC reading, drain, power history"
    )
    show.add_argument("server", metavar="SERVER", help="its name or id")
    top = command(
        host, "top", cmd_host_top, "what each server really uses: CPU, memory, disk, network (Prometheus)"
    )
    top.add_argument("--limit", type=int, default=0, help="only the N busiest")
    power = command(
        host,
        "power",
        cmd_host_power,
        "ask for a guarded power action (admins)",
        description=(
            "Ask for a power action on a server, as on its web page: give a reason and type the server's "
            "name to confirm (asked for on a terminal, or --reason and --confirm NAME). The server applies "
            "its guards: a cooldown between actions, a compute node only once drained and empty, and a "
            "second admin for a controller (kennel host confirm)."
        ),
    )
    power.add_argument("server", metavar="SERVER", help="its name or id")
    power.add_argument("action", choices=POWER_ACTIONS, help="what to do")
    power.add_argument("--reason", help="why (recorded in the audit log)")
    power.add_argument("--confirm", metavar="NAME", help="the server's name, typed as confirmation")
    confirm = command(
        host, "confirm", cmd_host_confirm, "confirm another admin's power action on a controller"
    )
    confirm.add_argument("request_id", type=int, metavar="REQUEST", help="the power request's id")
    cancel = command(
        host, "cancel", cmd_host_cancel, "cancel a power action that waits for a second admin (admins)"
    )
    cancel.add_argument("request_id", type=int, metavar="REQUEST", help="the power request's id")
    drain = command(
        host,
        "drain",
        cmd_host_drain,
        "drain a compute node, optionally moving its VMs off (admins)",
        description=(
            "Disable the host's Nova compute service so no new VM lands there, and list the VMs still on "
            "it. With --migrate a worker then moves them off by live migration, one at a time, to hosts of "
            "the same architecture; VMs that cannot move are listed with the reason. --wait follows each "
            "VM until the drain is finished, and exits 1 when VMs are left on the host."
        ),
    )
    drain.add_argument("server", metavar="SERVER", help="its name or id")
    drain.add_argument("--reason", required=True, help="why (recorded in the audit log and in Nova)")
    drain.add_argument("--migrate", action="store_true", help="move the VMs off by live migration")
    drain.add_argument("--wait", action="store_true", help="follow the drain until it is finished")
    drain.add_argument(
        "--wait-timeout", type=float, default=1800, metavar="SECONDS", help="give up waiting (exit code 6)"
    )
    drain.add_argument("--interval", type=float, default=2, help=argparse.SUPPRESS)
    undrain = command(
        host, "undrain", cmd_host_undrain, "put a drained compute node back in service (admins)"
    )
    undrain.add_argument("server", metavar="SERVER", help="its name or id")


def resolve_server(ctx: Context, ref: str) -> dict:
    if ref.isdigit():
        return ctx.client.get(f"servers/{ref}/")
    found = [s for s in ctx.client.get_all("servers/", q=ref) if s["name"] == ref]
    if not found:
        raise CliError(f"No server named {ref!r}. See kennel host list.", Exit.NOT_FOUND)
    return found[0]


def _power(server: dict) -> str:
    return (server.get("hardware") or {}).get("power_state") or "-"


def cmd_host_list(ctx: Context) -> int:
    ctx.require_role(*MANAGERS, doing="kennel host list")
    rows = ctx.client.get_all("servers/", architecture=ctx.args.arch, datacenter=ctx.args.dc)
    if ctx.json:
        print_json(rows)
        return Exit.OK
    hw = lambda s: s.get("hardware") or {}  # noqa: E731
    print_table(
        rows,
        [
            ("ID", lambda s: s["id"]),
            ("NAME", lambda s: s["name"]),
            ("ARCH", lambda s: s["architecture"]),
            ("DC", lambda s: s["datacenter"]),
            ("ROLES", lambda s: s["roles"]),
            ("POWER", _power),
            ("HEALTH", lambda s: hw(s).get("health") if hw(s).get("reachable", True) else "unreachable"),
            ("MAX °C", lambda s: hw(s).get("max_temperature_c")),
            ("WATTS", lambda s: hw(s).get("power_watts")),
            ("DRAIN", lambda s: _drain_state(s.get("drain"))),
        ],
        empty="No servers.",
    )
    return Exit.OK


def cmd_host_show(ctx: Context) -> int:
    ctx.require_role(*MANAGERS, doing="kennel host show")
    server = resolve_server(ctx, ctx.args.server)
    history = [
        p for p in ctx.client.get("power-requests/").get("results", []) if p["server"] == server["name"]
    ]
    if ctx.json:
        print_json({**server, "power_requests": history})
        return Exit.OK
    hw = server.get("hardware") or {}
    bmc = server.get("bmc")
    drain = server.get("drain") or {}
    print_fields(
        [
            ("id", server["id"]),
            ("name", server["name"]),
            ("architecture", server["architecture"]),
            ("data center", server["datacenter"]),
            ("rack", f"{server['rack'] or '-'} U{server['rack_unit'] or '-'}"),
            ("roles", server["roles"]),
            ("vendor / model", f"{server['vendor'] or '-'} {server['model'] or ''}".strip()),
            ("serial", server["serial"]),
            ("hypervisor", server["hypervisor_hostname"]),
            ("BMC", f"{bmc['protocol']} {bmc['address']}:{bmc['port']}" if bmc else "none"),
            ("power", hw.get("power_state")),
            ("health", hw.get("health")),
            ("max temperature °C", hw.get("max_temperature_c")),
            ("power draw W", hw.get("power_watts")),
            ("polled", when(hw.get("polled_at"))),
            ("BMC error", hw.get("error")),
            ("drain", f"{_drain_state(drain)}: {drain.get('vm_count', 0)} VMs left" if drain else "-"),
        ]
    )
    for move in drain.get("moves") or []:
        print(_move_line(move))
    if history:
        print("\npower requests:")
        for p in history:
            print(
                f"  {p['id']:>5}  {when(p['created_at'])}  {p['action']:<8} {p['status']:<22} "
                f"{p['requested_by']}: {p['reason']}"
            )
    return Exit.OK


def _ask(prompt: str) -> str:
    try:
        return input(prompt).strip()
    except EOFError:
        return ""


def cmd_host_power(ctx: Context) -> int:
    args = ctx.args
    ctx.require_role("admin", doing="kennel host power")
    server = resolve_server(ctx, args.server)
    reason, confirm = args.reason, args.confirm
    if (not reason or not confirm) and not ctx.interactive:
        raise CliError("A power action needs --reason and --confirm NAME when not on a terminal.", Exit.USAGE)
    if not reason:
        reason = _ask(f"Why {args.action} {server['name']}? (recorded in the audit log) ")
        if not reason:
            raise CliError("A reason is required; nothing was done.", Exit.USAGE)
    if not confirm:
        print(
            f"This will {args.action.replace('_', ' ')} {server['name']} ({_power(server)} now).",
            file=sys.stderr,
        )
        confirm = _ask(f"Type the server's name ({server['name']}) to confirm: ")
    # The server judges the typed name (and audits a mismatch), exactly as for the web form.
    created = ctx.client.post(
        f"servers/{server['id']}/power/", {"action": args.action, "reason": reason, "confirm_name": confirm}
    )
    if ctx.json:
        print_json(created)
    elif created["status"] == "awaiting_confirmation":
        print(
            f"Power request {created['id']} waits for a second admin (a controller): "
            f"kennel host confirm {created['id']}"
        )
    else:
        print(f"Power request {created['id']} ({args.action} {server['name']}) is {created['status']}.")
    return Exit.OK


def cmd_host_confirm(ctx: Context) -> int:
    ctx.require_role("admin", doing="kennel host confirm")
    confirmed = ctx.client.post(f"power-requests/{ctx.args.request_id}/confirm/")
    if ctx.json:
        print_json(confirmed)
    else:
        print(
            f"Power request {confirmed['id']} ({confirmed['action']} {confirmed['server']}) "
            f"is {confirmed['status']}."
        )
    return Exit.OK


def cmd_host_cancel(ctx: Context) -> int:
    ctx.require_role("admin", doing="kennel host cancel")
    cancelled = ctx.client.post(f"power-requests/{ctx.args.request_id}/cancel/")
    if ctx.json:
        print_json(cancelled)
    else:
        print(
            f"Power request {cancelled['id']} ({cancelled['action']} {cancelled['server']}) "
            f"is {cancelled['status']}."
        )
    return Exit.OK


def _drain_state(drain: dict | None) -> str | None:
    """A drain's status; "drained" only once the server confirmed the compute service disabled."""
    if not drain:
        return None
    if drain.get("status") == "drained" and drain.get("confirmed") is False:
        return "drained (compute service not confirmed disabled yet)"
    return drain.get("status")


WORKING = ("requested", "draining", "migrating", "undrain_requested", "undraining")


def _move_line(move: dict) -> str:
    status = move["status"]
    if status == "moved":
        what = f"moved to {move['target_host']}"
    elif status == "migrating":
        what = f"migrating to {move['target_host']}" if move.get("target_host") else "migrating"
    elif status == "failed":
        what = f"could not move: {move['error']}"
    elif status == "gone":
        what = "deleted meanwhile"
    else:
        what = status
    return f"  {move['name']}: {what}"


def _print_drain(drain: dict) -> None:
    error = f" ({drain['error']})" if drain.get("error") else ""
    print(f"{drain['server']}: {_drain_state(drain)}{error}")
    for move in drain.get("moves") or []:
        print(_move_line(move))
    if drain["status"] not in WORKING and drain.get("checked_at"):
        left = drain.get("vm_names") or []
        print(f"VMs still on the host: {len(left)}" + (f" ({', '.join(left)})" if left else ""))


def cmd_host_drain(ctx: Context) -> int:
    args = ctx.args
    ctx.require_role("admin", doing="kennel host drain")
    server = resolve_server(ctx, args.server)
    drain = ctx.client.post(
        f"servers/{server['id']}/drain/", {"reason": args.reason, "migrate": args.migrate}
    )
    if not args.wait:
        if ctx.json:
            print_json(drain)
        else:
            name = server["name"]
            print(f"Drain of {name} is {drain['status']}; follow it with: kennel host show {name}")
        return Exit.OK
    start, shown = time.monotonic(), {}
    while True:
        drain = ctx.client.get(f"servers/{server['id']}/")["drain"] or {}
        if not ctx.json:
            for move in drain.get("moves") or []:  # each change of a VM's progress once
                line = _move_line(move)
                if shown.get(move["name"]) != line:
                    shown[move["name"]] = line
                    print(line, flush=True)
        if drain.get("status") not in WORKING:
            break
        if time.monotonic() - start > args.wait_timeout:
            print(
                f"Stopped waiting; the drain carries on: kennel host show {server['name']}", file=sys.stderr
            )
            return Exit.TIMEOUT
        time.sleep(args.interval)
    if ctx.json:
        print_json(drain)
    else:
        moves = drain.get("moves") or []
        moved = sum(1 for m in moves if m["status"] == "moved")
        left = drain.get("vm_names") or []
        print(
            f"{server['name']}: {_drain_state(drain)}"
            + (f", {moved} of {len(moves)} VMs moved" if moves else "")
            + (f"; still on the host: {', '.join(left)}" if left else "; no VM left on the host")
        )
    left = drain.get("status") == "failed" or bool(drain.get("vm_names"))
    return Exit.ERROR if left else Exit.OK


def cmd_host_undrain(ctx: Context) -> int:
    ctx.require_role("admin", doing="kennel host undrain")
    server = resolve_server(ctx, ctx.args.server)
    drain = ctx.client.post(f"servers/{server['id']}/undrain/")
    if ctx.json:
        print_json(drain)
    else:
        print(f"Undrain of {server['name']} is {drain['status']}.")
    return Exit.OK
