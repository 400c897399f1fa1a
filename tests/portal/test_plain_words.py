"""Pages speak to people, not to the server's environment: no environment variable name appears in a
template or in any string a page can show (every one is in the translation catalogue). The names stay
in the README's configuration table, where an administrator looks them up."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from tests.portal.test_i18n import CATALOGUE, parse_po

ENVIRONMENT_NAME = re.compile(r"\b(KENNEL|OS|DATABASE|REDIS|DJANGO|CELERY)_[A-Z][A-Z0-9_]*\b")


def test_no_template_names_an_environment_variable():
    found = [
        f"{path.relative_to(settings.BASE_DIR)}:{number}: {match.group(0)}"
        for path in sorted((Path(settings.BASE_DIR) / "templates").rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        for match in ENVIRONMENT_NAME.finditer(line)
    ]
    assert not found, "say what to do in words instead:\n" + "\n".join(found)


def test_no_message_a_page_can_show_names_an_environment_variable():
    found = [
        f"django.po:{entry.line}: {entry.msgid[:80]}"
        for entry in parse_po(CATALOGUE.read_text())
        if ENVIRONMENT_NAME.search(entry.msgid + (entry.msgid_plural or ""))
    ]
    assert not found, "say what to do in words instead:\n" + "\n".join(found)


def test_the_pattern_finds_the_names_it_must():
    assert ENVIRONMENT_NAME.search("set KENNEL_PROMETHEUS_URL to") and ENVIRONMENT_NAME.search("OS_PASSWORD")
    assert not ENVIRONMENT_NAME.search("Kennel, OS image, x86_64")
