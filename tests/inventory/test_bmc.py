"""The BMC gateways against the real emulators over loopback (bmcsim), and their parsers."""

from __future__ import annotations

import time

import pytest

from inventory.bmc import (
    BmcAuthError,
    BmcProtocol,
    BmcTarget,
    BmcUnreachable,
    Health,
    PowerAction,
    PowerState,
    SensorKind,
    gateway_for,
)
from inventory.bmc.ipmi import parse_chassis_status, parse_dcmi_power, parse_sensor_list
from tests.fixtures.bmcs import target_of


def wait_for_power(target: BmcTarget, wanted: PowerState, *, within: float) -> float:
    """Seconds until the BMC reports ``wanted``; fails the test after ``within`` seconds."""
    started = time.monotonic()
    gateway = gateway_for(target.protocol)
    while time.monotonic() - started < within:
        if gateway.read_state(target, timeout=5).power == wanted:
            return time.monotonic() - started
        time.sleep(0.5)
    pytest.fail(f"{target.address}:{target.port} did not reach {wanted} within {within} s")


def test_ipmi_gateway_reads_power_health_and_sensors_from_the_emulator(bmcs):
    state = gateway_for("ipmi").read_state(target_of(bmcs["ipmi"]), timeout=5)
    assert state.power == PowerState.ON
    assert state.health == Health.OK
    kinds = {sensor.kind for sensor in state.sensors}
    assert kinds == {SensorKind.TEMPERATURE, SensorKind.FAN, SensorKind.POWER}
    assert state.max_temperature_c is not None and 45 <= state.max_temperature_c <= 60
    assert state.power_watts is not None and 200 <= state.power_watts <= 260


def test_redfish_gateway_reads_power_health_sensors_and_power_draw_from_the_emulator(bmcs):
    state = gateway_for("redfish").read_state(target_of(bmcs["redfish"]), timeout=5)
    assert state.power == PowerState.ON
    assert state.health == Health.OK
    temperatures = {s.name: s.value for s in state.sensors if s.kind == SensorKind.TEMPERATURE}
    assert temperatures == {"CPU Temp": 41.0, "Chassis Intake Temp": 25.0}
    assert any(s.kind == SensorKind.FAN and s.value == 2100.0 for s in state.sensors)
    assert state.power_watts == 212.0


def test_ipmi_hard_off_then_on_is_observed_on_the_emulator(bmcs):
    target = target_of(bmcs["ipmi_to_stop"])
    gateway = gateway_for("ipmi")
    gateway.power(target, PowerAction.HARD_OFF, timeout=5)
    off = gateway.read_state(target, timeout=5)
    assert off.power == PowerState.OFF
    assert off.power_watts is not None and off.power_watts < 20  # standby draw only
    gateway.power(target, PowerAction.ON, timeout=5)
    assert gateway.read_state(target, timeout=5).power == PowerState.ON


def test_redfish_power_off_is_observed_on_the_emulator_after_its_delay(bmcs):
    target = target_of(bmcs["redfish_to_stop"])
    gateway_for("redfish").power(target, PowerAction.HARD_OFF, timeout=5)
    # sushy-tools applies a power change 1 to 11 s later, as slow BMCs do.
    assert wait_for_power(target, PowerState.OFF, within=20) <= 20
    assert gateway_for("redfish").read_state(target, timeout=5).power_watts == 6.0
    gateway_for("redfish").power(target, PowerAction.ON, timeout=5)
    wait_for_power(target, PowerState.ON, within=20)


@pytest.mark.parametrize("name", ["ipmi", "redfish"])
def test_a_wrong_password_is_an_auth_error_not_unreachable(bmcs, name):
    with pytest.raises(BmcAuthError):
        gateway_for(bmcs[name].protocol).read_state(target_of(bmcs[name], password="wrong"), timeout=5)


def test_a_silent_redfish_bmc_is_unreachable_within_the_timeout(silent_tcp_port):
    target = BmcTarget(BmcProtocol.REDFISH, "http://127.0.0.1", silent_tcp_port, "root", "x")
    started = time.monotonic()
    with pytest.raises(BmcUnreachable):
        gateway_for("redfish").read_state(target, timeout=2)
    assert time.monotonic() - started < 3


def test_a_silent_ipmi_bmc_is_unreachable_within_the_timeout(dead_ipmi_port):
    target = BmcTarget(BmcProtocol.IPMI, "127.0.0.9", dead_ipmi_port, "ADMIN", "x")
    started = time.monotonic()
    with pytest.raises(BmcUnreachable):
        gateway_for("ipmi").read_state(target, timeout=2)
    assert time.monotonic() - started < 3


def test_the_password_never_appears_in_a_targets_repr():
    target = BmcTarget(BmcProtocol.IPMI, "10.0.0.5", 623, "ADMIN", "hunter2-secret")
    assert "hunter2-secret" not in repr(target)


def test_ipmitool_output_is_parsed_into_power_faults_sensors_and_watts():
    output = (
        "System Power         : off\n"
        "Main Power Fault     : true\n"
        "Drive Fault          : false\n"
        "CPU1 Temp        | 91.000     | degrees C  | nc    | na | na | na | 85.000 | 95.000 | na\n"
        "Fan1             | na         | RPM        | na    | na | na | na | na | na | na\n"
        "PS1 Status       | 0x1        | discrete   | 0x0100| na | na | na | na | na | na\n"
        "    Instantaneous power reading:                   240 Watts\n"
    )
    assert parse_chassis_status(output) == (PowerState.OFF, ["Main Power Fault"])
    sensors = parse_sensor_list(output)
    assert [(s.name, s.kind, s.value, s.health) for s in sensors] == [
        ("CPU1 Temp", SensorKind.TEMPERATURE, 91.0, Health.WARNING),
        ("Fan1", SensorKind.FAN, None, Health.OK),
    ]
    assert parse_dcmi_power(output) == 240.0
