"""``kennel vm ...``: request, follow, list and operate VMs."""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kennel_cli.commands import command, noun
from kennel_cli.commands.top import cmd_vm_top
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import StatusLine, addresses, clock, print_fields, print_json, print_table, when

STATUSES = ("queued", "building", "active", "failed", "deleting", "deleted")
# The server's state in the cloud (the API's server_state).
STATES = (
    "running",
    "stopped",
    "starting",
    "stopping",
    "rebooting",
    "paused",
    "suspended",
    "shelved",
    "resizing",
    "resized",
    "snapshotting",
    "migrating",
    "building",
    "rebuilding",
    "rescue",
    "error",
    "deleting",
    "deleted",
    "unknown",
)
# The request's life cycle is worth showing beside the server's state only in these steps.
LIFECYCLE_SHOWN = ("queued", "building", "failed", "deleting")
FINISHED = ("active", "failed", "deleted")
SPINNER = "|/-\\"
KEY_TYPES = ("ssh-", "ecdsa-", "sk-")


def register(commands) -> None:
    vm = noun(commands, "vm", "your team's VMs")

    top = command(vm, "top", cmd_vm_top, "what your running VMs really use, busiest first (Prometheus)")
    top.add_argument("--team", help="only this team's (its short name), with its totals")
    top.add_argument("--host", help="only those on this server (its name or id; managers, admins)")
    top.add_argument("--limit", type=int, default=0, help="only the N busiest")
    top.add_argument("--page", type=int, default=None, help="50 VMs a page, busiest first")
    listing = command(vm, "list", cmd_vm_list, "VMs you can see (deleted ones with --all)")
    listing.add_argument("--mine", action="store_true", help="only VMs you requested")
    listing.add_argument("--team", help="only this team's (its short name)")
    listing.add_argument("--arch", help="only this architecture")
    listing.add_argument(
        "--state",
        action="append",
        choices=STATES,
        help="only servers in this state in the cloud (repeatable)",
    )
    listing.add_argument(
        "--status",
        action="append",
        choices=STATUSES,
        help="only requests in this step of their life (repeatable)",
    )
    listing.add_argument("--all", action="store_true", help="include deleted VMs")

    show = command(vm, "show", cmd_vm_show, "one VM: its state, addresses, lease and history")
    _vm_argument(show)

    request = command(
        vm,
        "request",
        cmd_vm_request,
        "request a new VM",
        description=(
            "Request a VM. The server checks the architecture, that the flavor fits the image and that "
            "there is room, and a worker builds it; --wait follows the build until it is active."
        ),
    )
    request.add_argument("--arch", help="the architecture; the image must be of it (kennel arch list)")
    request.add_argument("--image", required=True, help="image name or id (kennel image list --arch ARCH)")
    request.add_argument("--flavor", required=True, help="flavor name or id (kennel flavor list --arch ARCH)")
    request.add_argument("--profile", help="cloud-init profile name (kennel profile list)")
    request.add_argument("--name", help="host name (default: <you>-<arch>-<4 random characters>)")
    request.add_argument("--team", help="the team's short name (default: your only team)")
    request.add_argument(
        "--key",
        action="append",
        metavar="FILE|KEY",
        help="an SSH public key file (~/.ssh/id_ed25519.pub) or key line; repeatable "
        "(default: the keys you imported in the portal)",
    )
    request.add_argument("--package", action="append", metavar="NAME", help="an extra package; repeatable")
    request.add_argument(
        "--count",
        type=int,
        default=1,
        help="how many VMs alike, named NAME-1 … NAME-N; all fit within quota and capacity or none is made",
    )
    _wait_arguments(request, default_timeout=900)

    for name, help_text in (("start", "start a stopped VM"), ("stop", "stop (shut off) a VM")):
        _vm_argument(command(vm, name, cmd_vm_action, help_text))
    reboot = command(vm, "reboot", cmd_vm_action, "reboot a VM (soft: an ACPI restart)")
    _vm_argument(reboot)
    reboot.add_argument("--hard", action="store_true", help="a hard reset instead")

    resize = command(
        vm,
        "resize",
        cmd_vm_resize,
        "resize a VM to another flavor; then confirm-resize or revert-resize",
        description=(
            "Resize a VM. The team's quota is checked for the new flavor first; once the cloud has resized "
            "it, the VM waits in state 'resized' until you confirm (kennel vm confirm-resize) or revert "
            "(kennel vm revert-resize)."
        ),
    )
    _vm_argument(resize)
    resize.add_argument("--flavor", required=True, help="the new flavor's name or id")
    _wait_arguments(resize, default_timeout=300)
    for name, help_text in (
        ("confirm-resize", "keep the new flavor of a resized VM"),
        ("revert-resize", "go back to the old flavor of a resized VM"),
        ("lock", "lock a VM against changes (everything but unlock is refused)"),
        ("unlock", "unlock a locked VM"),
    ):
        _vm_argument(command(vm, name, cmd_vm_action, help_text))
    rebuild = command(vm, "rebuild", cmd_vm_rebuild, "rebuild a VM's disk from an image of its architecture")
    _vm_argument(rebuild)
    rebuild.add_argument("--image", required=True, help="image name or id (kennel image list --arch ARCH)")
    rebuild.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    _wait_arguments(rebuild, default_timeout=300)
    snapshot = command(
        vm, "snapshot", cmd_vm_snapshot, "snapshot a VM into your team's own image, to request VMs from"
    )
    _vm_argument(snapshot)
    snapshot.add_argument("--name", required=True, help="the image's name")
    _wait_arguments(snapshot, default_timeout=1800)

    delete = command(vm, "delete", cmd_vm_delete, "delete a VM (asks you to type its name)")
    _vm_argument(delete)
    delete.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    _wait_arguments(delete, default_timeout=300)

    console = command(vm, "console", cmd_vm_console, "get a URL of the VM's console")
    _vm_argument(console)
    log = command(vm, "console-log", cmd_vm_console_log, "print the VM's console output (its last lines)")
    _vm_argument(log)

    extend = command(vm, "extend", cmd_vm_extend, "extend the VM's lease")
    _vm_argument(extend)
    extend.add_argument("--days", type=int, required=True, help="how many more days, from now")


def _vm_argument(parser) -> None:
    parser.add_argument("vm", metavar="VM", help="its id or name")
    parser.add_argument("--team", help="the team, if several of your teams have a VM of that name")


def _wait_arguments(parser, *, default_timeout: int) -> None:
    parser.add_argument("--wait", action="store_true", help="follow it until it is finished")
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=default_timeout,
        metavar="SECONDS",
        help=f"give up waiting after this long (exit code 6; default {default_timeout})",
    )
    # How often to look; hidden, for tests and slow links.
    parser.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)


# --- finding a VM ---------------------------------------------------------------------------------------


def resolve_vm(ctx: Context, ref: str, team: str | None = None) -> dict:
    """The VM (with its events) named by id or by name. A name matches a live VM first; a deleted one
    only if nothing else has that name."""
    if ref.isdigit():
        return ctx.client.get(f"vms/{ref}/")
    found = [vm for vm in ctx.client.get_all("vms/", q=ref, team=team) if vm["name"] == ref]
    live = [vm for vm in found if vm["status"] != "deleted"]
    candidates = live or found[:1]
    if not candidates:
        raise CliError(f"You have no VM named {ref!r}. See kennel vm list.", Exit.NOT_FOUND)
    if len(candidates) > 1:
        which = ", ".join(f"{vm['id']} ({vm['team']})" for vm in candidates)
        raise CliError(f"Several VMs are named {ref!r}: {which}. Give the id or --team.", Exit.USAGE)
    return ctx.client.get(f"vms/{candidates[0]['id']}/")


# --- reading -------------------------------------------------------------------------------------------


VM_COLUMNS = [
    ("ID", lambda v: v["id"]),
    ("NAME", lambda v: v["name"]),
    ("TEAM", lambda v: v["team"]),
    ("OWNER", lambda v: v["owner"]),
    ("ARCH", lambda v: v["architecture"]),
    ("FLAVOR", lambda v: v["flavor_name"]),
    ("STATE", lambda v: state(v)),
    ("REQUEST", lambda v: v["status"] if v["status"] in LIFECYCLE_SHOWN else ""),
    ("HOST", lambda v: v["host"]),
    (
        "ADDRESSES",
        lambda v: addresses(v["addresses"]) + (f" {v['floating_ip']}" if v.get("floating_ip") else ""),
    ),
    ("EXPIRES", lambda v: when(v["expires_at"])),
]


def state(vm: dict) -> str:
    """What the portal's badge says: the server's state in the cloud, else the request's status."""
    return vm.get("state") or vm.get("server_state") or vm["status"]


def cmd_vm_list(ctx: Context) -> int:
    args = ctx.args
    statuses = args.status or ([] if args.all else [s for s in STATUSES if s != "deleted"])
    rows = ctx.client.get_all(
        "vms/",
        mine="true" if args.mine else None,
        team=args.team,
        architecture=args.arch,
        status=statuses,
        server_state=args.state,
    )
    if ctx.json:
        print_json(rows)
    else:
        print_table(rows, VM_COLUMNS, empty="No VMs. Request one with kennel vm request --help.")
    return Exit.OK


def _print_vm(vm: dict) -> None:
    print_fields(
        [
            ("id", vm["id"]),
            ("name", vm["name"]),
            ("team", vm["team"]),
            ("owner", vm["owner"]),
            ("state", state(vm) + (" (locked)" if vm.get("locked") else "")),
            ("request", vm["status"] + (f" ({vm['status_message']})" if vm.get("status_message") else "")),
            (
                "server",
                " ".join(
                    part
                    for part in (
                        vm["server_status"] or "-",
                        f"/ {vm['server_task_state']}" if vm.get("server_task_state") else "",
                        vm["server_id"] or "",
                    )
                    if part
                ),
            ),
            ("architecture", vm["architecture"]),
            ("image", vm["image_name"]),
            (
                "flavor",
                f"{vm['flavor_name']} ({vm['vcpus']} vCPU, {vm['ram_mb']} MB RAM, {vm['disk_gb']} GB)",
            ),
            ("host", vm["host"]),
            ("addresses", addresses(vm["addresses"])),
            ("floating IP", vm.get("floating_ip")),
            ("requested", when(vm["created_at"])),
            ("expires", when(vm["expires_at"])),
        ]
    )
    if vm.get("snapshots"):
        print("\nsnapshots:")
        for snapshot in vm["snapshots"]:
            print(f"  {when(snapshot['created_at'])}  {snapshot['status']:<9} {snapshot['name']}")
    if vm.get("events"):
        print("\nhistory:")
        for event in vm["events"]:
            print(f"  {when(event['at'])}  {event['status']:<9} {event['message']}")


def cmd_vm_show(ctx: Context) -> int:
    vm = resolve_vm(ctx, ctx.args.vm, ctx.args.team)
    if ctx.json:
        print_json(vm)
    else:
        _print_vm(vm)
    return Exit.OK


# --- following -----------------------------------------------------------------------------------------


def follow(ctx: Context, vm: dict, *, until: Callable[[dict], bool], what: str) -> dict:
    """Poll the VM until ``until(vm)``: each new step of its history is printed once; on a terminal a
    status line below them shows the current state and how long it has taken. Raises CliError with
    Exit.TIMEOUT after --wait-timeout seconds (the VM carries on regardless)."""
    line = StatusLine()
    notes = sys.stderr if ctx.json else sys.stdout
    start = time.monotonic()
    shown = len(vm.get("events", []))
    spin = 0
    next_poll = 0.0
    try:
        while True:
            now = time.monotonic()
            if now >= next_poll:
                vm = ctx.client.get(f"vms/{vm['id']}/")
                for event in vm["events"][shown:]:
                    line.clear()
                    print(
                        f"{clock(event['at'])}  {event['status']:<9} {event['message']}",
                        file=notes,
                        flush=True,
                    )
                shown = len(vm["events"])
                if until(vm):
                    line.clear()
                    return vm
                next_poll = now + ctx.args.interval
            elapsed = now - start
            if elapsed > ctx.args.wait_timeout:
                line.clear()
                raise CliError(
                    f"{vm['name']} is still {vm['status']} after {elapsed:.0f} s; it carries on without "
                    f"you. Follow it with: kennel vm show {vm['id']}",
                    Exit.TIMEOUT,
                )
            server = vm.get("server_state") or "-"
            host = f" on {vm['host']}" if vm.get("host") else ""
            line.update(
                f"{SPINNER[spin % 4]} {what} {vm['name']}: {vm['status']} "
                f"(server {server}{host}) {elapsed:.0f} s"
            )
            spin += 1
            time.sleep(min(0.25, ctx.args.interval) if line.live else ctx.args.interval)
    except KeyboardInterrupt:
        line.clear()
        raise CliError(
            f"Stopped waiting; {vm['name']} carries on. Follow it with: kennel vm show {vm['id']}",
            Exit.INTERRUPTED,
        ) from None


# --- requesting ----------------------------------------------------------------------------------------


def _keys(values: list[str] | None) -> list[str] | None:
    """Public keys from files or given literally; None keeps the server's default (imported keys)."""
    if not values:
        return None
    keys = []
    for value in values:
        if value.startswith(KEY_TYPES) and " " in value:
            keys.append(value.strip())
            continue
        path = Path(value).expanduser()
        if path.name.endswith(("id_rsa", "id_ed25519", "id_ecdsa")) and path.with_suffix(".pub").exists():
            raise CliError(f"{path} is a private key; give {path}.pub", Exit.USAGE)
        try:
            lines = path.read_text().splitlines()
        except OSError as error:
            raise CliError(f"Cannot read the key file {value}: {error.strerror}", Exit.USAGE) from None
        keys.extend(line.strip() for line in lines if line.strip() and not line.startswith("#"))
    return keys


def _default_name(username: str, arch: str | None) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", username.lower()).strip("-")[:40] or "vm"
    short = {"x86_64": "x86", "ppc64le": "ppc"}.get(arch or "", arch or "vm")
    return f"{base}-{short}-{secrets.token_hex(2)}"


def _requested(vm: dict) -> str:
    return f"Requested {vm['name']} (id {vm['id']}, {vm['architecture']}) for team {vm['team']}"


def cmd_vm_request(ctx: Context) -> int:
    args = ctx.args
    body = {
        "team": ctx.team(),
        "name": args.name or _default_name(ctx.me["username"], args.arch),
        "image": args.image,
        "flavor": args.flavor,
    }
    if args.arch:
        body["architecture"] = args.arch
    if args.profile:
        body["profile"] = args.profile
    keys = _keys(args.key)
    if keys is not None:
        body["ssh_keys"] = keys
    if args.package:
        body["packages"] = args.package
    if args.count != 1:
        vms = ctx.client.post("vms/batch/", {**body, "count": args.count})
        if args.wait:
            vms = [
                follow(ctx, {**vm, "events": []}, until=lambda v: v["status"] in FINISHED, what="building")
                for vm in vms
            ]
        if ctx.json:
            print_json(vms)
        else:
            for vm in vms:
                print(f"{_requested(vm)}: {vm['status']}.")
        failed = [vm["name"] for vm in vms if args.wait and vm["status"] != "active"]
        if failed:
            raise CliError(f"Not active: {', '.join(failed)}.", Exit.ERROR)
        return Exit.OK
    vm = ctx.client.post("vms/", body)
    if not args.wait:
        if ctx.json:
            print_json(vm)
        else:
            print(f"{_requested(vm)}: {vm['status']}.")
            print(f"Follow it with: kennel vm show {vm['id']}")
        return Exit.OK
    if not ctx.json:
        print(f"{_requested(vm)}.")
        for event in vm.get("events", []):
            print(f"{clock(event['at'])}  {event['status']:<9} {event['message']}")
    vm = follow(ctx, vm, until=lambda v: v["status"] in FINISHED, what="building")
    if ctx.json:
        print_json(vm)
    if vm["status"] != "active":
        raise CliError(
            f"{vm['name']} {vm['status']}: {vm['status_message'] or 'no reason given'}", Exit.ERROR
        )
    if not ctx.json:
        where = addresses(vm["addresses"]) or "no address yet"
        print(f"{vm['name']} is active on {vm['host'] or '?'}: {where}.")
    return Exit.OK


# --- operating -----------------------------------------------------------------------------------------


def cmd_vm_action(ctx: Context) -> int:
    args = ctx.args
    action = args.vm_command.replace("-", "_")
    if action == "reboot":
        action = "reboot_hard" if args.hard else "reboot_soft"
    doing = {
        "reboot_soft": "reboot",
        "reboot_hard": "hard-reboot",
        "confirm_resize": "confirm the resize of",
        "revert_resize": "revert the resize of",
    }.get(action, action)
    vm = resolve_vm(ctx, args.vm, args.team)
    updated = ctx.client.post(f"vms/{vm['id']}/action/", {"action": action})
    if ctx.json:
        print_json(updated)
    else:
        print(f"Asked to {doing} {vm['name']} (id {vm['id']}); kennel vm show {vm['id']} shows the outcome.")
    return Exit.OK


def _changed(ctx: Context, vm: dict, updated: dict, *, settled: Callable[[dict], bool], what: str) -> int:
    """Print what was asked, or with --wait follow the VM until ``settled``."""
    if ctx.args.wait:
        updated = follow(ctx, {**updated, "events": vm.get("events", [])}, until=settled, what=what)
    if ctx.json:
        print_json(updated)
    elif ctx.args.wait:
        print(f"{vm['name']} is {state(updated)} ({updated['flavor_name']}, image {updated['image_name']}).")
    else:
        print(f"Asked to {what} {vm['name']} (id {vm['id']}); kennel vm show {vm['id']} shows the outcome.")
    return Exit.OK


def _settled_after(vm: dict) -> Callable[[dict], bool]:
    """Whether the server left what it was doing (and the request's history moved on)."""
    seen = len(vm.get("events", []))
    busy = ("resizing", "rebuilding", "snapshotting", "migrating", "starting", "stopping", "rebooting")
    return lambda v: (
        len(v.get("events", [])) > seen
        and v.get("server_state") not in busy
        and not v.get("server_task_state")
    )


def cmd_vm_resize(ctx: Context) -> int:
    vm = resolve_vm(ctx, ctx.args.vm, ctx.args.team)
    updated = ctx.client.post(f"vms/{vm['id']}/resize/", {"flavor": ctx.args.flavor})
    code = _changed(
        ctx,
        vm,
        updated,
        settled=lambda v: v.get("server_state") == "resized" or v.get("flavor_name") == ctx.args.flavor,
        what="resize",
    )
    if not ctx.json:
        print(
            f"Then keep it: kennel vm confirm-resize {vm['id']} "
            f"(or go back: kennel vm revert-resize {vm['id']})."
        )
    return code


def cmd_vm_rebuild(ctx: Context) -> int:
    args = ctx.args
    vm = resolve_vm(ctx, args.vm, args.team)
    if not args.yes:
        if not ctx.interactive:
            raise CliError(f"Rebuilding {vm['name']} replaces its disk: add --yes.", Exit.USAGE)
        typed = input(f"This replaces the disk of {vm['name']} (id {vm['id']}). Type its name to confirm: ")
        if typed.strip() != vm["name"]:
            raise CliError("The name did not match; nothing was rebuilt.", Exit.ERROR)
    updated = ctx.client.post(f"vms/{vm['id']}/rebuild/", {"image": args.image})
    return _changed(ctx, vm, updated, settled=_settled_after(updated), what="rebuild")


def cmd_vm_snapshot(ctx: Context) -> int:
    args = ctx.args
    vm = resolve_vm(ctx, args.vm, args.team)
    snapshot = ctx.client.post(f"vms/{vm['id']}/snapshot/", {"name": args.name})
    if args.wait:
        deadline = time.monotonic() + args.wait_timeout
        while snapshot["status"] not in ("active", "failed"):
            if time.monotonic() > deadline:
                raise CliError(
                    f"Snapshot {args.name} is still {snapshot['status']}; see kennel vm show {vm['id']}.",
                    Exit.TIMEOUT,
                )
            time.sleep(args.interval)
            current = ctx.client.get(f"vms/{vm['id']}/")
            snapshot = next(s for s in current["snapshots"] if s["id"] == snapshot["id"])
    if ctx.json:
        print_json(snapshot)
    elif snapshot["status"] == "active":
        print(f"Snapshot {args.name} is ready: kennel vm request --image {args.name} --team {vm['team']} …")
    elif snapshot["status"] == "failed":
        raise CliError(f"Snapshot {args.name} failed: {snapshot['message']}", Exit.ERROR)
    else:
        print(
            f"Asked for snapshot {args.name} of {vm['name']}; "
            f"kennel vm show {vm['id']} shows when it is ready."
        )
    return Exit.OK


def cmd_vm_delete(ctx: Context) -> int:
    args = ctx.args
    vm = resolve_vm(ctx, args.vm, args.team)
    if not args.yes:
        if not ctx.interactive:
            raise CliError(f"Deleting {vm['name']} needs confirmation: add --yes.", Exit.USAGE)
        typed = input(f"This deletes {vm['name']} (id {vm['id']}) and its disk. Type its name to confirm: ")
        if typed.strip() != vm["name"]:
            raise CliError("The name did not match; nothing was deleted.", Exit.ERROR)
    updated = ctx.client.delete(f"vms/{vm['id']}/")
    if args.wait:
        updated = follow(
            ctx,
            {**updated, "events": vm.get("events", [])},
            until=lambda v: v["status"] == "deleted",
            what="deleting",
        )
    if ctx.json:
        print_json(updated)
    elif updated["status"] == "deleted":
        print(f"{vm['name']} is deleted.")
    else:
        print(f"{vm['name']} is {updated['status']}; kennel vm show {vm['id']} shows when it is gone.")
    return Exit.OK


def _wait_for(ctx: Context, vm: dict, arrived: Callable[[dict], bool], what: str) -> dict:
    """Poll the VM until a worker's answer arrived (``arrived``), for at most 60 s."""
    deadline = time.monotonic() + 60
    while True:
        current = ctx.client.get(f"vms/{vm['id']}/")
        if arrived(current):
            return current
        if time.monotonic() > deadline:
            raise CliError(
                f"No {what} after 60 s; the workers may be busy. "
                f"Try again, or see kennel vm show {vm['id']}.",
                Exit.TIMEOUT,
            )
        time.sleep(1)


def cmd_vm_console(ctx: Context) -> int:
    vm = resolve_vm(ctx, ctx.args.vm, ctx.args.team)
    ctx.client.post(f"vms/{vm['id']}/console/")
    # A worker asks the cloud for a fresh URL (or learns it has no console); it lands on the VM.
    current = _wait_for(
        ctx, vm, lambda v: bool(v.get("console_url") or v.get("console_error")), "console URL"
    )
    if current.get("console_error"):
        raise CliError(current["console_error"], Exit.ERROR)
    if ctx.json:
        print_json({"id": vm["id"], "name": vm["name"], "console_url": current["console_url"]})
    else:
        print(current["console_url"])
    return Exit.OK


def cmd_vm_console_log(ctx: Context) -> int:
    vm = resolve_vm(ctx, ctx.args.vm, ctx.args.team)
    before = vm.get("console_log_at")
    ctx.client.post(f"vms/{vm['id']}/console-log/")
    current = _wait_for(
        ctx,
        vm,
        lambda v: bool(v.get("console_log_error")) or (v.get("console_log_at") or "") > (before or ""),
        "console log",
    )
    if current.get("console_log_error"):
        raise CliError(current["console_log_error"], Exit.ERROR)
    if ctx.json:
        print_json(
            {
                "id": vm["id"],
                "name": vm["name"],
                "console_log": current["console_log"],
                "console_log_at": current["console_log_at"],
            }
        )
    else:
        print(current["console_log"])
    return Exit.OK


def cmd_vm_extend(ctx: Context) -> int:
    vm = resolve_vm(ctx, ctx.args.vm, ctx.args.team)
    updated = ctx.client.post(f"vms/{vm['id']}/extend/", {"days": ctx.args.days})
    if ctx.json:
        print_json(updated)
    else:
        print(f"{vm['name']}'s lease now ends {when(updated['expires_at'])}.")
    return Exit.OK
