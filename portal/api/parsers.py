"""The API's request parsers: JSON that is bounded before any view sees it, and CSV text that must be
UTF-8. Every refusal is a 400 that says what was wrong, never a server error."""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser, get_encoding

from portal.inputs import INTEGER_MAX

# The largest value of a PostgreSQL integer column (the one the forms use): every integer the API
# accepts into one is bounded by it (the schema test in tests/portal/api/ checks that every integer
# input has a maximum).
PG_INT_MAX = INTEGER_MAX
# A request body is read whole into memory; the largest legitimate one is a 2 MB server CSV sent as a
# JSON string (escaping can double it).
MAX_JSON_BYTES = 5 * 1024 * 1024
# Nothing the API accepts nests deeper than a few levels; Python's json gives up (RecursionError)
# near 1,000, and deep structures cost recursion in every layer after it.
MAX_JSON_DEPTH = 32
# A lone UTF-16 surrogate ("\ud800" in JSON) cannot be encoded as UTF-8, so PostgreSQL, the audit log
# and every template would fail on it; NUL cannot be stored in PostgreSQL text at all.
UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


def unstorable_text_message(text: str) -> str | None:
    """Why ``text`` cannot be stored (a lone surrogate or a NUL character), or None when it can."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return _("Text may not contain NUL characters.")
    return _("Text may not contain lone UTF-16 surrogates (such as \\ud800); send valid Unicode.")


def _check(value: Any) -> None:
    """Walk the parsed body without recursion: bounded depth, storable text in keys and values."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = unstorable_text_message(item)
            if problem:
                raise ParseError(problem)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ParseError(
                    _("The JSON body nests deeper than %(depth)s levels.") % {"depth": MAX_JSON_DEPTH}
                )
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def json_body_load(raw: bytes, encoding: str = "utf-8") -> Any:
    """``raw`` as JSON, within the bounds above; ParseError (400) with the reason otherwise."""
    if len(raw) > MAX_JSON_BYTES:
        raise ParseError(
            _("The JSON body is larger than %(size)s MB.") % {"size": MAX_JSON_BYTES // (1024 * 1024)}
        )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        raise ParseError(
            _("The JSON body is not valid %(encoding)s text.") % {"encoding": encoding}
        ) from None
    try:
        # DRF's strict mode: NaN and Infinity are not JSON.
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ParseError(
            _("The JSON body nests deeper than %(depth)s levels.") % {"depth": MAX_JSON_DEPTH}
        ) from None
    except ValueError as error:
        raise ParseError(_("The JSON body is not valid JSON: %(error)s") % {"error": error}) from None
    _check(data)
    if not isinstance(data, dict):
        raise ParseError(
            _("The JSON body must be an object ({…}), not %(kind)s.") % {"kind": _json_kind(data)}
        )
    return data


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return _("a boolean")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, str):
        return _("a string")
    return _("a number")


class BoundedJSONParser(JSONParser):
    """The API's JSON parser (``DEFAULT_PARSER_CLASSES``): an object, at most MAX_JSON_BYTES and
    MAX_JSON_DEPTH deep, with no lone surrogate or NUL in any string. Anything else is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        raw = stream.read(MAX_JSON_BYTES + 1) if stream is not None else b""
        return json_body_load(raw, encoding)


class CsvTextParser(BaseParser):
    """A request body that is the CSV file itself (``Content-Type: text/csv``), UTF-8 (a BOM is fine)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return {"csv": csv_text_decode(stream.read() if stream is not None else b"")}


def csv_text_decode(raw: bytes) -> str:
    """An uploaded CSV file as text; ParseError (400) when it is not UTF-8 text."""
    try:
        text = codecs.decode(raw, "utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(
            _('The file is not UTF-8 text: save the CSV as UTF-8 (e.g. "CSV UTF-8" in a spreadsheet).')
        ) from None
    if "\x00" in text:
        raise ParseError(_("The file is not text: it contains NUL characters."))
    return text
