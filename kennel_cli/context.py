"""What every command gets: its parsed arguments, the saved configuration and an API client."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property

from kennel_cli.client import Client
from kennel_cli.config import Config, config_load
from kennel_cli.errors import CliError, Exit


@dataclass
class Context:
    args: argparse.Namespace
    config: Config = field(default_factory=config_load)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def url(self) -> str:
        return (getattr(self.args, "url", None) or self.config.url).rstrip("/")

    @cached_property
    def client(self) -> Client:
        """A client with the saved token; refuses (exit 3) when there is none."""
        if not self.url or not self.config.token:
            raise CliError(
                "Not logged in. Run: kennel login URL (or set KENNEL_URL and KENNEL_TOKEN).", Exit.AUTH
            )
        saved = config_load(use_environment=False)
        if not os.environ.get("KENNEL_TOKEN") and self.url != saved.url.rstrip("/"):
            # The saved token belongs to the server it came from; never send it anywhere else.
            raise CliError(
                f"You are logged in to {saved.url}, not {self.url}. Run: kennel login {self.url}", Exit.AUTH
            )
        return Client(self.url, self.config.token, timeout=self.args.timeout)

    @cached_property
    def me(self) -> dict:
        """The signed-in user: username, role (developer, manager, admin) and teams."""
        return self.client.get("me/")

    def require_role(self, *roles: str, doing: str) -> None:
        """Refuse early, with a clear reason, what the server would refuse (or hide) for this role."""
        role = self.me.get("role")
        if role not in roles:
            wanted = " or ".join(f"{r}s" for r in roles)
            raise CliError(
                f"{doing} is for {wanted}; you ({self.me.get('username')}) are a {role}. "
                "Ask a Kennel admin if you need it.",
                Exit.REFUSED,
            )

    def team(self) -> str:
        """``--team``, or the user's only team; refuses to guess between several."""
        if getattr(self.args, "team", None):
            return self.args.team
        teams = [t["slug"] for t in self.me.get("teams", [])]
        if len(teams) == 1:
            return teams[0]
        if not teams:
            raise CliError("You are in no team; ask a Kennel admin to add you to one.", Exit.REFUSED)
        raise CliError(f"You are in several teams ({', '.join(teams)}); choose one with --team.", Exit.USAGE)

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty()
