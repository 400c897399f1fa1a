"""``kennel quota ...`` and ``kennel request ...``: team quotas and requests to raise them."""

from __future__ import annotations

import urllib.parse

from kennel_cli.commands import command, noun
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import cell, print_fields, print_json, print_table, when


def register(commands) -> None:
    quota = noun(commands, "quota", "your teams' quotas: limits, use, pending requests")
    show = command(quota, "show", cmd_quota_show, "quota, use and what remains, per dimension")
    show.add_argument(
        "team", nargs="?", metavar="TEAM", help="one team's short name (default: all you may see)"
    )
    request = command(
        quota,
        "request",
        cmd_quota_request,
        "ask for a new quota (admins approve it)",
        description=(
            "Ask for new quota values for a team, e.g. kennel quota request cores=64 ram=131072 "
            "--reason 'load tests'. Values are the new totals, not increments; the dimension keys are the "
            "ones kennel quota show lists."
        ),
    )
    request.add_argument("values", nargs="+", metavar="KEY=VALUE", help="a dimension and its new total")
    request.add_argument("--team", help="the team's short name (default: your only team)")
    request.add_argument("--reason", required=True, help="why the team needs it")

    req = noun(commands, "request", "quota requests: list, show, approve, reject (admins), cancel")
    listing = command(req, "list", cmd_request_list, "quota requests you may see")
    listing.add_argument("--status", help="only requests in this state, e.g. pending")
    listing.add_argument("--team", help="only this team's")
    show = command(req, "show", cmd_request_show, "one quota request")
    show.add_argument("id", type=int, metavar="ID")
    approve = command(
        req, "approve", cmd_request_approve, "approve a request (admins), optionally with other values"
    )
    approve.add_argument("id", type=int, metavar="ID")
    approve.add_argument("values", nargs="*", metavar="KEY=VALUE", help="approve these totals instead")
    approve.add_argument("--comment", help="a note for the team")
    reject = command(req, "reject", cmd_request_reject, "reject a request (admins)")
    reject.add_argument("id", type=int, metavar="ID")
    reject.add_argument("--reason", required=True, help="why, for the team")
    cancel = command(req, "cancel", cmd_request_cancel, "withdraw your team's pending request")
    cancel.add_argument("id", type=int, metavar="ID")


def parse_values(pairs: list[str]) -> dict[str, int]:
    values: dict[str, int] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{pair!r} is not KEY=VALUE (e.g. cores=64).", Exit.USAGE)
        try:
            number = int(raw)
        except ValueError:
            raise CliError(f"{key}={raw!r}: the value must be a whole number.", Exit.USAGE) from None
        if number < 0:
            raise CliError(f"{key}: a quota cannot be negative.", Exit.USAGE)
        values[key.strip()] = number
    return values


def _print_quota(table: dict) -> None:
    print(f"team {table['team']}")
    print_table(
        table.get("dimensions", []),
        [
            ("KEY", lambda d: d["key"]),
            ("DIMENSION", lambda d: d.get("label")),
            ("QUOTA", lambda d: "unlimited" if d.get("quota") is None else d["quota"]),
            ("USED", lambda d: d.get("used")),
            ("PENDING", lambda d: d.get("pending")),
            ("REMAINING", lambda d: "unlimited" if d.get("remaining") is None else d["remaining"]),
        ],
        empty="No quota dimensions.",
    )


def cmd_quota_show(ctx: Context) -> int:
    if ctx.args.team:
        tables = [ctx.client.get(f"quotas/{urllib.parse.quote(ctx.args.team, safe='')}/")]
    else:
        tables = ctx.client.get_all("quotas/")
    if ctx.json:
        print_json(tables[0] if ctx.args.team else tables)
        return Exit.OK
    if not tables:
        print("No team quotas to show: you are in no team.")
    for index, table in enumerate(tables):
        if index:
            print()
        _print_quota(table)
    return Exit.OK


def _my_team(ctx: Context) -> str:
    if ctx.args.team:
        return ctx.args.team
    teams = [t["slug"] for t in ctx.me.get("teams", [])]
    if len(teams) == 1:
        return teams[0]
    if not teams:
        raise CliError("You are in no team; ask a Kennel admin to add you to one.", Exit.REFUSED)
    raise CliError(f"You are in several teams ({', '.join(teams)}); choose one with --team.", Exit.USAGE)


def _values_text(values: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (values or {}).items()) or "-"


def _print_request(request: dict) -> None:
    pairs = [
        ("id", request.get("id")),
        ("team", request.get("team")),
        ("status", request.get("status")),
        ("values", _values_text(request.get("values"))),
        ("reason", request.get("reason")),
    ]
    for key in (
        "requested_by",
        "created_at",
        "decided_by",
        "decided_at",
        "approved_values",
        "comment",
        "error",
    ):
        if request.get(key) not in (None, "", {}):
            value = request[key]
            if key.endswith("_at"):
                value = when(value)
            elif isinstance(value, dict):
                value = _values_text(value)
            pairs.append((key.replace("_", " "), value))
    print_fields(pairs)


def cmd_quota_request(ctx: Context) -> int:
    values = parse_values(ctx.args.values)
    created = ctx.client.post(
        "quota-requests/", {"team": _my_team(ctx), "values": values, "reason": ctx.args.reason}
    )
    if ctx.json:
        print_json(created)
    else:
        print(
            f"Quota request {created['id']} is {created['status']}. "
            f"See it with: kennel request show {created['id']}"
        )
    return Exit.OK


def cmd_request_list(ctx: Context) -> int:
    rows = ctx.client.get_all("quota-requests/", status=ctx.args.status, team=ctx.args.team)
    if ctx.json:
        print_json(rows)
        return Exit.OK
    print_table(
        rows,
        [
            ("ID", lambda r: r.get("id")),
            ("TEAM", lambda r: r.get("team")),
            ("STATUS", lambda r: r.get("status")),
            ("VALUES", lambda r: _values_text(r.get("values"))),
            ("BY", lambda r: r.get("requested_by")),
            ("REQUESTED", lambda r: when(r.get("created_at"))),
            ("REASON", lambda r: cell(r.get("reason"))[:60]),
        ],
        empty="No quota requests.",
    )
    return Exit.OK


def cmd_request_show(ctx: Context) -> int:
    request = ctx.client.get(f"quota-requests/{ctx.args.id}/")
    if ctx.json:
        print_json(request)
    else:
        _print_request(request)
    return Exit.OK


def _decide(ctx: Context, verb: str, body: dict) -> int:
    decided = ctx.client.post(f"quota-requests/{ctx.args.id}/{verb}/", body)
    if ctx.json:
        print_json(decided)
    else:
        print(f"Quota request {ctx.args.id} is {decided.get('status', verb)}.")
    return Exit.OK


def cmd_request_approve(ctx: Context) -> int:
    ctx.require_role("admin", doing="Approving quota requests")
    body: dict = {}
    if ctx.args.values:
        body["values"] = parse_values(ctx.args.values)
    if ctx.args.comment:
        body["comment"] = ctx.args.comment
    return _decide(ctx, "approve", body)


def cmd_request_reject(ctx: Context) -> int:
    ctx.require_role("admin", doing="Rejecting quota requests")
    return _decide(ctx, "reject", {"reason": ctx.args.reason})


def cmd_request_cancel(ctx: Context) -> int:
    return _decide(ctx, "cancel", {})
