"""An emulated Redfish BMC: sushy-tools' emulator with its fake driver, one system, basic auth.

What sushy-tools gives and what is filled in here, honestly:

* Systems, power state and ComputerSystem.Reset come from sushy-tools' fake driver unchanged. Like
  a real BMC, it applies a power change late: after a random 1 to 11 s.
* Thermal (temperatures, fans) comes from sushy-tools unchanged. It is served only on the first
  chassis, which is the only chassis here, and its readings are fixed (CPU 41 °C, intake 25 °C,
  fan 2100 RPM) whatever the power state.
* sushy-tools has no ``Power`` resource. This module adds ``/redfish/v1/Chassis/<id>/Power`` (one
  PowerControl whose PowerConsumedWatts follows the system's power state) and links it from the
  chassis, so a Redfish poller can read power draw as it would from a real BMC.

Each emulator keeps its state in a fresh directory (``--state-dir``) and a bcrypt htpasswd at cost 4:
at sushy-tools' usual cost 12 every request would spend ~0.28 s hashing.

With ``--tls-cert`` and ``--tls-key`` (PEM files) it speaks HTTPS with that certificate, as a real BMC
does, for the tests of certificate verification.

Run: ``python -m bmcsim.redfish --port 18081 --username admin --password-env BMC_PASSWORD ...``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import uuid
from pathlib import Path

import bcrypt


def write_htpasswd(path: Path, username: str, password: str) -> None:
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"{username}:{digest}\n")
    path.chmod(0o600)


def build_app(*, name: str, username: str, password: str, state_dir: Path, powered_on: bool):
    """sushy-tools' Flask app configured for one fake system, with the Power resource added."""
    os.environ.pop("SUSHY_EMULATOR_CONFIG", None)
    import flask
    from sushy_tools.emulator import main as emulator

    state_dir.mkdir(parents=True, exist_ok=True)
    write_htpasswd(state_dir / "htpasswd", username, password)
    system_uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.bmcsim.kennel"))
    app = emulator.app
    app.configure(
        extra_config={
            "SUSHY_EMULATOR_FAKE_DRIVER": True,
            "SUSHY_EMULATOR_FAKE_SYSTEMS": [
                {"uuid": system_uuid, "name": name, "power_state": "On" if powered_on else "Off", "nics": []}
            ],
            "SUSHY_EMULATOR_STATE_DIR": str(state_dir),
            "SUSHY_EMULATOR_AUTH_FILE": str(state_dir / "htpasswd"),
        }
    )

    @app.route("/redfish/v1/Chassis/<identity>/Power", methods=["GET"])
    def power_resource(identity: str):
        on = all(app.systems.get_power_state(system) == "On" for system in app.systems.systems)
        body = {
            "@odata.type": "#Power.v1_5_0.Power",
            "@odata.id": f"/redfish/v1/Chassis/{identity}/Power",
            "Id": "Power",
            "Name": "Power",
            "PowerControl": [
                {
                    "@odata.id": f"/redfish/v1/Chassis/{identity}/Power#/PowerControl/0",
                    "MemberId": "0",
                    "Name": "System Power Control",
                    "PowerConsumedWatts": 212 if on else 6,
                    "PowerCapacityWatts": 750,
                    "Status": {"State": "Enabled", "Health": "OK"},
                }
            ],
        }
        return flask.Response(json.dumps(body), mimetype="application/json")

    @app.after_request
    def link_power(response):
        parts = flask.request.path.strip("/").split("/")
        if flask.request.method == "GET" and len(parts) == 4 and parts[2] == "Chassis" and response.is_json:
            body = response.get_json()
            body["Power"] = {"@odata.id": f"/redfish/v1/Chassis/{parts[3]}/Power"}
            response.set_data(json.dumps(body))
        return response

    return app


def main() -> None:
    parser = argparse.ArgumentParser("bmcsim.redfish")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", required=True, help="the emulated system's name")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password-env", default="BMC_PASSWORD", help="environment variable holding it")
    parser.add_argument("--state-dir", type=Path, required=True, help="a fresh directory per run")
    parser.add_argument("--off", action="store_true", help="start powered off")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = build_app(
        name=args.name,
        username=args.username,
        password=os.environ[args.password_env],
        state_dir=args.state_dir,
        powered_on=not args.off,
    )
    app.logger.setLevel(logging.WARNING)
    tls = (str(args.tls_cert), str(args.tls_key)) if args.tls_cert and args.tls_key else None
    app.run(host=args.address, port=args.port, threaded=True, ssl_context=tls)


if __name__ == "__main__":
    main()
