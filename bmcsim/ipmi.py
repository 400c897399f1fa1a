"""An emulated IPMI BMC: pyghmi's server for sessions, power and chassis status; ours for sensors.

pyghmi's ``Bmc`` answers Get Device ID, Chassis Status/Control and boot options. Everything a poller
reads besides power is added here, following the IPMI 2.0 and DCMI 1.5 specifications:

* the SDR repository (Storage netfn: Get SDR Repository Info, Reserve, Get SDR) holding one Full
  Sensor Record per sensor, with linear conversion ``value = M * raw``;
* Get Sensor Reading, Get Sensor Thresholds and Get Sensor Hysteresis (Sensor/Event netfn);
* DCMI Get Power Reading (Group Extension netfn, group 0xDC).

Many BMCs share one process: each binds its own UDP port, and pyghmi's single I/O loop serves them
all (``serve_forever``). Readings follow the power state: a powered-off machine reads cool, its fans
idle and its draw is a few watts of standby.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import struct
import threading
import time
import traceback
from dataclasses import dataclass

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.private.constants as pyghmi_constants
import pyghmi.ipmi.private.serversession as pyghmi_serversession
import pyghmi.ipmi.private.session as pyghmi_session

# Netfns and commands (IPMI 2.0 tables G-1, DCMI 1.5 table 6-1).
NETFN_SENSOR, NETFN_STORAGE, NETFN_GROUP = 0x04, 0x0A, 0x2C
CMD_GET_SENSOR_HYSTERESIS, CMD_GET_SENSOR_THRESHOLDS, CMD_GET_SENSOR_READING = 0x25, 0x27, 0x2D
CMD_GET_SDR_REPO_INFO, CMD_RESERVE_SDR_REPO, CMD_GET_SDR = 0x20, 0x22, 0x23
CMD_DCMI_GET_POWER_READING = 0x02
DCMI_GROUP = 0xDC
CC_INVALID_FIELD, CC_NOT_PRESENT = 0xCC, 0xCB

# IPMI sensor types and units (IPMI 2.0 tables 42-3 and 43-15).
TEMPERATURE, FAN, POWER = "temperature", "fan", "power"
_SENSOR_TYPE = {TEMPERATURE: 0x01, FAN: 0x04, POWER: 0x08}
_UNIT = {TEMPERATURE: 1, FAN: 18, POWER: 6}  # degrees C, RPM, Watts
_ENTITY = {TEMPERATURE: 0x03, FAN: 0x1D, POWER: 0x0A}  # processor, fan device, power supply


@dataclass(frozen=True)
class SensorSpec:
    """One analog sensor: ``on``/``off`` are its readings (in units) with the machine powered on/off."""

    number: int
    name: str
    kind: str
    on: float
    off: float
    multiplier: int = 1  # the SDR's M: raw bytes hold value / M
    upper_critical: float | None = None
    upper_non_critical: float | None = None


DEFAULT_SENSORS = (
    SensorSpec(1, "CPU1 Temp", TEMPERATURE, on=52, off=24, upper_non_critical=85, upper_critical=95),
    SensorSpec(2, "CPU2 Temp", TEMPERATURE, on=49, off=24, upper_non_critical=85, upper_critical=95),
    SensorSpec(3, "Inlet Temp", TEMPERATURE, on=23, off=22, upper_non_critical=38, upper_critical=42),
    SensorSpec(4, "Fan1", FAN, on=5400, off=0, multiplier=100),
    SensorSpec(5, "Fan2", FAN, on=5300, off=0, multiplier=100),
    SensorSpec(6, "Pwr Consumption", POWER, on=236, off=8, multiplier=2),
)


def full_sensor_record(record_id: int, sensor: SensorSpec) -> bytes:
    """A type 01h Full Sensor Record (IPMI 2.0 table 43-1) for a threshold sensor."""
    m = sensor.multiplier

    def raw(value: float | None) -> int:
        return 0 if value is None else max(0, min(255, round(value / m)))

    readable = (0x08 if sensor.upper_non_critical is not None else 0) | (
        0x10 if sensor.upper_critical is not None else 0
    )
    name = sensor.name.encode("ascii")[:16]
    body = bytes(
        [
            0x20,  # owner: the BMC
            0x00,  # LUN 0
            sensor.number,
            _ENTITY[sensor.kind],
            0x01,  # entity instance
            0x7F,  # initialization: scanning and events enabled
            0x68,  # capabilities: thresholds readable, hysteresis readable
            _SENSOR_TYPE[sensor.kind],
            0x01,  # event/reading type: threshold
            0,
            0,  # assertion event mask
            0,
            0,  # deassertion event mask
            readable,  # readable thresholds
            0,  # settable thresholds
            0x00,  # units 1: unsigned, no rate
            _UNIT[sensor.kind],
            0,  # modifier unit
            0,  # linearization: linear
            m & 0xFF,
            (m >> 8) & 0x03,  # M (10 bits) and tolerance
            0,
            0,  # B, accuracy
            0,  # accuracy, sensor direction
            0,  # R and B exponents
            0,  # analog characteristic flags
            raw(sensor.on),  # nominal reading
            0,
            0,  # normal max/min
            255,
            0,  # sensor max/min reading
            0,  # upper non-recoverable
            raw(sensor.upper_critical),
            raw(sensor.upper_non_critical),
            0,
            0,
            0,  # lower thresholds
            0,
            0,  # hysteresis
            0,
            0,  # reserved
            0,  # OEM
            0xC0 | len(name),  # ID string: 8-bit ASCII
        ]
    )
    body += name
    return struct.pack("<HBBB", record_id, 0x51, 0x01, len(body)) + body


class EmulatedIpmiBmc(pyghmi_bmc.Bmc):
    """One server's BMC on ``address:port`` with one user. Power changes apply at once."""

    def __init__(
        self,
        *,
        username: str,
        password: str,
        port: int,
        address: str = "127.0.0.1",
        powered_on: bool = True,
        sensors: tuple[SensorSpec, ...] = DEFAULT_SENSORS,
    ) -> None:
        super().__init__({username: password}, port=port, address=address)
        self.additionaldevices = 0x02  # an SDR repository device, so ipmitool reads our SDRs
        self.powered_on = powered_on
        self.sensors = {sensor.number: sensor for sensor in sensors}
        self.records = [full_sensor_record(i, s) for i, s in enumerate(sensors)]
        self.started = time.time()
        self.lock = threading.Lock()

    # pyghmi's power interface.
    def get_power_state(self) -> str:
        return "on" if self.powered_on else "off"

    def power_on(self) -> None:
        self.powered_on = True

    def power_off(self) -> None:
        self.powered_on = False

    def power_shutdown(self) -> None:  # soft off: the emulated OS shuts down at once
        self.powered_on = False

    def power_cycle(self) -> None:
        self.powered_on = True

    def power_reset(self) -> None:
        self.powered_on = True

    def cold_reset(self) -> int:
        return 0

    # Readings.
    def reading(self, sensor: SensorSpec) -> float:
        base = sensor.on if self.powered_on else sensor.off
        # A little noise, so the dashboard visibly refreshes; never below zero.
        return max(0.0, base * random.uniform(0.97, 1.03))  # noqa: S311 (not cryptography)

    def handle_raw_request(self, request, session):
        netfn, command, data = request["netfn"], request["command"], bytes(request["data"])
        try:
            if netfn == NETFN_STORAGE:
                return self._storage(command, data, session)
            if netfn == NETFN_SENSOR:
                return self._sensor(command, data, session)
            if netfn == NETFN_GROUP and data[:1] == bytes([DCMI_GROUP]):
                return self._dcmi(command, data, session)
        except (IndexError, struct.error):
            return session.send_ipmi_response(code=CC_INVALID_FIELD)
        return super().handle_raw_request(request, session)

    def _storage(self, command: int, data: bytes, session) -> None:
        if command == CMD_GET_SDR_REPO_INFO:
            count = len(self.records)
            stamp = list(struct.pack("<I", int(self.started)))
            info = [0x51, count & 0xFF, count >> 8, 0xFF, 0xFF, *stamp, *stamp, 0x02]
            return session.send_ipmi_response(data=info)
        if command == CMD_RESERVE_SDR_REPO:
            return session.send_ipmi_response(data=[0x01, 0x00])
        if command == CMD_GET_SDR:
            _reservation, record_id, offset, length = struct.unpack("<HHBB", data[:6])
            if record_id >= len(self.records):
                return session.send_ipmi_response(code=CC_NOT_PRESENT)
            record = self.records[record_id]
            following = record_id + 1 if record_id + 1 < len(self.records) else 0xFFFF
            chunk = record[offset : offset + (length if length != 0xFF else len(record))]
            return session.send_ipmi_response(data=list(struct.pack("<H", following) + chunk))
        return session.send_ipmi_response(code=0xC1)

    def _sensor(self, command: int, data: bytes, session) -> None:
        sensor = self.sensors.get(data[0])
        if sensor is None:
            return session.send_ipmi_response(code=CC_NOT_PRESENT)
        m = sensor.multiplier
        if command == CMD_GET_SENSOR_READING:
            value = self.reading(sensor)
            state = 0
            if sensor.upper_non_critical is not None and value >= sensor.upper_non_critical:
                state |= 0x08
            if sensor.upper_critical is not None and value >= sensor.upper_critical:
                state |= 0x10
            raw = max(0, min(255, round(value / m)))
            return session.send_ipmi_response(data=[raw, 0x40, state, 0x80])
        if command == CMD_GET_SENSOR_THRESHOLDS:
            record = self.records[list(self.sensors).index(sensor.number)]
            readable = record[18]
            unc, uc = record[38], record[37]
            return session.send_ipmi_response(data=[readable, 0, 0, 0, unc, uc, 0])
        if command == CMD_GET_SENSOR_HYSTERESIS:
            return session.send_ipmi_response(data=[0, 0])
        return session.send_ipmi_response(code=0xC1)

    def _dcmi(self, command: int, data: bytes, session) -> None:
        if command != CMD_DCMI_GET_POWER_READING:
            return session.send_ipmi_response(code=0xC1)
        power = next((s for s in self.sensors.values() if s.kind == POWER), None)
        if power is None:
            return session.send_ipmi_response(code=CC_NOT_PRESENT)
        watts = round(self.reading(power))
        low, high = round(power.off), round(power.on * 1.1)
        reply = struct.pack(
            "<BHHHHIIB",
            DCMI_GROUP,
            watts,
            low,
            high,
            watts,
            int(time.time()),
            1000,
            0x40 if self.powered_on else 0,
        )
        return session.send_ipmi_response(data=list(reply))


# Retransmissions. ipmitool resends a handshake message it got no answer to within -N seconds, which
# happens on a busy host. pyghmi's server answers every Open Session Request with a new session id
# and every RAKP 1 with a new random Rc, so the client ends up holding an answer the server has
# already replaced, and the handshake fails: seen as bursts of "no answer" in bench/bmc_poll.py on a
# loaded machine. A real BMC answers a repeated message with the same answer; these two patches make
# pyghmi's server do so, and let a new client that reuses an old client's address and port start a
# fresh session instead of meeting the old one's state. (After pyghmi 1.6's serversession.py.)
def _got_rmcp_openrequest(self, data) -> None:
    request = bytearray(struct.pack("B" * len(data), *data))
    if request[4:8] != getattr(self, "clientsessionid", None):
        pyghmi_serversession.ServerSession(
            self.authdata, self.kg, self.sockaddr, self.socket, request, self.uuid, bmc=self.bmc
        )
        return
    keep = self.managedsessionid
    response = self.create_open_session_response(request)
    self.managedsessionid = keep
    response[8:12] = keep  # after tag, status, privilege, reserved (4) and the client session id (4)
    self.send_payload(response, pyghmi_constants.payload_types["rmcpplusopenresponse"], retry=False)


def _got_rakp1(self, data) -> None:
    """pyghmi's RAKP 1 handling, except that a repeated RAKP 1 (same Rm) gets the same Rc back."""
    clienttag = data[0]
    repeated = getattr(self, "Rm", None) == data[8:24] and getattr(self, "Rc", None) is not None
    self.Rm = data[8:24]
    self.rolem = data[24]
    self.maxpriv = self.rolem & 0b111
    if data[27] == 0:
        return  # a null user name is not supported
    self.username = bytes(data[28:])
    password = self.authdata.get(self.username.decode("utf-8"))
    if password is None:
        return  # an unknown user gets no answer, as from pyghmi
    self.uuiddata = self.uuid.bytes
    if not repeated:
        self.Rc = os.urandom(16)
    hmacdata = (
        self.clientsessionid
        + self.managedsessionid
        + self.Rm
        + self.Rc
        + self.uuiddata
        + bytearray([self.rolem, len(self.username)])
        + self.username
    )
    self.kuid = password.encode("utf-8")
    if self.kg is None:
        self.kg = self.kuid
    authcode = hmac.new(self.kuid, bytes(hmacdata), hashlib.sha1).digest()
    message = bytearray([clienttag, 0, 0, 0]) + self.clientsessionid + self.Rc + self.uuiddata + authcode
    self.send_payload(message, pyghmi_constants.payload_types["rakp2"], retry=False)


def _sessionless_data(self, data, sockaddr) -> None:
    # A packet queued for a session that has since been dropped is sessionless data for its BMC;
    # pyghmi would raise AttributeError here and end the I/O loop of every BMC in the process.
    self.bmc.sessionless_data(data, sockaddr)


pyghmi_serversession.ServerSession._got_rmcp_openrequest = _got_rmcp_openrequest
pyghmi_serversession.ServerSession._got_rakp1 = _got_rakp1
pyghmi_serversession.ServerSession.sessionless_data = _sessionless_data


def serve_forever(stop: threading.Event | None = None) -> None:
    """Run pyghmi's I/O loop for every BMC created in this process until ``stop`` is set."""
    while stop is None or not stop.is_set():
        try:
            pyghmi_session.Session.wait_for_rsp(timeout=0.5)
        except Exception:  # one bad packet must not silence every BMC of this process
            traceback.print_exc()
