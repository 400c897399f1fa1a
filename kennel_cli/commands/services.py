"""``kennel blueprint ...`` and ``kennel service ...``: blueprints (list, export, import) and the team
services made from them (list, show, deploy, scale, upgrade, rollback, delete)."""

from __future__ import annotations

import time
from pathlib import Path

from kennel_cli.commands import command, noun
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import print_fields, print_json, print_table, when

BUSY = ("deploying", "scaling", "upgrading", "rolling_back", "deleting")


def register(commands) -> None:
    blueprint = noun(commands, "blueprint", "blueprints: versioned recipes for team services")
    command(blueprint, "list", cmd_blueprint_list, "the blueprints you can see and their versions")
    export = command(blueprint, "export", cmd_blueprint_export, "print a blueprint version as YAML")
    export.add_argument("name", metavar="BLUEPRINT")
    export.add_argument("--version", type=int, help="the version's number (default: the latest)")
    export.add_argument("--team", help="the team's blueprint of that name (default: a global one)")
    imp = command(
        blueprint,
        "import",
        cmd_blueprint_import,
        "store a YAML file as the next version of its blueprint (admins; team leads for their team)",
    )
    imp.add_argument("file", metavar="FILE", help="the YAML document ('-' for standard input)")
    imp.add_argument("--team", help="a blueprint of this team (default: global, admins only)")
    imp.add_argument("--note", default="", help="what changed")

    service = noun(commands, "service", "team services made from blueprints")
    listing = command(service, "list", cmd_service_list, "your teams' services, their version and VMs")
    listing.add_argument("--team", help="only this team's")
    show = command(service, "show", cmd_service_show, "one service: its VMs, their states, its history")
    show.add_argument("service", metavar="SERVICE", help="its name (with --team if two teams share it) or id")
    show.add_argument("--team")
    deploy = command(
        service,
        "deploy",
        cmd_service_deploy,
        "deploy a blueprint version as a team service (team leads and admins)",
        description=(
            "Deploy a blueprint version as one of the team's services. Every VM is checked against the "
            "team's quota before anything is built. Example:\n"
            "  kennel service deploy ci --blueprint ci-agent --count x86_64=3 --count ppc64le=3 "
            "--param server_url=https://ci.example/ --wait"
        ),
    )
    deploy.add_argument("name", metavar="NAME")
    deploy.add_argument("--blueprint", required=True)
    deploy.add_argument("--version", type=int, help="default: the latest")
    deploy.add_argument("--team", help="default: your only team")
    deploy.add_argument("--count", action="append", default=[], metavar="ARCH=N", required=True)
    deploy.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    deploy.add_argument("--maintainer", action="append", default=[], metavar="USER")
    deploy.add_argument("--wait", action="store_true", help="wait until it is ready")
    scale = command(service, "scale", cmd_service_scale, "change how many VMs of each architecture it has")
    scale.add_argument("service", metavar="SERVICE")
    scale.add_argument("--team")
    scale.add_argument("--count", action="append", default=[], metavar="ARCH=N", required=True)
    scale.add_argument("--wait", action="store_true")
    upgrade = command(
        service, "upgrade", cmd_service_upgrade, "replace its VMs one at a time with another version's"
    )
    upgrade.add_argument("service", metavar="SERVICE")
    upgrade.add_argument("--team")
    upgrade.add_argument("--version", type=int, help="default: the blueprint's latest")
    upgrade.add_argument("--wait", action="store_true")
    rollback = command(service, "rollback", cmd_service_rollback, "go back to the version before, VM by VM")
    rollback.add_argument("service", metavar="SERVICE")
    rollback.add_argument("--team")
    rollback.add_argument("--wait", action="store_true")
    delete = command(service, "delete", cmd_service_delete, "delete the service and all its VMs")
    delete.add_argument("service", metavar="SERVICE")
    delete.add_argument("--team")
    delete.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    delete.add_argument("--wait", action="store_true")


# --- blueprints -----------------------------------------------------------------------------------------


def _blueprint(ctx: Context, name: str, team: str | None) -> dict:
    found = [
        b for b in ctx.client.get_all("blueprints/") if b["name"] == name and (b["team"] or None) == team
    ]
    if not found:
        raise CliError(f"No blueprint {name!r} that you can see. See kennel blueprint list.", Exit.NOT_FOUND)
    return found[0]


def _version_id(blueprint: dict, number: int | None) -> int:
    versions = blueprint["versions"]
    chosen = (
        max(versions, key=lambda v: v["number"])
        if number is None
        else next((v for v in versions if v["number"] == number), None)
    )
    if chosen is None:
        raise CliError(f"{blueprint['name']} has no version {number}.", Exit.NOT_FOUND)
    return chosen["id"]


def cmd_blueprint_list(ctx: Context) -> int:
    rows = ctx.client.get_all("blueprints/")
    if ctx.json:
        print_json(rows)
        return Exit.OK
    print_table(
        rows,
        [
            ("NAME", lambda b: b["name"]),
            ("TEAM", lambda b: b["team"] or "(global)"),
            (
                "VERSIONS",
                lambda b: ", ".join(
                    f"v{v['number']}" for v in sorted(b["versions"], key=lambda v: v["number"])
                ),
            ),
            (
                "ARCHITECTURES",
                lambda b: ", ".join(b["versions"][0]["architectures"]) if b["versions"] else "-",
            ),
            ("DESCRIPTION", lambda b: b["description"][:60]),
        ],
        empty="No blueprints.",
    )
    return Exit.OK


def cmd_blueprint_export(ctx: Context) -> int:
    blueprint = _blueprint(ctx, ctx.args.name, ctx.args.team)
    version = ctx.client.get(f"blueprint-versions/{_version_id(blueprint, ctx.args.version)}/")
    if ctx.json:
        print_json(version)
    else:
        print(version["document"], end="")
    return Exit.OK


def cmd_blueprint_import(ctx: Context) -> int:
    path = ctx.args.file
    try:
        text = Path("/dev/stdin").read_text() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise CliError(f"Cannot read {path}: {error.strerror}", Exit.USAGE) from None
    version = ctx.client.post(
        "blueprints/import/", {"team": ctx.args.team or "", "document": text, "note": ctx.args.note}
    )
    if ctx.json:
        print_json(version)
    else:
        print(f"{version['blueprint']} is at version {version['number']}.")
    return Exit.OK


# --- services -------------------------------------------------------------------------------------------


def _service(ctx: Context, ref: str, team: str | None) -> dict:
    found = [
        s
        for s in ctx.client.get_all("services/", team=team)
        if (s["name"] == ref or str(s["id"]) == ref)
        and s["status"] != "deleted"
        and (team is None or s["team"] == team)
    ]
    if not found:
        raise CliError(f"No service {ref!r} of your teams. See kennel service list.", Exit.NOT_FOUND)
    if len(found) > 1:
        raise CliError(f"Several teams have a service {ref!r}: add --team.", Exit.USAGE)
    return found[0]


def _pairs(values: list[str], what: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise CliError(f"Give {what} as NAME=VALUE, not {value!r}.", Exit.USAGE)
        pairs[key] = rest
    return pairs


def _counts(values: list[str]) -> dict[str, int]:
    try:
        return {arch: int(n) for arch, n in _pairs(values, "--count").items()}
    except ValueError:
        raise CliError("Give --count as ARCH=N with a whole number N.", Exit.USAGE) from None


def _vms(service: dict) -> str:
    return (
        ", ".join(
            f"{vm['name']} ({vm['architecture']} v{vm['version']} {vm['state']})" for vm in service["vms"]
        )
        or "-"
    )


def cmd_service_list(ctx: Context) -> int:
    rows = [
        s
        for s in ctx.client.get_all("services/")
        if s["status"] != "deleted" and (not ctx.args.team or s["team"] == ctx.args.team)
    ]
    if ctx.json:
        print_json(rows)
        return Exit.OK
    print_table(
        rows,
        [
            ("ID", lambda s: s["id"]),
            ("TEAM", lambda s: s["team"]),
            ("NAME", lambda s: s["name"]),
            ("BLUEPRINT", lambda s: f"{s['blueprint']} v{s['version']}"),
            ("STATUS", lambda s: s["status"]),
            ("VMS", _vms),
        ],
        empty="No services.",
    )
    return Exit.OK


def _port_text(port: dict) -> str:
    where = ", ".join(port["reached_from"]) or "the team's own VMs only (no security rule lets others in)"
    return f"{port['port']}/{port['protocol']} from {where}"


def _show(ctx: Context, service: dict) -> None:
    if ctx.json:
        print_json(service)
        return
    print_fields(
        [
            ("Service", f"{service['name']} (team {service['team']})"),
            (
                "Blueprint",
                f"{service['blueprint']} v{service['version']}"
                + (f" (before: v{service['previous_version']})" if service["previous_version"] else ""),
            ),
            (
                "Status",
                service["status"] + (f" - {service['status_message']}" if service["status_message"] else ""),
            ),
            ("Wanted", ", ".join(f"{n} x {a}" for a, n in sorted(service["counts"].items()))),
            ("Maintainers", ", ".join(service["maintainers"]) or "-"),
            *(
                [("Ports", "; ".join(_port_text(p) for p in service["ports"]))]
                if service.get("ports")
                else []
            ),
            ("Changed", when(service["changed_at"])),
        ]
    )
    print_table(
        service["vms"],
        [
            ("VM", lambda v: v["name"]),
            ("ARCH", lambda v: v["architecture"]),
            ("VERSION", lambda v: f"v{v['version']}"),
            ("STATE", lambda v: v["state"]),
            ("HOST", lambda v: v["host"] or "-"),
        ],
        empty="No VMs.",
    )


def _follow(ctx: Context, service: dict) -> dict:
    """With --wait: until the change is over (at most 30 minutes)."""
    if not getattr(ctx.args, "wait", False):
        return service
    deadline = time.monotonic() + 1800
    while service["status"] in BUSY:
        if time.monotonic() > deadline:
            raise CliError(f"Stopped waiting; {service['name']} is still {service['status']}.", Exit.TIMEOUT)
        time.sleep(2)
        service = ctx.client.get(f"services/{service['id']}/")
    if service["status"] == "failed":
        _show(ctx, service)
        raise CliError(f"{service['name']} failed: {service['status_message']}", Exit.ERROR)
    return service


def cmd_service_show(ctx: Context) -> int:
    _show(ctx, ctx.client.get(f"services/{_service(ctx, ctx.args.service, ctx.args.team)['id']}/"))
    return Exit.OK


def cmd_service_deploy(ctx: Context) -> int:
    args = ctx.args
    blueprint = next((b for b in ctx.client.get_all("blueprints/") if b["name"] == args.blueprint), None)
    if blueprint is None:
        raise CliError(f"No blueprint {args.blueprint!r}. See kennel blueprint list.", Exit.NOT_FOUND)
    service = ctx.client.post(
        "services/",
        {
            "team": args.team or ctx.team,
            "name": args.name,
            "blueprint_version": _version_id(blueprint, args.version),
            "counts": _counts(args.count),
            "parameters": _pairs(args.param, "--param"),
            "maintainers": args.maintainer,
        },
    )
    _show(ctx, _follow(ctx, service))
    return Exit.OK


def cmd_service_scale(ctx: Context) -> int:
    service = _service(ctx, ctx.args.service, ctx.args.team)
    answer = ctx.client.post(f"services/{service['id']}/scale/", {"counts": _counts(ctx.args.count)})
    _show(ctx, _follow(ctx, answer))
    return Exit.OK


def cmd_service_upgrade(ctx: Context) -> int:
    service = _service(ctx, ctx.args.service, ctx.args.team)
    blueprint = next(b for b in ctx.client.get_all("blueprints/") if b["name"] == service["blueprint"])
    version = _version_id(blueprint, ctx.args.version)
    answer = ctx.client.post(f"services/{service['id']}/upgrade/", {"blueprint_version": version})
    _show(ctx, _follow(ctx, answer))
    return Exit.OK


def cmd_service_rollback(ctx: Context) -> int:
    service = _service(ctx, ctx.args.service, ctx.args.team)
    _show(ctx, _follow(ctx, ctx.client.post(f"services/{service['id']}/rollback/")))
    return Exit.OK


def cmd_service_delete(ctx: Context) -> int:
    service = _service(ctx, ctx.args.service, ctx.args.team)
    if not ctx.args.yes:
        if not ctx.interactive:
            raise CliError(f"Deleting {service['name']} needs confirmation: add --yes.", Exit.USAGE)
        answer = input(
            f"Delete {service['name']} of team {service['team']} and its {len(service['vms'])} VMs? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("Nothing was deleted.", Exit.ERROR)
    _show(ctx, _follow(ctx, ctx.client.delete(f"services/{service['id']}/")))
    return Exit.OK
