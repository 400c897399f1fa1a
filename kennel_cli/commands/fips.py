"""``kennel fip ...``: the floating IPs of your teams' projects; a team lead releases unused ones."""

from __future__ import annotations

import time

from kennel_cli.commands import command, noun
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import print_json, print_table, when


def register(commands) -> None:
    fip = noun(commands, "fip", "floating IPs of your teams' projects; leads release unused ones")
    listing = command(
        fip,
        "list",
        cmd_fip_list,
        "every floating IP of your teams' projects and what holds it",
        description=(
            "Every floating IP of your teams' projects (all projects for managers and admins) with the VM "
            "it is attached to, or 'unused', as Neutron listed them within the last minute."
        ),
    )
    listing.add_argument("--team", help="only this team's (its short name)")
    listing.add_argument("--unused", action="store_true", help="only the ones attached to nothing")
    release = command(
        fip,
        "release",
        cmd_fip_release,
        "release an unused floating IP (team leads and admins)",
        description=(
            "Give an unused floating IP back to the cloud: it stops counting against the team's quota. "
            "A worker does it; --wait follows it until Neutron no longer holds the address."
        ),
    )
    release.add_argument("address", metavar="ADDRESS", help="the floating IP (or its id in Kennel)")
    release.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    release.add_argument("--wait", action="store_true", help="wait until it is released")


def _attached(fip: dict) -> str:
    if fip.get("unused"):
        return "unused"
    return fip.get("attached_to") or "-"


def cmd_fip_list(ctx: Context) -> int:
    rows = ctx.client.get_all("floating-ips/", team=ctx.args.team)
    if ctx.args.unused:
        rows = [r for r in rows if r["unused"]]
    if ctx.json:
        print_json(rows)
        return Exit.OK
    print_table(
        rows,
        [
            ("ID", lambda f: f["id"]),
            ("ADDRESS", lambda f: f["address"]),
            ("TEAM", lambda f: f["team"] or f["project_id"]),
            ("ATTACHED TO", _attached),
            ("RELEASE", lambda f: f["release"] + (f" ({f['release_error']})" if f["release_error"] else "")),
            ("SEEN", lambda f: when(f["seen_at"])),
        ],
        empty="No floating IPs.",
    )
    return Exit.OK


def _resolve(ctx: Context, ref: str) -> dict:
    found = [f for f in ctx.client.get_all("floating-ips/") if f["address"] == ref or str(f["id"]) == ref]
    if not found:
        raise CliError(f"No floating IP {ref!r} of your teams. See kennel fip list.", Exit.NOT_FOUND)
    return found[0]


def cmd_fip_release(ctx: Context) -> int:
    args = ctx.args
    fip = _resolve(ctx, args.address)
    if not args.yes:
        if not ctx.interactive:
            raise CliError(f"Releasing {fip['address']} needs confirmation: add --yes.", Exit.USAGE)
        answer = input(f"Release {fip['address']} of team {fip['team']}? It cannot be had back. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("Nothing was released.", Exit.ERROR)
    answer = ctx.client.post(f"floating-ips/{fip['id']}/release/")
    if args.wait:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            remaining = [f for f in ctx.client.get_all("floating-ips/") if f["id"] == fip["id"]]
            if not remaining:
                answer = {**answer, "release": "released"}
                break
            if remaining[0]["release"] == "failed":
                raise CliError(f"Not released: {remaining[0]['release_error']}", Exit.ERROR)
            time.sleep(1)
        else:
            raise CliError(f"Stopped waiting; the release of {fip['address']} carries on.", Exit.TIMEOUT)
    if ctx.json:
        print_json(answer)
    elif answer["release"] == "released":
        print(f"{fip['address']} is released.")
    else:
        print(f"Release of {fip['address']} requested; kennel fip list shows it gone once done.")
    return Exit.OK
