"""``kennel firewall ...``: who may reach your teams' VMs (the security group rules of each team's
project); team leads add and remove them."""

from __future__ import annotations

import time

from kennel_cli.commands import command, noun
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import print_json, print_table, when


def register(commands) -> None:
    firewall = noun(commands, "firewall", "who may reach your teams' VMs; leads add and remove rules")
    listing = command(
        firewall,
        "list",
        cmd_firewall_list,
        "every rule letting traffic in to your teams' VMs",
        description=(
            "The rules of the default security group of your teams' projects (every VM Kennel builds "
            "is in it), in plain words, as Neutron listed them within the last minute, with changes "
            "on their way. Anything no rule lets in is refused."
        ),
    )
    listing.add_argument("--team", help="only this team's (its short name)")
    allow = command(
        firewall,
        "allow",
        cmd_firewall_allow,
        "let traffic in from a network (team leads and admins)",
        description=(
            "Add a rule to the team's default security group; a worker makes it in Neutron, --wait "
            "follows it. Examples:\n"
            "  kennel firewall allow --team alpha tcp 22 --from 10.0.0.0/8\n"
            "  kennel firewall allow --team alpha tcp 8000-8100 --from 192.0.2.0/24\n"
            "  kennel firewall allow --team alpha icmp --from 10.0.0.0/8\n"
            "SSH from every address (0.0.0.0/0) is refused to leads; an admin adds --confirm-open."
        ),
    )
    allow.add_argument("--team", required=True, help="the team's short name")
    allow.add_argument("protocol", choices=("tcp", "udp", "icmp"))
    allow.add_argument(
        "ports", nargs="?", default="", help="one port (22) or a range (8000-8100); none: every"
    )
    allow.add_argument(
        "--from", dest="cidr", required=True, metavar="CIDR", help="who may connect, e.g. 10.0.0.0/8"
    )
    allow.add_argument("--confirm-open", action="store_true", help="admins: yes, SSH from every address")
    allow.add_argument("--wait", action="store_true", help="wait until Neutron has it")
    remove = command(
        firewall,
        "remove",
        cmd_firewall_remove,
        "remove a rule (team leads and admins)",
        description="Remove a rule by its id (see kennel firewall list); a worker deletes it in Neutron.",
    )
    remove.add_argument("id", type=int, metavar="ID", help="the rule's id in Kennel")
    remove.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    remove.add_argument("--wait", action="store_true", help="wait until Neutron no longer has it")


def _ports(rule: dict) -> str:
    if rule["protocol"] not in ("tcp", "udp"):
        return "-"
    if rule["port_min"] is None:
        return "all"
    if rule["port_min"] == rule["port_max"]:
        return str(rule["port_min"])
    return f"{rule['port_min']}-{rule['port_max']}"


def _source(rule: dict) -> str:
    if rule["remote_group"]:
        return "the team's own VMs"
    if rule["open_to_every_address"]:
        return f"anywhere ({rule['remote_cidr'] or '0.0.0.0/0'})"
    return rule["remote_cidr"]


def cmd_firewall_list(ctx: Context) -> int:
    rows = ctx.client.get_all("security-rules/", team=ctx.args.team)
    if ctx.json:
        print_json(rows)
        return Exit.OK
    print_table(
        rows,
        [
            ("ID", lambda r: r["id"]),
            ("TEAM", lambda r: r["team"]),
            ("PROTOCOL", lambda r: r["protocol"] or "any"),
            ("PORTS", _ports),
            ("FROM", _source),
            ("STATE", lambda r: r["state"] + (f" ({r['error']})" if r["error"] else "")),
            ("SEEN", lambda r: when(r["seen_at"]) if r["seen_at"] else "-"),
        ],
        empty="No rules: nothing can reach the VMs.",
    )
    return Exit.OK


def _ports_parse(text: str) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    low, sep, high = text.partition("-")
    if not low.isdigit() or (sep and not high.isdigit()):
        raise CliError(f"Ports are one port (22) or a range (8000-8100), not {text!r}.", Exit.USAGE)
    return int(low), int(high) if sep else int(low)


def _follow(ctx: Context, rule_id: int, *, gone_is_done: bool) -> dict | None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = [r for r in ctx.client.get_all("security-rules/") if r["id"] == rule_id]
        if not found:
            if gone_is_done:
                return None
            raise CliError("The rule disappeared (removed meanwhile?). See kennel firewall list.", Exit.ERROR)
        rule = found[0]
        if rule["state"] == "failed" or (rule["error"] and rule["state"] == "active" and gone_is_done):
            raise CliError(f"Not done: {rule['error']}", Exit.ERROR)
        if rule["state"] == "active" and not gone_is_done:
            return rule
        time.sleep(1)
    raise CliError("Stopped waiting; the change carries on. See kennel firewall list.", Exit.TIMEOUT)


def cmd_firewall_allow(ctx: Context) -> int:
    args = ctx.args
    low, high = _ports_parse(args.ports)
    if args.protocol == "icmp" and low is not None:
        raise CliError("ICMP has no ports.", Exit.USAGE)
    body = {
        "team": args.team,
        "protocol": args.protocol,
        "port_min": low,
        "port_max": high,
        "remote_cidr": args.cidr,
        "confirm_open": args.confirm_open,
    }
    rule = ctx.client.post("security-rules/", body)
    if args.wait:
        rule = _follow(ctx, rule["id"], gone_is_done=False) or rule
    if ctx.json:
        print_json(rule)
    elif rule["state"] == "active":
        print(f"In force: {rule['description']} (rule {rule['id']}).")
    else:
        print(f"Adding: {rule['description']} (rule {rule['id']}); kennel firewall list shows it.")
    return Exit.OK


def cmd_firewall_remove(ctx: Context) -> int:
    args = ctx.args
    found = [r for r in ctx.client.get_all("security-rules/") if r["id"] == args.id]
    if not found:
        raise CliError(f"No rule {args.id} of your teams. See kennel firewall list.", Exit.NOT_FOUND)
    rule = found[0]
    if not args.yes:
        if not ctx.interactive:
            raise CliError(f"Removing rule {args.id} needs confirmation: add --yes.", Exit.USAGE)
        answer = input(f"Remove '{rule['description']}' of team {rule['team']}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("Nothing was removed.", Exit.ERROR)
    answer = ctx.client.delete(f"security-rules/{args.id}/")
    if args.wait and answer:
        _follow(ctx, args.id, gone_is_done=True)
        answer = None
    if ctx.json:
        print_json(answer or {"id": args.id, "state": "removed"})
    elif answer:
        print(f"Removing: {rule['description']}; kennel firewall list shows it gone once done.")
    else:
        print(f"Removed: {rule['description']}.")
    return Exit.OK
