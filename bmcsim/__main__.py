"""``python -m bmcsim demo``: the demo estate's BMCs until Ctrl-C (what ``make run`` starts).
``python -m bmcsim ipmi-serve``: IPMI BMCs described as JSON on stdin (used by bmcsim.fleet)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading


def ipmi_serve() -> None:
    from bmcsim.ipmi import EmulatedIpmiBmc, serve_forever

    for spec in json.load(sys.stdin):
        EmulatedIpmiBmc(
            username=spec["username"],
            password=spec["password"],
            port=spec["port"],
            address=spec["host"],
            powered_on=spec["powered_on"],
        )
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(stop)


def demo() -> None:
    from bmcsim.demo import DEMO_BMCS
    from bmcsim.fleet import Fleet

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Fleet(DEMO_BMCS):
        for spec in DEMO_BMCS:
            print(f"bmcsim: {spec.name} {spec.protocol} on {spec.host}:{spec.port}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser("bmcsim", description=__doc__)
    parser.add_argument("command", choices=["demo", "ipmi-serve"])
    args = parser.parse_args()
    {"demo": demo, "ipmi-serve": ipmi_serve}[args.command]()


if __name__ == "__main__":
    main()
