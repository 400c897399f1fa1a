"""``kennel login``, ``kennel logout``, ``kennel whoami``."""

from __future__ import annotations

import contextlib
import getpass
import socket
import sys
import urllib.parse

from kennel_cli.client import Client
from kennel_cli.commands import command
from kennel_cli.config import Config, config_load, config_path, config_save
from kennel_cli.context import Context
from kennel_cli.errors import CliError, Exit
from kennel_cli.output import expiry, print_fields, print_json

LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def register(commands) -> None:
    login = command(
        commands,
        "login",
        cmd_login,
        "log in to a Kennel server and keep a personal API token",
        description=(
            "Asks for your username and password (or takes --token), obtains a personal API token named "
            "after this machine, and saves the server's address and the token in "
            f"{config_path()} (mode 0600). Logging in again replaces (and revokes) the previous token."
        ),
    )
    login.add_argument("server", nargs="?", metavar="URL", help="e.g. https://kennel.example.org")
    login.add_argument("--username", "-u", help="default: asked for")
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (scripts)"
    )
    login.add_argument(
        "--token",
        metavar="KEY",
        help="use an existing token (kn_…) from the API tokens page; '-' reads stdin",
    )
    login.add_argument("--name", help="the new token's name (default: 'kennel CLI on <this host>')")
    login.add_argument(
        "--read-only",
        action="store_true",
        help="ask for a read-only token: it lists and shows, and the server refuses any change with it",
    )

    logout = command(
        commands,
        "logout",
        cmd_logout,
        "revoke this machine's token on the server and forget it",
        json=False,
    )
    logout.add_argument(
        "--forget", action="store_true", help="forget the token even if the server cannot be reached"
    )
    command(
        commands,
        "whoami",
        cmd_whoami,
        "show who you are logged in as, your role and teams, and when your token expires",
    )


def _normalized(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(
            f"{url!r} is not a server address; give one like https://kennel.example.org", Exit.USAGE
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _read_secret(prompt: str, *, from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        try:
            value = getpass.getpass(prompt)
        except EOFError:
            value = ""
    if not value:
        raise CliError("No password given.", Exit.USAGE)
    return value


def cmd_login(ctx: Context) -> int:
    args = ctx.args
    previous = config_load(use_environment=False)
    server = args.server or args.url or previous.url
    if not server:
        raise CliError("Which server? Run: kennel login https://kennel.example.org", Exit.USAGE)
    url = _normalized(server)
    host = urllib.parse.urlsplit(url).hostname or ""
    if url.startswith("http://") and host not in LOOPBACK:
        print(
            f"kennel: warning: {url} is not HTTPS; your password and token travel unencrypted",
            file=sys.stderr,
        )

    if args.token:
        from_stdin = args.token == "-"  # noqa: S105 ("-" means stdin, not a password)
        key = sys.stdin.readline().strip() if from_stdin else args.token.strip()
        client = Client(url, key, timeout=args.timeout)
        me = client.get("me/")  # proves the token works before it is saved
        config = Config(url=url, token=key, username=me["username"])
        described = "the given token"
        token = me.get("token") or {}
    else:
        username = args.username
        if not username:
            if not sys.stdin.isatty() or args.password_stdin:
                raise CliError("Give --username when the password comes from standard input.", Exit.USAGE)
            username = input("Username: ").strip()
        password = _read_secret(f"Password for {username} at {url}: ", from_stdin=args.password_stdin)
        name = args.name or f"kennel CLI on {socket.gethostname()}"
        try:
            created = Client(url, timeout=args.timeout).post(
                "auth/login/",
                {"username": username, "password": password, "name": name[:100], "read_only": args.read_only},
            )
        except CliError as error:
            if error.code == Exit.NOT_FOUND:
                raise CliError(
                    f"{url} has no Kennel login API (/api/v1/auth/login/): check the address.", Exit.NOT_FOUND
                ) from None
            raise
        config = Config(url=url, token=created["key"], token_id=created["id"], username=created["username"])
        described = f"token {created['name']!r} ({created['prefix']}…)"
        token = created

    path = config_save(config)
    # The token this machine held before is useless now: revoke it rather than leave it valid.
    if previous.token and previous.token != config.token and previous.url:
        # Already revoked or expired, or that server is gone: nothing left to undo.
        with contextlib.suppress(CliError):
            Client(previous.url, previous.token, timeout=args.timeout).post("auth/logout/")
    if ctx.json:
        print_json(
            {
                "url": url,
                "username": config.username,
                "token_id": config.token_id,
                "config": str(path),
                "expires_at": token.get("expires_at"),
                "read_only": bool(token.get("read_only")),
            }
        )
    else:
        print(f"Logged in to {url} as {config.username} with {described}. Saved in {path}.")
        scope = "read-only" if token.get("read_only") else "full access"
        print(f"The token ({scope}) expires: {expiry(token.get('expires_at'))}.")
    return Exit.OK


def cmd_logout(ctx: Context) -> int:
    config = config_load(use_environment=False)
    if not config.token:
        print("Not logged in; nothing to do.")
        return Exit.OK
    try:
        Client(config.url, config.token, timeout=ctx.args.timeout).post("auth/logout/")
        outcome = "Token revoked on the server"
    except CliError as error:
        if error.code == Exit.AUTH:
            outcome = "The server no longer accepted the token"
        elif ctx.args.forget:
            outcome = (
                f"Could not revoke the token ({error.message.splitlines()[0]}); revoke it under API tokens"
            )
        else:
            raise CliError(
                f"{error.message}\nThe token is still valid. Run kennel logout again when the server "
                "answers, or kennel logout --forget to drop it here anyway.",
                error.code,
            ) from None
    config_save(Config(url=config.url))  # keep the address for the next login
    print(f"{outcome}; logged out of {config.url}.")
    return Exit.OK


def cmd_whoami(ctx: Context) -> int:
    me = ctx.me
    if ctx.json:
        print_json({**me, "url": ctx.url})
        return Exit.OK
    teams = ", ".join(f"{t['slug']} ({t['level']})" for t in me.get("teams", [])) or "-"
    token = me.get("token") or {}
    fields = [("user", me["username"]), ("role", me["role"]), ("teams", teams), ("server", ctx.url)]
    if token:
        scope = "read-only" if token.get("read_only") else "full access"
        fields += [
            ("token", f"{token['name']} ({token['prefix']}…), {scope}"),
            ("expires", expiry(token.get("expires_at"))),
        ]
    print_fields(fields)
    return Exit.OK
