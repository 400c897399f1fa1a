"""The Simplified Chinese catalogue is complete and compiled, and a user who picks it gets Chinese pages."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

CATALOGUE = Path(django_settings.LOCALE_PATHS[0]) / "zh_Hans" / "LC_MESSAGES" / "django.po"
COMPILED = CATALOGUE.with_suffix(".mo")


@dataclass
class Entry:
    """One message of a .po file: its msgid (and plural), its translations and its flags."""

    msgid: str = ""
    msgctxt: str | None = None  # pgettext's context: the same msgid may mean two things
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0


def parse_po(text: str) -> list[Entry]:
    """The entries of a .po file, header included; obsolete (``#~``) entries are left out.

    Small on purpose: gettext's own format is simple enough that a parser beats a dependency.
    """
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None  # which string the next continuation line extends

    def finish() -> None:
        nonlocal entry, target
        if target is not None:
            entries.append(entry)
        entry, target = Entry(), None

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
        elif line.startswith("#,"):
            if target is not None:
                finish()
            entry.flags.update(flag.strip() for flag in line[2:].split(",") if flag.strip())
        elif line.startswith("#"):
            if target is not None and not line.startswith("#~"):
                finish()
        else:
            keyword, _, rest = line.partition(" ")
            if keyword.startswith('"'):
                assert target is not None, f"line {number}: a continuation without a keyword"
                rest = line
            else:
                if keyword in ("msgid", "msgctxt") and target is not None and target[0] != "msgctxt":
                    finish()
                if keyword == "msgid":
                    entry.line = number
                    target = ("msgid", 0)
                elif keyword == "msgid_plural":
                    entry.msgid_plural = ""
                    target = ("msgid_plural", 0)
                elif keyword == "msgstr":
                    target = ("msgstr", 0)
                elif keyword.startswith("msgstr["):
                    target = ("msgstr", int(keyword[7:-1]))
                elif keyword == "msgctxt":
                    entry.msgctxt = ""
                    target = ("msgctxt", 0)
                else:
                    raise AssertionError(f"line {number}: unknown keyword {keyword!r}")
                if target[0] == "msgstr":
                    entry.msgstr.setdefault(target[1], "")
            value = ast.literal_eval(rest)  # a C string literal reads as a Python one here
            kind, index = target
            if kind == "msgid":
                entry.msgid += value
            elif kind == "msgctxt":
                entry.msgctxt = (entry.msgctxt or "") + value
            elif kind == "msgid_plural":
                entry.msgid_plural = (entry.msgid_plural or "") + value
            elif kind == "msgstr":
                entry.msgstr[index] += value
    finish()
    return entries


def messages() -> list[Entry]:
    return [e for e in parse_po(CATALOGUE.read_text(encoding="utf-8")) if e.msgid]


def test_the_catalogue_exists_and_declares_one_plural_form():
    header = next(e for e in parse_po(CATALOGUE.read_text(encoding="utf-8")) if e.msgid == "")
    assert "Plural-Forms: nplurals=1; plural=0;" in header.msgstr[0]
    assert "fuzzy" not in header.flags
    assert len(messages()) > 50, "makemessages found suspiciously few strings"


def test_every_message_is_translated_and_none_is_fuzzy():
    problems = []
    for entry in messages():
        if "fuzzy" in entry.flags:
            problems.append(f"line {entry.line}: fuzzy: {entry.msgid!r}")
        if entry.msgid_plural is not None and set(entry.msgstr) != {0}:
            problems.append(f"line {entry.line}: Chinese has one plural form, not {sorted(entry.msgstr)}")
        if not entry.msgstr or not all(entry.msgstr.values()):
            problems.append(f"line {entry.line}: untranslated: {entry.msgid!r}")
    assert not problems, "Translate these in " + str(CATALOGUE) + ":\n" + "\n".join(problems)


def test_translations_keep_their_placeholders():
    placeholder = re.compile(r"%\(\w+\)[sd]|\{\{\s*\w+\s*\}\}")
    for entry in messages():
        expected = sorted(placeholder.findall(entry.msgid))
        for translation in entry.msgstr.values():
            assert sorted(placeholder.findall(translation)) == expected, entry.msgid


def test_the_compiled_catalogue_is_current():
    # git writes both files within a moment of each other, in no promised order; a second's slack
    # covers that, and the content comparison below catches an edit made inside that second.
    assert COMPILED.exists(), "run: make messages"
    assert COMPILED.stat().st_mtime >= CATALOGUE.stat().st_mtime - 1, "django.mo is older: make messages"
    with COMPILED.open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    for entry in messages():
        # gettext keys a message with a context as "context\x04msgid".
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            assert catalog.get(key) == entry.msgstr[0], f"stale django.mo: {entry.msgid!r}"
        else:
            assert catalog.get((key, 0)) == entry.msgstr[0], f"stale django.mo: {entry.msgid!r}"


def test_parse_po_reads_plurals_continuations_flags_and_escapes():
    entries = parse_po(
        "#, fuzzy, python-format\n"
        'msgid "%(counter)s team"\n'
        'msgid_plural "%(counter)s teams"\n'
        'msgstr[0] ""\n'
        '"%(counter)s 个\\"团队\\""\n'
        "\n"
        "#: x.py:1\n"
        'msgid "Untranslated"\n'
        'msgstr ""\n'
        "\n"
        '#~ msgid "Gone"\n'
        '#~ msgstr "走了"\n'
    )
    assert [(e.msgid, e.msgid_plural, e.msgstr, e.flags) for e in entries] == [
        ("%(counter)s team", "%(counter)s teams", {0: '%(counter)s 个"团队"'}, {"fuzzy", "python-format"}),
        ("Untranslated", None, {0: ""}, set()),
    ]


def test_parse_po_keeps_a_messages_context_with_it():
    entries = parse_po(
        'msgctxt "server state"\nmsgid "Running"\nmsgstr "运行中"\n\nmsgid "Running"\nmsgstr "执行中"\n'
    )
    assert [(e.msgctxt, e.msgid, e.msgstr[0]) for e in entries] == [
        ("server state", "Running", "运行中"),
        (None, "Running", "执行中"),
    ]


@pytest.mark.parametrize(
    ("who", "english", "chinese"),
    [
        ("member", "My teams", "我的团队"),
        ("manager", "Audit log", "审计日志"),
        ("admin", "Administration", "系统管理"),
    ],
)
def test_a_user_who_picks_chinese_gets_the_landing_page_in_chinese(client, people, who, english, chinese):
    signed_in = client.post(reverse("login"), {"username": who, "password": "correct-horse-battery"})
    assert signed_in.status_code == 302
    page = client.get(reverse("home")).text
    assert '<html lang="en"' in page and english in page

    # What the top bar's language selector submits.
    assert f'action="{reverse("set_language")}"' in page and '<option value="zh-hans"' in page
    response = client.post(
        reverse("set_language"), {"language": "zh-hans", "next": reverse("home")}, follow=True
    )

    assert response.redirect_chain == [(reverse("home"), 302)]
    page = response.text
    assert '<html lang="zh-hans"' in page
    assert chinese in page and english not in page
    assert "退出登录" in page  # the top bar too


# --- messages made at run time (portal.stored_messages) ----------------------------------------------


def _compiled_chinese() -> dict:
    with COMPILED.open("rb") as compiled:
        return gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]


def test_every_stored_message_has_a_chinese_translation():
    from portal.stored_messages import catalogue

    chinese = _compiled_chinese()
    missing = []
    for message_id, template in catalogue().items():
        msgid = _msgid(template)
        if not chinese.get(msgid):
            missing.append(f"{message_id}: {msgid!r}")
    assert len(catalogue()) > 20
    assert not missing, "stored messages without a Chinese translation:\n" + "\n".join(missing)


def _msgid(template) -> str:
    from django.utils import translation

    with translation.override("en"):  # Kennel has no English catalogue: the msgid itself
        return str(template)


def _english_fragments(template: str) -> list[str]:
    """The words of a template between its placeholders (what must not appear in a Chinese page)."""
    return [
        part.strip(" .,;:()") for part in re.split(r"%\(\w+\)s", template) if len(part.strip(" .,;:()")) > 3
    ]


def test_a_vms_history_in_chinese_has_no_english_template_text(client, member, team):
    from portal.stored_messages import MessageKind, catalogue
    from provisioning import stored_messages as texts
    from provisioning.models import VmEvent, VmRequest
    from tests.factories import VmRequestFactory

    vm = VmRequestFactory(owner=member, team=team, name="web1")
    samples = {"user": "dev1", "host": "x2", "id": "srv-1", "date": "2026-12-31", "ip": "192.0.2.7"}
    vm_messages = {
        i: t for i, t in catalogue().items() if i.startswith("vm.") and not i.startswith("vm.verb.")
    }
    for message_id in vm_messages:
        kind = MessageKind(message_id, vm_messages[message_id])
        params = {}
        for name in re.findall(r"%\((\w+)\)s", _msgid(vm_messages[message_id])):
            params[name] = (
                texts.ACTION_VERBS["reboot_soft"]() if name == "action" else samples.get(name, "42")
            )
        message = kind(**params)
        VmEvent.objects.create(
            request=vm, status=VmRequest.Status.ACTIVE, message=message.english(), message_ref=message.ref()
        )
    client.force_login(member)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = client.get(reverse("provisioning:vm-detail", args=[vm.pk])).text

    history = page[page.index('data-testid="vm-events"') :]
    history = history[: history.index("</ol>")]
    assert history.count("<li>") == len(vm_messages)
    leaked = [
        f"{message_id}: {fragment!r}"
        for message_id, template in vm_messages.items()
        for fragment in _english_fragments(_msgid(template))
        if fragment in history
    ]
    assert not leaked, "English in the Chinese VM history:\n" + "\n".join(leaked)
    assert "由 dev1 申请。" in history and "已在 x2 上创建。" in history


@pytest.mark.parametrize("url", ["provisioning:vm-list", "quotas:request-list"])
def test_sort_choices_read_in_chinese(client, people, url):
    client.force_login(people["admin"])
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    page = client.get(reverse(url)).text

    sort = page[page.index('name="ordering"') :]
    sort = sort[: sort.index("</select>")]
    assert "descending" not in sort and "Created" not in sort and "Status" not in sort
    assert "申请时间" in sort and "降序" in sort
