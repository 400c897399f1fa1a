"""The BMC gateway: one small typed interface, one module per protocol (``redfish``, ``ipmi``).

Everything else in Kennel talks to a BMC through ``gateway_for(protocol)``: read its hardware state,
or ask for a power action. Each call is bounded by ``timeout`` seconds in total (a read also by
``answer_timeout`` seconds for the BMC's first answer, so a dead or hanging BMC costs only that) and
raises one of
these errors: ``BmcUnreachable`` (connection refused, no route), its kind ``BmcTimeout`` (no answer
in time: a BMC that takes the connection and never answers), ``BmcAuthError`` (the BMC refused the
credentials), ``BmcProtocolError`` (it answered, but not in its protocol: garbage) or ``BmcError``
(anything else the BMC said no to). Before any packet is sent, each gateway checks the address
against the allow-list (``allowlist.bmc_endpoint``) and raises ``BmcRefused``, a ``BmcError``, for
one outside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class BmcProtocol(StrEnum):
    IPMI = "ipmi"
    REDFISH = "redfish"


class PowerState(StrEnum):
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


class Health(StrEnum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class PowerAction(StrEnum):
    ON = "on"
    SOFT_OFF = "soft_off"
    HARD_OFF = "hard_off"
    CYCLE = "cycle"
    RESET = "reset"


class SensorKind(StrEnum):
    TEMPERATURE = "temperature"  # degrees Celsius
    FAN = "fan"  # RPM
    POWER = "power"  # watts


class BmcError(Exception):
    """The BMC answered, but not with what was asked for."""


class BmcUnreachable(BmcError):
    """No answer within the timeout, or the connection was refused."""


class BmcTimeout(BmcUnreachable):
    """Nothing came back within the timeout (the connection may have been accepted). ``seconds``: the
    bound that ran out, when it was not the call's whole timeout (the wait for a first answer)."""

    def __init__(self, message: str, *, seconds: float | None = None) -> None:
        super().__init__(message)
        self.seconds = seconds


class BmcAuthError(BmcError):
    """The BMC refused the username or password."""


class BmcProtocolError(BmcError):
    """Something answered, but not in the BMC's protocol (not HTTP/Redfish, not IPMI)."""


class BmcRefused(BmcError):
    """Kennel refused to connect: the address is outside the allowed BMC networks or ports
    (KENNEL_BMC_ALLOWED_NETWORKS, KENNEL_BMC_ALLOWED_PORTS), malformed, or does not resolve.
    ``field`` names what is wrong: "address" or "port"."""

    def __init__(self, message: str, *, field: str = "address") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class BmcTarget:
    """Where a BMC is and how to sign in. The password never appears in ``repr`` (and so in logs).
    ``verify`` (Redfish over HTTPS): False skips the certificate check, True checks it against the
    system's CAs, a path checks it against that CA bundle."""

    protocol: BmcProtocol
    address: str
    port: int
    username: str
    password: str = field(repr=False)
    verify: bool | str = False


@dataclass(frozen=True)
class Sensor:
    name: str
    kind: SensorKind
    value: float | None  # None when the BMC has no reading (sensor absent or machine off)
    health: Health = Health.OK


@dataclass(frozen=True)
class HardwareState:
    """What one poll of a BMC saw."""

    power: PowerState
    health: Health
    sensors: tuple[Sensor, ...] = ()
    power_watts: float | None = None  # the system's input power draw, when the BMC reports it

    @property
    def max_temperature_c(self) -> float | None:
        readings = [s.value for s in self.sensors if s.kind == SensorKind.TEMPERATURE and s.value is not None]
        return max(readings) if readings else None


def worst(healths: list[Health]) -> Health:
    """The most severe of ``healths``; OK when there are none."""
    for level in (Health.CRITICAL, Health.WARNING, Health.UNKNOWN):
        if level in healths:
            return level
    return Health.OK


class BmcGateway(Protocol):
    def read_state(
        self, target: BmcTarget, *, timeout: float, answer_timeout: float | None = None
    ) -> HardwareState: ...

    def power(self, target: BmcTarget, action: PowerAction, *, timeout: float) -> None: ...


def gateway_for(protocol: BmcProtocol | str) -> BmcGateway:
    """The gateway speaking ``protocol``; each protocol's library is imported by its module only."""
    if BmcProtocol(protocol) == BmcProtocol.REDFISH:
        from inventory.bmc.redfish import RedfishGateway

        return RedfishGateway()
    from inventory.bmc.ipmi import IpmiGateway

    return IpmiGateway()
