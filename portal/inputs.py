"""Input helpers every app's forms and views use for what arrives raw (query strings, hidden fields,
buttons): ids that are numbers, numbers that fit."""

from __future__ import annotations

import re

from django import forms

# The largest value of PostgreSQL's ``integer`` (and of the 32-bit limits the clouds' quota APIs keep).
# No form hands the code a larger number, so none reaches date arithmetic or the database to overflow.
INTEGER_MAX = 2**31 - 1
# Ids are PostgreSQL ``bigint``: ASCII digits only (no "-1", "²" or "1e3"), at most 18 of them so that
# any of them fits (9.2e18). The API's router matches path ids with the same pattern.
ID_PATTERN = "[0-9]{1,18}"
_OBJECT_ID = re.compile(ID_PATTERN)


def object_id(value: object) -> int | None:
    """The id written in ``value`` (a query-string or form value), or None when it is not one.

    Only ASCII digits count (``int()`` would take "²" or "١٢" and fail later, or " 7"), and only as
    many as fit an id: "abc", "-1", "1e9", "9" * 5000 or a NUL are None, never an exception."""
    if isinstance(value, str) and _OBJECT_ID.fullmatch(value):
        return int(value)
    return None


class BoundedIntegerField(forms.IntegerField):
    """A whole number with bounds by default (0 to INTEGER_MAX): a lease extended by millions of days,
    a quota of 10**30 or a port past 65535 is a form error, never an overflow further on."""

    def __init__(self, *, min_value: int = 0, max_value: int = INTEGER_MAX, **kwargs) -> None:
        super().__init__(min_value=min_value, max_value=max_value, **kwargs)
