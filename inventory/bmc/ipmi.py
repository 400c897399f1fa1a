"""IPMI BMCs through ``ipmitool -I lanplus`` (Debian's package), the only module that speaks IPMI.

Why ipmitool rather than pyghmi's client, measured here: pyghmi's client proposes SHA-256 cipher
suites that many BMCs (and pyghmi's own server) do not speak, keeps process-wide session state in
which a second ``Command()`` to the same BMC can hang, and cannot be bounded per call from outside.
A subprocess can: it is killed at the deadline, runs in parallel without shared state, and costs
about 0.03 s a call. ``-C 3`` (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is the suite every IPMI 2.0
BMC must support. The password goes through the environment (``-E``), never the command line, so it
is not visible in ``ps``.

One poll is one ipmitool process running ``chassis status`` and ``sensor`` in one session (``exec``),
plus ``dcmi power reading`` only when no sensor reports watts. Before it, one UDP datagram asks the
BMC for its authentication capabilities (the session-less first message of every IPMI session): a
BMC that does not answer that within ``answer_timeout`` is given up on then, without a process (an
ipmitool process costs ~40 ms of CPU even for a dead BMC, and waits out the whole timeout for one).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import socket
import subprocess
import tempfile
import time

from inventory.bmc import (
    BmcAuthError,
    BmcError,
    BmcProtocolError,
    BmcTarget,
    BmcTimeout,
    BmcUnreachable,
    HardwareState,
    Health,
    PowerAction,
    PowerState,
    Sensor,
    SensorKind,
    worst,
)
from inventory.bmc.allowlist import bmc_endpoint

IPMITOOL = "ipmitool"
_POWER_VERBS = {
    PowerAction.ON: "on",
    PowerAction.SOFT_OFF: "soft",
    PowerAction.HARD_OFF: "off",
    PowerAction.CYCLE: "cycle",
    PowerAction.RESET: "reset",
}
_UNITS = {"degrees C": SensorKind.TEMPERATURE, "RPM": SensorKind.FAN, "Watts": SensorKind.POWER}
# ipmitool's threshold states: ok, nc (non-critical), cr (critical), nr (non-recoverable), na, ns.
_SENSOR_HEALTH = {"ok": Health.OK, "nc": Health.WARNING, "cr": Health.CRITICAL, "nr": Health.CRITICAL}
_FAULTS = ("Power Overload", "Main Power Fault", "Power Control Fault", "Drive Fault", "Cooling/Fan Fault")
_AUTH_MESSAGES = (
    "RAKP 2 HMAC is invalid",
    "unauthorized name",
    "Invalid user name",
    "insufficient privilege",
)
_WATTS = re.compile(r"Instantaneous power reading:\s+(\d+)\s+Watts")
# RMCP header (version 6, no ack, class IPMI), an IPMI 1.5 session header without session or
# authentication, and Get Channel Authentication Capabilities (netfn App, command 38h) for the current
# channel with IPMI 2.0 data asked for, at Administrator level: the datagram ipmitool sends first.
_CAPABILITIES_REQUEST = bytes(
    [
        *(0x06, 0x00, 0xFF, 0x07),
        *(0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09),
        *(0x20, 0x18, 0xC8, 0x81, 0x00, 0x38, 0x8E, 0x04, 0xB5),
    ]
)


class IpmiGateway:
    def read_state(
        self, target: BmcTarget, *, timeout: float, answer_timeout: float | None = None
    ) -> HardwareState:
        deadline = time.monotonic() + timeout
        _probe(target, min(answer_timeout or timeout, timeout))
        with tempfile.NamedTemporaryFile("w", prefix="kennel-ipmi-", suffix=".txt") as script:
            script.write("chassis status\nsensor\n")
            script.flush()
            output = _ipmitool(target, ["exec", script.name], deadline=deadline)
        power, faults = parse_chassis_status(output)
        sensors = parse_sensor_list(output)
        watts = next((s.value for s in sensors if s.kind == SensorKind.POWER and s.value is not None), None)
        if watts is None and deadline - time.monotonic() > 1:
            try:
                watts = parse_dcmi_power(_ipmitool(target, ["dcmi", "power", "reading"], deadline=deadline))
            except BmcError:
                watts = None  # many BMCs have no DCMI; the rest of the poll still stands
        health = worst([Health.CRITICAL if faults else Health.OK, *(s.health for s in sensors)])
        return HardwareState(power=power, health=health, sensors=tuple(sensors), power_watts=watts)

    def power(self, target: BmcTarget, action: PowerAction, *, timeout: float) -> None:
        _ipmitool(target, ["chassis", "power", _POWER_VERBS[action]], deadline=time.monotonic() + timeout)


def _probe(target: BmcTarget, seconds: float) -> None:
    """Raise BmcTimeout unless the BMC answers the session-less capabilities request within
    ``seconds`` (sent twice: a datagram may be lost), BmcProtocolError if what answers is not RMCP."""
    endpoint = bmc_endpoint(protocol="ipmi", address=target.address, port=target.port)
    family = socket.AF_INET6 if ":" in endpoint.address else socket.AF_INET
    deadline = time.monotonic() + seconds
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((endpoint.address, endpoint.port))
        for attempt in range(2):
            # An ICMP error from the first datagram may surface here: waited out as silence is.
            with contextlib.suppress(OSError):
                sock.send(_CAPABILITIES_REQUEST)
            resend = time.monotonic() + seconds / 2 if attempt == 0 else deadline
            while (left := min(resend, deadline) - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    continue
                try:
                    answer = sock.recv(512)
                except OSError:
                    # Refused (ICMP port unreachable): kept waiting for, as a silent BMC is, so that a
                    # dead BMC is reported alike whether the network says so or not.
                    time.sleep(min(0.05, max(0.0, left)))
                    continue
                if answer[:1] == b"\x06" and answer[3:4] in (b"\x06", b"\x07"):
                    return
                raise BmcProtocolError("the BMC's answer is not RMCP (it is not speaking IPMI)")
    raise BmcTimeout(f"no answer within {seconds:g} s", seconds=seconds)


def _ipmitool(target: BmcTarget, command: list[str], *, deadline: float) -> str:
    """Run one ipmitool command against ``target``, finishing by ``deadline`` (monotonic)."""
    if shutil.which(IPMITOOL) is None:
        raise BmcError("ipmitool is not installed")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise BmcUnreachable("no time left for the BMC")
    # ipmitool waits -N seconds per attempt and retries -R times: two attempts fit in the budget.
    per_attempt = str(max(1, int(remaining // 3)))
    # Refused before any packet when outside KENNEL_BMC_ALLOWED_NETWORKS/_PORTS; ipmitool is given the
    # address just checked, not the name (which a second lookup could answer differently).
    endpoint = bmc_endpoint(protocol="ipmi", address=target.address, port=target.port)
    argv = [IPMITOOL, "-I", "lanplus", "-C", "3", "-H", endpoint.address, "-p", str(endpoint.port)]
    argv += ["-U", target.username, "-E", "-N", per_attempt, "-R", "1", *command]
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "IPMI_PASSWORD": target.password}
    started = time.monotonic()
    try:
        result = subprocess.run(  # noqa: S603 (fixed program, no shell)
            argv, env=environment, capture_output=True, text=True, timeout=remaining, check=False
        )
    except subprocess.TimeoutExpired:
        raise BmcTimeout(f"no answer within {remaining:.0f} s") from None
    if result.returncode == 0 or "System Power" in result.stdout:
        return result.stdout
    message = (result.stderr.strip().splitlines() or ["ipmitool failed"])[-1]
    if "Unable to establish IPMI v2" in result.stderr:
        # ipmitool words a refused password and a silent BMC alike; the time it took tells them apart,
        # and a verbose retry names the refusal.
        elapsed = time.monotonic() - started
        if elapsed >= int(per_attempt) or "no response" in result.stderr:
            raise BmcTimeout("no answer from the BMC")
        if _is_auth_refusal(argv, environment, deadline):
            raise BmcAuthError("the BMC refused the credentials")
        raise BmcUnreachable(message)
    raise BmcError(message)


def _is_auth_refusal(argv: list[str], environment: dict[str, str], deadline: float) -> bool:
    remaining = deadline - time.monotonic()
    if remaining <= 0.5:
        return False
    verbose = [*argv[: argv.index("-R") + 2], "-v", "chassis", "power", "status"]
    try:
        result = subprocess.run(  # noqa: S603
            verbose, env=environment, capture_output=True, text=True, timeout=remaining, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return any(text in result.stderr + result.stdout for text in _AUTH_MESSAGES)


def parse_chassis_status(output: str) -> tuple[PowerState, list[str]]:
    """The power state and the names of the faults ``chassis status`` reports as true."""
    power = PowerState.UNKNOWN
    faults = []
    for line in output.splitlines():
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "System Power":
            power = PowerState.ON if value == "on" else PowerState.OFF if value == "off" else power
        elif key in _FAULTS and value == "true":
            faults.append(key)
    return power, faults


def parse_sensor_list(output: str) -> list[Sensor]:
    """Temperature, fan and power sensors from ``ipmitool sensor`` lines (``name | value | unit | state``)."""
    sensors = []
    for line in output.splitlines():
        columns = [column.strip() for column in line.split("|")]
        if len(columns) < 4 or columns[2] not in _UNITS:
            continue
        try:
            value: float | None = float(columns[1])
        except ValueError:
            value = None  # "na": no reading
        health = _SENSOR_HEALTH.get(columns[3], Health.OK)
        sensors.append(Sensor(name=columns[0], kind=_UNITS[columns[2]], value=value, health=health))
    return sensors


def parse_dcmi_power(output: str) -> float | None:
    match = _WATTS.search(output)
    return float(match.group(1)) if match else None
