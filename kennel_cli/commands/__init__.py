"""One module per noun: auth (login, logout, whoami), catalog, vms, volumes, fips, firewall, hosts, people,
quotas, services (blueprints and team services), completion."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from typing import Any

from kennel_cli.errors import EXIT_CODES_HELP


def command(
    group: Any, name: str, func: Callable, help: str, *, json: bool = True, description: str = ""
) -> argparse.ArgumentParser:
    """A leaf command with ``--help`` (exit codes included) and, unless it prints nothing, ``--json``."""
    # Raw formatting keeps the exit code list as written; long description lines are wrapped here.
    text = "\n".join(
        textwrap.fill(line, 78) if len(line) > 78 else line for line in (description or help).split("\n")
    )
    parser = group.add_parser(
        name,
        help=help,
        description=text,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if json:
        parser.add_argument("--json", action="store_true", help="print the server's JSON, for scripts")
    parser.set_defaults(func=func)
    return parser


def noun(commands: Any, name: str, help: str) -> Any:
    """A group such as ``kennel vm``: its own subcommands, one of which is required."""
    parser = commands.add_parser(name, help=help, description=help)
    group = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", title="commands")
    group.required = True
    return group
