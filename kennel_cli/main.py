"""The ``kennel`` command: argument parsing and dispatch. Commands live in ``kennel_cli.commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kennel_cli import __version__
from kennel_cli.commands import (
    auth,
    catalog,
    completion,
    fips,
    firewall,
    hosts,
    people,
    quotas,
    services,
    vms,
    volumes,
)
from kennel_cli.context import Context
from kennel_cli.errors import EXIT_CODES_HELP, CliError, Exit

DESCRIPTION = """The command line of Kennel, the self-service portal of the team's OpenStack cloud.
It talks to Kennel's REST API only: the same rules, quotas and audit log as the web pages.
Start with: kennel login https://kennel.example.org"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kennel",
        description=DESCRIPTION,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kennel {__version__}")
    parser.add_argument(
        "--url", help="the Kennel server for this command (default: the one you logged in to)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="per HTTP request (default: 30)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True
    for module in (auth, catalog, vms, volumes, fips, firewall, hosts, quotas, services, people, completion):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with argparse's message on a usage error
    try:
        return int(args.func(Context(args)) or Exit.OK)
    except CliError as error:
        print(f"kennel: {error.message}", file=sys.stderr)
        return int(error.code)
    except KeyboardInterrupt:
        print("\nkennel: interrupted", file=sys.stderr)
        return int(Exit.INTERRUPTED)
    except BrokenPipeError:  # `kennel vm list | head`
        return int(Exit.OK)


if __name__ == "__main__":
    sys.exit(main())
