"""``python manage.py prometheus_rules [--output FILE] [--rate-seconds N]``: Kennel's recording rules as
a Prometheus rules file (YAML), for the Prometheus Kennel reads (its ``rule_files``). Written from this
Kennel's settings: the host and VM labels and ``KENNEL_PROMETHEUS_RATE_SECONDS``. Then set
``KENNEL_PROMETHEUS_RULES=1``."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandParser

from usage.queries import recording_rules


class Command(BaseCommand):
    help = "Write Kennel's Prometheus recording rules (YAML) to a file or standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", help="the rules file to write (default: standard output)")
        parser.add_argument(
            "--rate-seconds", type=int, default=None, help="rate()'s window (default: the setting's)"
        )

    def handle(self, *args, output: str | None = None, rate_seconds: int | None = None, **options) -> None:
        text = yaml.safe_dump(recording_rules(rate_seconds=rate_seconds), sort_keys=False, width=200)
        if output:
            path = Path(output)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        else:
            self.stdout.write(text, ending="")
