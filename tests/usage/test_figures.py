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
from usage import queries, selectors

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
    # What its VMs use: from the VMs' recorded rates (whose meaning test_a_recorded_rate_… checks).
    vm_cpu = promql(metrics, f"sum by (instance) ({queries.recorded('cpu')})", at)
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


@pytest.mark.parametrize("rules", ["recorded", "raw", "rules not loaded"])
def test_each_vms_figures_are_what_promql_says_and_the_team_total_is_their_sum(
    metrics, estate, member, settings, rules, monkeypatch
):
    """With Kennel's rules the rates are the recorded series (whose meaning the next test checks);
    without, rate() over the raw series; configured but not loaded in Prometheus, the raw ones too."""
    settings.KENNEL_PROMETHEUS_RULES = rules != "raw"
    if rules == "rules not loaded":  # a Prometheus without Kennel's rules file: no such series
        monkeypatch.setattr(queries, "recorded", lambda figure: f"kennel_vm_missing:{figure}:rate")
    at = time.time() - 1
    answer = selectors.vm_usage_page(user=member, at=at)
    assert answer.ok and len(answer.rows.rows) == len(VMS)  # 16 VMs: one page
    r = f"[{RATE_SECONDS}s]"
    if rules == "recorded":
        cpu = promql(metrics, "sum by (uuid) (kennel_vm:cpu:rate)", at)
        net = promql(metrics, "sum by (uuid) (kennel_vm:net_rx:rate + kennel_vm:net_tx:rate)", at)
    else:
        cpu = promql(metrics, f"sum by (uuid) (rate(libvirt_domain_info_cpu_time_seconds_total{r}))", at)
        net = promql(
            metrics,
            f"sum by (uuid) (rate(libvirt_domain_interface_stats_receive_bytes_total{r})"
            f" + rate(libvirt_domain_interface_stats_transmit_bytes_total{r}))",
            at,
        )
    assert len(cpu) == len(VMS)
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


def test_a_recorded_rate_is_the_raw_rate_at_its_evaluation(metrics):
    """Kennel's recording rules mean what the raw expressions mean: each recorded VM rate equals rate()
    over the raw series at the instant Prometheus evaluated the rule."""
    r = f"[{RATE_SECONDS}s]"
    for figure, counter in queries.VM_COUNTERS.items():
        for _attempt in range(5):  # a scrape stamped before the evaluation may be stored just after it
            evaluated = metrics.query(f"max(timestamp({queries.recorded(figure)}))")
            at = float(evaluated[0]["value"][1])
            kept = promql(metrics, f"sum by (uuid) ({queries.recorded(figure)})", at)
            raw = promql(metrics, f"sum by (uuid) (rate({counter}{r}))", at)
            if kept == pytest.approx(raw):
                break
            time.sleep(1.5)
        assert len(kept) == len(VMS) and kept == pytest.approx(raw), figure


def test_the_rules_file_is_what_prometheus_accepts(tmp_path, settings):
    import shutil
    import subprocess

    from django.core.management import call_command

    settings.KENNEL_PROMETHEUS_RATE_SECONDS = 120
    rules = tmp_path / "kennel-rules.yml"
    call_command("prometheus_rules", output=str(rules))
    text = rules.read_text()
    assert "kennel_vm:cpu:rate" in text and "[120s]" in text and "by (uuid, instance)" in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/bootstrap.sh installs Debian's prometheus package"
    checked = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 5 rules found" in checked.stdout, (
        checked.stdout + checked.stderr
    )


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
    url = reverse("usage:host-detail", args=[estate["servers"]["X2"].pk]) + "?window=hour"
    detail = client.get(url)
    assert detail.status_code == 200
    body = detail.content.decode()
    assert "<svg" not in body and 'data-testid="charts-loading"' in body  # asked for once it is shown
    assert 'data-figure="overcommit"' in body
    assert body.count("data-vm=") == sum(1 for vm in VMS if vm.host == "x2")
    charts = client.get(url + "&part=charts", headers={"HX-Request": "true"}).content.decode()
    assert charts.count("<svg") == 4 and "<html" not in charts  # the fragment htmx swaps in
    whole = client.get(url + "&part=charts").content.decode()  # the link, without JavaScript
    assert whole.count("<svg") == 4 and 'data-figure="overcommit"' in whole
    client.force_login(member)
    vm = estate["vms"][VMS[0].uuid]
    fragment = client.get(reverse("usage:vm-detail", args=[vm.pk]), headers={"HX-Request": "true"})
    assert (
        fragment.content.decode().count("<svg") == 4
        and 'data-testid="vm-figures"' in fragment.content.decode()
    )
    team = client.get(reverse("usage:team-detail", args=["alpha"])).content.decode()
    assert team.count("data-vm=") == len(VMS) and 'data-testid="vm-totals"' in team
