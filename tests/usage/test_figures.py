"""Against the real Prometheus scraping the emulator: what Kennel shows equals what PromQL, written
here independently, returns for the same instant and window; hot hosts are the emulator's hot ones."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from exportersim.estate import DEMO_HOSTS
from inventory.dashboard import AlertKind, estate_alerts
from tests.usage.conftest import RATE_SECONDS, VMS
from usage import selectors

pytestmark = pytest.mark.django_db


def promql(stack, expr: str, at: float) -> dict[str, float]:
    result = stack.query(expr, at=at)
    return {next(iter(r["metric"].values()), ""): float(r["value"][1]) for r in result}


def test_each_servers_cpu_memory_and_disk_are_what_promql_says(metrics, estate, manager):
    at = time.time() - 1
    answer = selectors.host_usage_list(user=manager, at=at)
    assert answer.ok
    rows = {h.name: h for h in answer.rows}
    r = f"[{RATE_SECONDS}s]"
    busy = promql(metrics, f'sum by (instance) (1 - rate(node_cpu_seconds_total{{mode="idle"}}{r}))', at)
    cpus = promql(metrics, 'count by (instance) (node_cpu_seconds_total{mode="idle"})', at)
    mem = promql(
        metrics,
        "sum by (instance) (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
        at,
    )
    for name in ("X1", "X2", "X3", "X4", "X5", "P1", "P2"):  # X5 and P2 are outside OpenStack, X1 is real
        host = rows[name]
        assert host.cpu_percent == pytest.approx(
            round(busy[name.lower()] * 100 / cpus[name.lower()], 1), abs=0.11
        )
        assert host.memory_percent == pytest.approx(round(mem[name.lower()] * 100, 1), abs=0.11)
        assert host.get("cpus") == cpus[name.lower()]
    assert not rows["X5"].in_openstack and not rows["P2"].in_openstack
    assert rows["X2"].vcpu_allocated == sum(vm.vcpus for vm in VMS if vm.host == "x2")
    assert rows["X2"].vcpu_overcommit == pytest.approx(rows["X2"].vcpu_allocated / 48, abs=0.01)
    vm_cpu = promql(metrics, f"sum by (instance) (rate(libvirt_domain_info_cpu_time_seconds_total{r}))", at)
    assert rows["P1"].get("vm_cpu") == pytest.approx(vm_cpu["p1"])
    assert rows["P1"].get("vms") == sum(1 for vm in VMS if vm.host == "p1")


def test_the_hot_hosts_are_an_alert_on_the_dashboard(metrics, estate, manager, settings):
    settings.KENNEL_HOT_HOST_CPU_PERCENT = 85
    hot = {a.server_name for a in estate_alerts(user=manager) if a.kind == AlertKind.HOST_HOT}
    # X1 is this machine (the real node exporter): hot or not, as it really is.
    assert hot - {"X1"} == {h.name.upper() for h in DEMO_HOSTS if h.hot and h.name != "x1"} == {"X3", "P1"}
    client = Client()
    client.force_login(manager)
    page = client.get(reverse("inventory:dashboard")).content.decode()
    assert 'data-alert="host_hot"' in page and "X3" in page


def test_each_vms_figures_are_what_promql_says_and_the_team_total_is_their_sum(metrics, estate, member):
    at = time.time() - 1
    answer = selectors.vm_usage_page(user=member, at=at)
    assert answer.ok and len(answer.rows.rows) == len(VMS)  # 16 VMs: one page
    r = f"[{RATE_SECONDS}s]"
    cpu = promql(metrics, f"sum by (uuid) (rate(libvirt_domain_info_cpu_time_seconds_total{r}))", at)
    net = promql(
        metrics,
        f"sum by (uuid) (rate(libvirt_domain_interface_stats_receive_bytes_total{r})"
        f" + rate(libvirt_domain_interface_stats_transmit_bytes_total{r}))",
        at,
    )
    mem = promql(metrics, "sum by (uuid) (libvirt_domain_info_memory_usage_bytes)", at)
    for row in answer.rows.rows:
        spec = next(vm for vm in VMS if vm.uuid == row.vm.server_id)
        assert row.get("cpu") == pytest.approx(cpu[spec.uuid])
        assert row.cpu_percent == pytest.approx(round(cpu[spec.uuid] * 100 / spec.vcpus, 1))
        assert row.network_bps == pytest.approx(net[spec.uuid])
        assert row.get("memory_used") == mem[spec.uuid]
        assert row.host == spec.host
    totals = answer.rows.totals
    assert totals.memory_used == sum(mem.values())
    assert totals.cpu_cores == pytest.approx(sum(cpu.values()))


def test_a_chart_is_the_range_query_of_its_window(metrics, estate):
    step = selectors.WINDOWS[selectors.Window.HOUR][1]
    while (time.time() // step) * step < metrics.started_at + 3:  # a point of the window has samples
        time.sleep(1)
    server = estate["servers"]["X3"]
    used = 'sum(node_memory_MemTotal_bytes{instance="x3"} - node_memory_MemAvailable_bytes{instance="x3"})'
    deadline = time.monotonic() + 60
    while True:  # on a loaded machine the scrape behind the newest point may come late
        answer = selectors.host_charts(server=server, window=selectors.Window.HOUR, now=time.time())
        assert answer.ok and [c.name for c in answer.rows] == list(selectors.HOST_CHARTS)
        memory = answer.rows[1]
        result = metrics.query_range(used, start=memory.start, end=memory.end, step=memory.step)
        if result or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert result, "Prometheus has no point of the window after 60 s"
    points = {float(t): float(v) for t, v in result[0]["values"]}
    shown = {t: v for t, v in zip(memory.times, memory.lines["memory_used"], strict=True) if v is not None}
    assert shown == points and shown


def test_the_pages_show_the_figures(metrics, estate, manager, member):
    client = Client()
    client.force_login(manager)
    page = client.get(reverse("usage:hosts")).content.decode()
    assert 'data-host="X3"' in page and 'data-host="P2"' in page and "outside OpenStack" in page
    detail = client.get(reverse("usage:host-detail", args=[estate["servers"]["X2"].pk]) + "?window=hour")
    assert detail.status_code == 200
    body = detail.content.decode()
    assert body.count("<svg") == 4 and 'data-figure="overcommit"' in body
    assert body.count("data-vm=") == sum(1 for vm in VMS if vm.host == "x2")
    client.force_login(member)
    vm = estate["vms"][VMS[0].uuid]
    fragment = client.get(reverse("usage:vm-detail", args=[vm.pk]), headers={"HX-Request": "true"})
    assert (
        fragment.content.decode().count("<svg") == 4
        and 'data-testid="vm-figures"' in fragment.content.decode()
    )
    team = client.get(reverse("usage:team-detail", args=["alpha"])).content.decode()
    assert team.count("data-vm=") == len(VMS) and 'data-testid="vm-totals"' in team
