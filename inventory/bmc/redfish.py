"""Redfish BMCs through ``sushy``, the only module that imports it.

A BMC's address is a host name or IP (spoken to over HTTPS) or a URL base such as
``http://127.0.0.1`` when the BMC speaks plain HTTP, as the emulators do. BMC certificates are
self-signed almost everywhere, so by default they are not verified (the credentials travel inside TLS
all the same); ``BmcTarget.verify`` turns the check on, against the system's CAs or a CA bundle, and a
certificate that fails it is a ``BmcError`` saying so, not "unreachable".

Reads use the first system and the first chassis, which is where one-server BMCs put everything:
power state and health from the system, temperatures and fans from the chassis' Thermal, power draw
from its Power resource (PowerControl[0].PowerConsumedWatts, read from the raw JSON: sushy models
power supplies but not PowerControl).
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
import sushy
import urllib3
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exceptions

from inventory.bmc import (
    BmcAuthError,
    BmcError,
    BmcProtocolError,
    BmcRefused,
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

_RESET_TYPES = {
    PowerAction.ON: sushy.RESET_TYPE_ON,
    PowerAction.SOFT_OFF: sushy.RESET_TYPE_GRACEFUL_SHUTDOWN,
    PowerAction.HARD_OFF: sushy.RESET_TYPE_FORCE_OFF,
    PowerAction.CYCLE: sushy.RESET_TYPE_POWER_CYCLE,
    PowerAction.RESET: sushy.RESET_TYPE_FORCE_RESTART,
}
_HEALTH = {"OK": Health.OK, "Warning": Health.WARNING, "Critical": Health.CRITICAL}


def _health(status) -> Health:
    value = getattr(getattr(status, "health", None), "value", None)
    return _HEALTH.get(value, Health.UNKNOWN) if value else Health.OK


class RedfishGateway:
    def read_state(
        self, target: BmcTarget, *, timeout: float, answer_timeout: float | None = None
    ) -> HardwareState:
        deadline = time.monotonic() + timeout
        answer = min(answer_timeout or timeout, timeout)
        connector = _connector(target, deadline=deadline, answer_timeout=answer)
        try:
            with _errors_mapped():
                root = _root(target, connector)
                system = root.get_system(root.get_system_collection().members_identities[0])
                power = {
                    sushy.SYSTEM_POWER_STATE_ON: PowerState.ON,
                    sushy.SYSTEM_POWER_STATE_OFF: PowerState.OFF,
                }
                state = power.get(system.power_state, PowerState.UNKNOWN)
                healths = [_health(system.status)]
                sensors: list[Sensor] = []
                watts = None
                chassis_ids = root.get_chassis_collection().members_identities
                if chassis_ids and time.monotonic() < deadline:
                    chassis = root.get_chassis(sorted(chassis_ids)[0])
                    sensors += _thermal_sensors(chassis)
                    watts = _power_draw(chassis)
                healths += [s.health for s in sensors]
        except BmcTimeout as error:
            if connector.answered:
                raise
            raise BmcTimeout(str(error), seconds=answer) from None
        return HardwareState(power=state, health=worst(healths), sensors=tuple(sensors), power_watts=watts)

    def power(self, target: BmcTarget, action: PowerAction, *, timeout: float) -> None:
        with _errors_mapped():
            root = _connect(target, timeout)
            system = root.get_system(root.get_system_collection().members_identities[0])
            system.reset_system(_RESET_TYPES[action])


class _PinnedConnector(sushy_connector.Connector):
    """sushy's connector that stays on the one checked BMC: a path the BMC hands back as an absolute
    URL elsewhere (``@odata.id``) is refused, and redirects are not followed, so a hostile BMC cannot
    send Kennel, with the BMC's credentials, to another host.

    It also keeps one read within its bounds: every request gets what is left until ``deadline``
    (monotonic), and until the BMC first answers, at most ``answer_timeout`` (a BMC that takes the
    connection and never answers costs that, not the whole timeout)."""

    def __init__(self, url: str, *, deadline: float, answer_timeout: float, **kwargs) -> None:
        super().__init__(url, **kwargs)
        self._session.max_redirects = 0
        self._origin = url.split("/redfish/", 1)[0]
        self.root_url = url
        self._deadline = deadline
        self._answer_timeout = answer_timeout
        self.answered = False

    def _op(self, method, path="", *args, **kwargs):
        if "://" in str(path) and not str(path).startswith(self._origin + "/"):
            raise BmcRefused("the BMC pointed to another host; Kennel only talks to the BMC itself")
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise BmcTimeout("no time left for the BMC")
        if kwargs.get("timeout") is None:
            first = min(self._answer_timeout, left)
            kwargs["timeout"] = (first, left if self.answered else first)
        response = super()._op(method, path, *args, **kwargs)
        self.answered = True
        return response


def _connector(target: BmcTarget, *, deadline: float, answer_timeout: float) -> _PinnedConnector:
    # Refused before any packet when the address is outside KENNEL_BMC_ALLOWED_NETWORKS/_PORTS. Without
    # a certificate check the connection goes to the address just checked (no second DNS lookup); with
    # one, to the name, which the certificate must match.
    endpoint = bmc_endpoint(protocol="redfish", address=target.address, port=target.port)
    host = endpoint.url_host(pinned=not target.verify)
    url = f"{endpoint.scheme}://{host}:{endpoint.port}/redfish/v1"
    return _PinnedConnector(
        url,
        deadline=deadline,
        answer_timeout=answer_timeout,
        verify=target.verify,
        # One attempt: the poller tries again next round. (sushy reads 0 as "the default, 3 with 2 s sleeps".)
        server_side_retries=1,
    )


def _connect(target: BmcTarget, timeout: float) -> sushy.Sushy:
    """The BMC's service root, the whole conversation bounded by ``timeout`` seconds."""
    connector = _connector(target, deadline=time.monotonic() + timeout, answer_timeout=timeout)
    return _root(target, connector)


def _root(target: BmcTarget, connector: _PinnedConnector) -> sushy.Sushy:
    """The service root, read through ``connector`` (its first request)."""
    return sushy.Sushy(
        connector.root_url, auth=sushy_auth.BasicAuth(target.username, target.password), connector=connector
    )


def _thermal_sensors(chassis) -> list[Sensor]:
    try:
        thermal = chassis.thermal
    except sushy_exceptions.MissingAttributeError:
        return []
    sensors = [
        Sensor(t.name, SensorKind.TEMPERATURE, _number(t.reading_celsius), _health(t.status))
        for t in thermal.temperatures or []
    ]
    sensors += [
        Sensor(f.name, SensorKind.FAN, _number(f.reading), _health(f.status)) for f in thermal.fans or []
    ]
    return sensors


def _power_draw(chassis) -> float | None:
    try:
        controls = chassis.power.json.get("PowerControl") or []
    except sushy_exceptions.MissingAttributeError:
        return None
    return _number(controls[0].get("PowerConsumedWatts")) if controls else None


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@contextmanager
def _errors_mapped() -> Iterator[None]:
    """Translate sushy's and requests' errors into the gateway's three."""
    try:
        yield
    except BmcError:
        raise
    except sushy_exceptions.AccessError:
        raise BmcAuthError("the BMC refused the credentials") from None
    except requests.TooManyRedirects:
        raise BmcRefused("the BMC answered with a redirect, which Kennel does not follow") from None
    except (sushy_exceptions.ConnectionError, requests.ConnectionError, requests.Timeout) as error:
        # sushy wraps requests' SSLError (raised inside its handler, so it is the context).
        if isinstance(error, requests.exceptions.SSLError) or isinstance(
            error.__context__, requests.exceptions.SSLError
        ):
            raise BmcError(
                "the BMC's TLS certificate did not verify: give its CA in KENNEL_BMC_CA_BUNDLE "
                "or stop verifying it for this server"
            ) from None
        raise _connection_failure(error) from None
    except (sushy_exceptions.SushyError, IndexError, KeyError, ValueError) as error:
        raise BmcProtocolError(f"unexpected answer from the BMC: {type(error).__name__}") from None


def _connection_failure(error: BaseException) -> BmcUnreachable | BmcProtocolError:
    """What went wrong below HTTP, told apart: no answer in time, an answer that is not HTTP, or no
    connection at all. sushy wraps requests' error (then it is the context)."""
    chain = [error, error.__context__, error.__cause__]
    causes = [e for e in chain if e is not None]
    causes += [arg for e in list(causes) for arg in getattr(e, "args", ()) if isinstance(arg, BaseException)]
    if any(isinstance(e, requests.Timeout | urllib3.exceptions.TimeoutError) for e in causes) or any(
        "timed out" in str(e).lower() for e in causes
    ):
        return BmcTimeout("no answer from the BMC within the timeout")
    if any(isinstance(e, urllib3.exceptions.ProtocolError | http.client.HTTPException) for e in causes):
        return BmcProtocolError("the BMC's answer is not HTTP (it is not speaking Redfish)")
    return BmcUnreachable("the BMC refused the connection or cannot be reached")
