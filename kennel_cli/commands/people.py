"""``kennel people ...``: who uses Kennel (managers and admins see everyone, others their teammates);
admins add a person with a local account, who gets a first sign-in link by mail."""

from __future__ import annotations

from kennel_cli.commands import command, noun
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import print_json, print_table, when

ROLES = ("developer", "manager", "admin")


def register(commands) -> None:
    people = noun(commands, "people", "who uses Kennel; admins add people and send sign-in links")
    command(people, "list", cmd_people_list, "people with their role, teams and last sign-in")
    add = command(
        people,
        "add",
        cmd_people_add,
        "add a person with a local account (admins); a first sign-in link goes to them by mail",
        description=(
            "The account has no password: the person sets one from the link, which works once and "
            "expires. Example:\n  kennel people add ana --email ana@example.org --role developer"
        ),
    )
    add.add_argument("username", help="their user name")
    add.add_argument("--email", required=True, help="where the sign-in link goes")
    add.add_argument("--role", choices=ROLES, default="developer")
    add.add_argument("--first-name", default="")
    add.add_argument("--last-name", default="")
    link = command(
        people, "sign-in-link", cmd_people_sign_in_link, "mail a person a new sign-in link (admins)"
    )
    link.add_argument("username", help="their user name")


def _person(ctx: Context, username: str) -> dict:
    found = [p for p in ctx.client.get_all("people/", q=username) if p["username"] == username]
    if not found:
        raise CliError(f"No person {username!r}. See kennel people list.", Exit.NOT_FOUND)
    return found[0]


def cmd_people_list(ctx: Context) -> int:
    rows = ctx.client.get_all("people/")
    if ctx.json:
        print_json(rows)
        return Exit.OK
    print_table(
        rows,
        [
            ("USER", lambda p: p["username"]),
            ("NAME", lambda p: f"{p['first_name']} {p['last_name']}".strip() or "-"),
            ("ROLE", lambda p: p["role"]),
            ("TEAMS", lambda p: ", ".join(t["team"] for t in p["teams"]) or "-"),
            ("SIGNS IN", lambda p: "yes" if p["is_active"] else "no (kept out)"),
            ("LAST SIGN-IN", lambda p: when(p["last_login"]) if p["last_login"] else "never"),
        ],
        empty="No people.",
    )
    return Exit.OK


def cmd_people_add(ctx: Context) -> int:
    args = ctx.args
    person = ctx.client.post(
        "people/",
        {
            "username": args.username,
            "email": args.email,
            "role": args.role,
            **({"first_name": args.first_name} if args.first_name else {}),
            **({"last_name": args.last_name} if args.last_name else {}),
        },
    )
    if ctx.json:
        print_json(person)
    else:
        print(
            f"Added {person['username']} ({person['role']}); "
            f"a first sign-in link is on its way to {args.email}."
        )
    return Exit.OK


def cmd_people_sign_in_link(ctx: Context) -> int:
    person = _person(ctx, ctx.args.username)
    ctx.client.post(f"people/{person['id']}/sign-in-link/", {})
    print(f"A new sign-in link is on its way to {person['username']}.")
    return Exit.OK
