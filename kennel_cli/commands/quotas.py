"""``kennel quota ...`` and ``kennel request ...``: team quotas and requests to raise them."""

from __future__ import annotations

import urllib.parse

from kennel_cli.commands import command, noun
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import cell, print_fields, print_json, print_table, when

STATUSES = ("pending", "info_requested", "approved", "applying", "applied", "failed", "rejected", "cancelled")


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

    req = noun(
        commands, "request", "quota requests: list, show, approve, reject, ask (admins), answer, cancel"
    )
    listing = command(req, "list", cmd_request_list, "quota requests you may see, newest first")
    listing.add_argument("--status", action="append", choices=STATUSES, help="only these (repeatable)")
    listing.add_argument("--team", help="only this team's")
    show = command(req, "show", cmd_request_show, "one quota request and its history")
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
    ask = command(req, "ask", cmd_request_ask, "ask the requester a question before deciding (admins)")
    ask.add_argument("id", type=int, metavar="ID")
    ask.add_argument("--question", required=True)
    answer = command(req, "answer", cmd_request_answer, "answer an admin's question on your request")
    answer.add_argument("id", type=int, metavar="ID")
    answer.add_argument("--answer", required=True)
    cancel = command(req, "cancel", cmd_request_cancel, "withdraw your team's open request")
    cancel.add_argument("id", type=int, metavar="ID")
    retry = command(
        req, "retry", cmd_request_retry, "apply an approved request again after a failure (admins)"
    )
    retry.add_argument("id", type=int, metavar="ID")


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
            ("UNIT", lambda d: d.get("unit")),
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


def _values_text(values: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (values or {}).items()) or "-"


def _print_request(request: dict) -> None:
    previous = request.get("previous") or {}
    asked = ", ".join(
        f"{key} {'unlimited' if previous.get(key) is None else previous[key]} -> {value}"
        if key in previous
        else f"{key}={value}"
        for key, value in (request.get("values") or {}).items()
    )
    pairs = [
        ("id", request.get("id")),
        ("team", request.get("team")),
        ("status", request.get("status", "?") + (" (automatically)" if request.get("auto_approved") else "")),
        ("asked", asked or "-"),
        ("reason", request.get("reason")),
        ("requested by", request.get("requested_by")),
        ("requested", when(request.get("created_at"))),
    ]
    if request.get("approved_values"):
        pairs.append(("approved", _values_text(request["approved_values"])))
    if request.get("decided_by"):
        pairs.append(("decided by", f"{request['decided_by']} at {when(request.get('decided_at'))}"))
    if request.get("decision_comment"):
        pairs.append(("comment", request["decision_comment"]))
    if request.get("error"):
        pairs.append(("error", request["error"]))
    print_fields(pairs)
    if request.get("events"):
        print("\nhistory:")
        for event in request["events"]:
            who = event.get("actor") or "kennel"
            print(f"  {when(event['at'])}  {event['status']:<15} {who}: {event['message']}")


def cmd_quota_request(ctx: Context) -> int:
    values = parse_values(ctx.args.values)
    created = ctx.client.post(
        "quota-requests/", {"team": ctx.team(), "values": values, "reason": ctx.args.reason}
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
    rows = ctx.client.get_all("quota-requests/", status=ctx.args.status or [], team=ctx.args.team)
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


def cmd_request_ask(ctx: Context) -> int:
    ctx.require_role("admin", doing="Asking about quota requests")
    return _decide(ctx, "ask", {"question": ctx.args.question})


def cmd_request_answer(ctx: Context) -> int:
    return _decide(ctx, "answer", {"answer": ctx.args.answer})


def cmd_request_cancel(ctx: Context) -> int:
    return _decide(ctx, "cancel", {})


def cmd_request_retry(ctx: Context) -> int:
    ctx.require_role("admin", doing="Retrying quota requests")
    return _decide(ctx, "retry", {})
