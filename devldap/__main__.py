"""``python -m devldap demo ROOT``: the demo's directory on 127.0.0.1:16389 (StartTLS with a CA made
under ROOT) until SIGTERM or Ctrl-C. Once it answers it writes ROOT/env, the KENNEL_LDAP_* settings
that point Kennel at it (scripts/run.sh sources them)."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import threading
from pathlib import Path

from devldap import Directory, make_tls
from devldap.demo import DEMO_GROUPS, DEMO_PEOPLE, DEMO_PORT, DEMO_SETTINGS


def demo(root: Path) -> None:
    root = root.resolve()
    env_file = root / "env"
    env_file.unlink(missing_ok=True)
    tls = make_tls(root / "tls")
    directory = Directory(
        root=root, people=list(DEMO_PEOPLE), groups=list(DEMO_GROUPS), port=DEMO_PORT, tls=tls
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with directory:
        settings = {
            "KENNEL_LDAP_URL": directory.url,
            "KENNEL_LDAP_BIND_DN": directory.reader_dn,
            "KENNEL_LDAP_BIND_PASSWORD": directory.reader_password,
            "KENNEL_LDAP_USER_BASE": directory.people_base,
            "KENNEL_LDAP_GROUP_BASE": directory.groups_base,
            "KENNEL_LDAP_CA_FILE": str(tls.ca_file),
            **DEMO_SETTINGS,
        }
        env_file.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in settings.items()))
        print(f"devldap: the demo directory on {directory.url} (StartTLS), base {directory.base}", flush=True)
        for person in DEMO_PEOPLE:
            print(f"devldap: {person.uid} / {person.password}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(1) and directory.running:
                pass
    env_file.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devldap")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="the demo's directory until Ctrl-C").add_argument("root", type=Path)
    args = parser.parse_args()
    if args.command == "demo":
        demo(args.root)


main()
