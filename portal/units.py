"""Amounts for people: RAM in GiB wherever a page shows it (the cloud and the database count MiB)."""

from __future__ import annotations


def gib_text(mb: int | float | None) -> str:
    """``mb`` mebibytes as GiB, without needless decimals: 512 -> "0.5 GiB", 2048 -> "2 GiB",
    1536 -> "1.5 GiB", 64 -> "0.06 GiB"; "" for None."""
    if mb is None:
        return ""
    value = float(mb) / 1024
    digits = 2 if abs(value) < 10 else 1
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return f"{'0' if text in ('', '-0') else text} GiB"
