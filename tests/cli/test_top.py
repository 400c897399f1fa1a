"""``kennel host top`` and ``kennel vm top`` against a live Kennel reading the real Prometheus."""

from __future__ import annotations

import pytest

from tests.usage.conftest import VMS, estate, metrics, prometheus_stack  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.usefixtures("metrics", "estate")
def test_a_manager_sees_each_servers_real_use_busiest_first(kennel, logged_in, manager, member):
    logged_in(manager)
    done = kennel("host", "top", "--json")
    assert done.code == 0, done.err
    shown = done.json()
    assert shown["state"] == "ok"
    cpu = {h["name"]: h["cpu_percent"] for h in shown["hosts"]}
    assert cpu["X3"] > 85 and cpu["X4"] < 85 and {"X5", "P2"} <= set(cpu)
    table = kennel("host", "top")
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].split()[:4] == ["SERVER", "ARCH", "CPUS", "CPU"]
    assert any(line.startswith("X3 ") for line in lines)
    logged_in(member)
    refused = kennel("host", "top")
    assert refused.code == 5


@pytest.mark.usefixtures("metrics", "estate")
def test_a_developer_sees_their_teams_vms_and_the_total(kennel, logged_in, member):
    logged_in(member)
    done = kennel("vm", "top", "--team", "alpha")
    assert done.code == 0, done.err
    assert sum(1 for line in done.out.splitlines() if any(f" {vm.name} " in line for vm in VMS)) == len(VMS)
    assert f"total: {len(VMS)} VMs ({len(VMS)} measured)" in done.out


@pytest.mark.usefixtures("metrics", "estate")
def test_a_manager_sees_the_vms_on_one_server_as_its_page_lists_them(kennel, logged_in, manager, member):
    logged_in(manager)
    done = kennel("vm", "top", "--host", "X2", "--json")
    assert done.code == 0, done.err
    assert {vm["server_id"] for vm in done.json()["vms"]} == {vm.uuid for vm in VMS if vm.host == "x2"}
    assert kennel("vm", "top", "--host", "X9").code == 4
    logged_in(member)
    assert kennel("vm", "top", "--host", "X2").code == 5


@pytest.mark.usefixtures("estate")
def test_without_metrics_the_cli_says_so(kennel, logged_in, member):
    logged_in(member)
    done = kennel("vm", "top")
    assert done.code == 0 and "Metrics are not configured" in done.err
