"""Validators every app uses for text a person types: the one place the rule is written.

A name or label (a team, VM, server, profile, SSH key, token, image's friendly name, a reason typed in
one line ...) ends up in generated files (openrc.sh, clouds.yaml, CSV exports, user-data), e-mails, logs
and the audit log. A control character there can start a new line in any of them, end a string early
(NUL) or hide what follows, so names refuse every one of them: C0 (U+0000 to U+001F, which includes tab,
CR and LF), DEL, C1 (U+0080 to U+009F, which includes NEL) and the Unicode line and paragraph separators
(U+2028, U+2029). Free text typed in a text area (notes, descriptions, a quota request's reason) may
hold line breaks and tabs, and nothing else of those.

Files are still written with proper quoting (shlex.quote, a YAML emitter, the csv module): these
checks keep stored data clean, the quoting keeps the files safe whatever is stored.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_LINE_BREAKING = "\x00-\x1f\x7f-\x9f\u2028\u2029"
CONTROL_CHARACTERS = re.compile(f"[{_LINE_BREAKING}]")
# The same, less tab, LF and CR: what free text may not hold.
TEXT_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def _describe(character: str) -> str:
    return f"U+{ord(character):04X}"


def validate_single_line(value: object) -> None:
    """Refuse a name or label holding a control character or a line or paragraph separator."""
    if not isinstance(value, str):
        return
    found = CONTROL_CHARACTERS.search(value)
    if found:
        raise ValidationError(
            _(
                "Use one line of visible characters: %(character)s (a control character or line "
                "break) is not allowed."
            ),
            code="control_character",
            params={"character": _describe(found.group())},
        )


def validate_text(value: object) -> None:
    """Refuse free text holding a control character other than tab and line breaks (LF, CR)."""
    if not isinstance(value, str):
        return
    found = TEXT_CONTROL_CHARACTERS.search(value)
    if found:
        raise ValidationError(
            _("%(character)s is a control character and is not allowed here."),
            code="control_character",
            params={"character": _describe(found.group())},
        )


def one_line(value: str) -> str:
    """``value`` with every character a name may not hold replaced by a space: for text written into a
    generated file's comment or header, whatever was stored (rows written before the validators, or
    around them)."""
    return CONTROL_CHARACTERS.sub(" ", value)
