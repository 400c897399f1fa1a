"""``kennel volume ...``: your teams' volumes (block storage): ask for one, attach it to a VM, detach it,
delete it. A worker does each step; --wait follows it until the cloud is done."""

from __future__ import annotations

import time

from kennel_cli.commands import command, noun
from kennel_cli.commands.vms import resolve_vm
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import print_json, print_table, when

WAIT_SECONDS = 300


def register(commands) -> None:
    volume = noun(commands, "volume", "your teams' volumes: create, attach, detach, delete")
    listing = command(volume, "list", cmd_volume_list, "your teams' volumes, their state and VM")
    listing.add_argument("--team", help="only this team's (its short name)")
    create = command(
        volume,
        "create",
        cmd_volume_create,
        "ask for an empty volume for a team",
        description=(
            "Ask for an empty volume for a team. It counts against the team's volume quota; a worker makes "
            "it in a few seconds (--wait follows it until it is available)."
        ),
    )
    create.add_argument("name", metavar="NAME", help="letters, digits, dots, dashes, underscores")
    create.add_argument("--team", required=True, help="the team's short name")
    create.add_argument("--size", type=int, required=True, metavar="GB", help="its size in GB")
    create.add_argument("--wait", action="store_true", help="wait until it is available")
    attach = command(volume, "attach", cmd_volume_attach, "attach a volume to a running VM of its team")
    attach.add_argument("volume", metavar="VOLUME", help="the volume's name or id")
    attach.add_argument("vm", metavar="VM", help="the VM's name or id")
    attach.add_argument("--team", help="the team, when several have a volume or VM of that name")
    attach.add_argument("--wait", action="store_true", help="wait until it is attached")
    detach = command(volume, "detach", cmd_volume_detach, "detach a volume from its VM (its data stay)")
    detach.add_argument("volume", metavar="VOLUME", help="the volume's name or id")
    detach.add_argument("--team", help="the team, when several have a volume of that name")
    detach.add_argument("--wait", action="store_true", help="wait until it is detached")
    delete = command(volume, "delete", cmd_volume_delete, "delete a volume that is not attached")
    delete.add_argument("volume", metavar="VOLUME", help="the volume's name or id")
    delete.add_argument("--team", help="the team, when several have a volume of that name")
    delete.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    delete.add_argument("--wait", action="store_true", help="wait until it is gone")


COLUMNS = [
    ("ID", lambda v: v["id"]),
    ("NAME", lambda v: v["name"]),
    ("TEAM", lambda v: v["team"]),
    ("SIZE", lambda v: f"{v['size_gb']} GB"),
    ("STATE", lambda v: v["status"] + (f" ({v['message']})" if v["message"] else "")),
    ("VM", lambda v: (v["vm_name"] or "-") + (f" {v['device']}" if v["device"] else "")),
    ("CREATED", lambda v: when(v["created_at"])),
]


def cmd_volume_list(ctx: Context) -> int:
    rows = ctx.client.get_all("volumes/", team=ctx.args.team)
    if ctx.json:
        print_json(rows)
    else:
        print_table(rows, COLUMNS, empty="No volumes.")
    return Exit.OK


def _resolve(ctx: Context, ref: str, team: str | None) -> dict:
    if ref.isdigit():
        return ctx.client.get(f"volumes/{ref}/")
    found = [v for v in ctx.client.get_all("volumes/", team=team) if v["name"] == ref]
    if not found:
        raise CliError(f"Your teams have no volume named {ref!r}. See kennel volume list.", Exit.NOT_FOUND)
    if len(found) > 1:
        which = ", ".join(f"{v['id']} ({v['team']})" for v in found)
        raise CliError(f"Several volumes are named {ref!r}: {which}. Give the id or --team.", Exit.USAGE)
    return found[0]


def _done(ctx: Context, volume: dict, wait: bool, what: str) -> int:
    """Print the volume (after following it with ``wait``); a step the cloud refused is an error."""
    before = volume["status"]
    if wait:
        deadline = time.monotonic() + WAIT_SECONDS
        while volume["busy"]:
            if time.monotonic() > deadline:
                raise CliError(
                    f"Stopped waiting; {volume['name']} is still {volume['status']}.", Exit.TIMEOUT
                )
            time.sleep(1)
            volume = ctx.client.get(f"volumes/{volume['id']}/")
        if volume["message"] or volume["status"] == "failed":
            if ctx.json:
                print_json(volume)
            raise CliError(f"{volume['name']} was not {what}: {volume['message']}", Exit.ERROR)
    if ctx.json:
        print_json(volume)
    elif volume["busy"]:
        print(f"{volume['name']}: {before}; kennel volume list shows when the cloud is done.")
    else:
        print(
            f"{volume['name']} is {what}"
            + (f" ({volume['vm_name']} {volume['device']})." if volume["device"] else ".")
        )
    return Exit.OK


def cmd_volume_create(ctx: Context) -> int:
    args = ctx.args
    volume = ctx.client.post("volumes/", {"team": args.team, "name": args.name, "size_gb": args.size})
    return _done(ctx, volume, args.wait, "available")


def cmd_volume_attach(ctx: Context) -> int:
    args = ctx.args
    volume = _resolve(ctx, args.volume, args.team)
    vm = resolve_vm(ctx, args.vm, args.team or volume["team"])
    answer = ctx.client.post(f"volumes/{volume['id']}/attach/", {"vm": vm["id"]})
    return _done(ctx, answer, args.wait, "attached")


def cmd_volume_detach(ctx: Context) -> int:
    args = ctx.args
    volume = _resolve(ctx, args.volume, args.team)
    return _done(ctx, ctx.client.post(f"volumes/{volume['id']}/detach/"), args.wait, "detached")


def cmd_volume_delete(ctx: Context) -> int:
    args = ctx.args
    volume = _resolve(ctx, args.volume, args.team)
    if not args.yes:
        if not ctx.interactive:
            raise CliError(f"Deleting {volume['name']} needs confirmation: add --yes.", Exit.USAGE)
        answer = input(f"Delete volume {volume['name']} of team {volume['team']} and its data? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("Nothing was deleted.", Exit.ERROR)
    answer = ctx.client.delete(f"volumes/{volume['id']}/")
    if args.wait:
        deadline = time.monotonic() + WAIT_SECONDS
        while answer["busy"]:
            if time.monotonic() > deadline:
                raise CliError(
                    f"Stopped waiting; {volume['name']} is still {answer['status']}.", Exit.TIMEOUT
                )
            time.sleep(1)
            answer = ctx.client.get_all("volumes/", team=volume["team"])
            answer = next(
                (v for v in answer if v["id"] == volume["id"]),
                {**volume, "status": "deleted", "busy": False, "message": ""},
            )
        if answer["status"] != "deleted":
            raise CliError(f"{volume['name']} was not deleted: {answer['message']}", Exit.ERROR)
    if ctx.json:
        print_json(answer)
    elif answer["status"] == "deleted":
        print(f"{volume['name']} is deleted.")
    else:
        print(f"Deleting {volume['name']}; kennel volume list shows it gone once done.")
    return Exit.OK
