"""The demo estate's BMCs, read from ``kennel/demo_estate.toml``: the one file that ``python -m bmcsim
demo`` (started by ``make run``) and ``manage.py demo_load`` (which stores them on the servers) both read,
so neither imports the other."""

from __future__ import annotations

import tomllib

from bmcsim.fleet import ROOT, BmcSpec

DEMO_ESTATE = ROOT / "kennel" / "demo_estate.toml"


def demo_bmcs() -> tuple[BmcSpec, ...]:
    with DEMO_ESTATE.open("rb") as estate:
        entries = tomllib.load(estate)["bmc"]
    return tuple(
        BmcSpec(
            entry["server"],
            entry["protocol"],
            entry["port"],
            entry["username"],
            entry["password"],
            powered_on=entry.get("powered_on", True),
        )
        for entry in entries
    )


DEMO_BMCS = demo_bmcs()
