"""Lists of VMs against the real Prometheus scraping the emulator: a page at a time, busiest first, the
figures of the visible page and the totals of all equal independent PromQL, VMs without metrics last;
the SQL and PromQL a page asks do not grow with the number of VMs; the API pages as the pages do."""

from __future__ import annotations

import time
import urllib.request
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from provisioning.models import VmRequest
from tests.usage.conftest import RATE_SECONDS, VMS
from usage import selectors

pytestmark = pytest.mark.django_db

R = f"[{RATE_SECONDS}s]"


def promql(stack, expr: str, at: float) -> dict[str, float]:
    """label value (the first label, or "" for an aggregate) -> value."""
    return {next(iter(r["metric"].values()), ""): float(r["value"][1]) for r in stack.query(expr, at=at)}


def promql_asked(stack) -> float:
    """How many queries Prometheus has answered (instant and range), from its own /metrics."""
    with urllib.request.urlopen(f"{stack.url}/metrics", timeout=5) as answer:  # noqa: S310 -- loopback
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("prometheus_http_requests_total{")
        and ('handler="/api/v1/query"' in line or 'handler="/api/v1/query_range"' in line)
    )


def add_stopped_vms(team, owner, count: int) -> None:
    """Kennel's running-or-stopped VMs the emulator does not serve: no metrics (libvirt lists only
    running domains)."""
    VmRequest.objects.bulk_create(
        VmRequest(
            team=team, owner=owner, name=f"stopped-{n:04d}", architecture="x86_64", image_name="cirros",
            flavor_name="m1", vcpus=2, ram_mb=1024, disk_gb=10, status=VmRequest.Status.ACTIVE,
            server_id=str(uuid.UUID(int=0xD0D0_0000 + n)), host="x2", server_state="stopped",
        )
        for n in range(count)
    )  # fmt: skip


def test_each_page_is_the_next_busiest_and_its_figures_and_the_totals_are_what_promql_says(
    metrics, estate, member, monkeypatch
):
    monkeypatch.setattr(selectors, "VMS_PER_PAGE", 5)  # 16 VMs: four pages
    at = time.time() - 1
    # The rates as Kennel's recording rules keep them (test_figures checks they are the raw rates).
    cpu = promql(metrics, "sum by (uuid) (kennel_vm:cpu:rate)", at)
    vcpus = promql(metrics, "sum by (uuid) (libvirt_domain_info_virtual_cpus)", at)
    mem = promql(metrics, "sum by (uuid) (libvirt_domain_info_memory_usage_bytes)", at)
    net = promql(metrics, "sum by (uuid) (kennel_vm:net_rx:rate + kennel_vm:net_tx:rate)", at)
    busiest = sorted(cpu, key=lambda i: cpu[i] / vcpus[i], reverse=True)
    shown: list[str] = []
    for number in (1, 2, 3, 4):
        answer = selectors.vm_usage_page(user=member, page=number, strict=True, at=at)
        assert answer.ok and answer.rows.page.paginator.num_pages == 4
        rows = answer.rows.rows
        assert [r.vm.server_id for r in rows] == busiest[(number - 1) * 5 : number * 5]
        for row in rows:
            i = row.vm.server_id
            assert row.get("cpu") == pytest.approx(cpu[i])
            assert row.cpu_percent == pytest.approx(round(cpu[i] * 100 / vcpus[i], 1))
            assert row.get("memory_used") == mem[i]
            assert row.network_bps == pytest.approx(net[i])
        shown += [r.vm.server_id for r in rows]
    assert sorted(shown) == sorted(vm.uuid for vm in VMS)  # every VM once
    totals = selectors.vm_usage_page(user=member, page=3, at=at).rows.totals  # the same on every page
    whole = promql(metrics, "sum(kennel_vm:cpu:rate)", at)[""]
    assert totals.cpu_cores == pytest.approx(whole)
    assert totals.memory_used == promql(metrics, "sum(libvirt_domain_info_memory_usage_bytes)", at)[""]
    assert (totals.vms, totals.measured, totals.vcpus) == (len(VMS), len(VMS), sum(vm.vcpus for vm in VMS))


def test_vms_without_metrics_come_last_and_the_page_shows_fifty(metrics, estate, team, member):
    add_stopped_vms(team, member, 40)  # 56 VMs: 16 measured first, then 40 by name
    client = Client()
    client.force_login(member)
    url = reverse("usage:team-detail", args=["alpha"])
    first = client.get(url).content.decode()
    ids = [part.split('"', 1)[0] for part in first.split('data-vm="')[1:]]
    assert len(ids) == 50
    assert set(ids[:16]) == {vm.uuid for vm in VMS}
    assert ids[16:] == [str(uuid.UUID(int=0xD0D0_0000 + n)) for n in range(34)]
    assert "Total: 56 VMs, 16 measured" in first and "Page 1 of 2" in first
    second = client.get(url, {"page": 2}).content.decode()
    assert second.count("data-vm=") == 6 and "Page 2 of 2" in second
    assert client.get(url, {"page": 99}).content.decode().count("data-vm=") == 6  # a page: the last


def test_the_api_pages_as_the_page_does_and_an_odd_page_is_a_404(metrics, estate, team, member):
    add_stopped_vms(team, member, 40)
    client = Client()
    client.force_login(member)
    page = client.get(reverse("usage:team-detail", args=["alpha"])).content.decode()
    first = client.get("/api/v1/usage/vms/", {"team": "alpha"}).json()
    assert (first["count"], first["page"], first["pages"]) == (56, 1, 2)
    # The same VMs in the same order as the page (the busiest may swap between two reads).
    assert {vm["server_id"] for vm in first["vms"]} == {
        part.split('"', 1)[0] for part in page.split('data-vm="')[1:]
    }
    assert first["totals"]["vms"] == 56 and first["totals"]["measured"] == len(VMS)
    second = client.get("/api/v1/usage/vms/", {"team": "alpha", "page": 2}).json()
    assert len(second["vms"]) == 6 and not {v["id"] for v in second["vms"]} & {v["id"] for v in first["vms"]}
    for odd in ("3", "0", "-1", "two"):
        assert client.get("/api/v1/usage/vms/", {"team": "alpha", "page": odd}).status_code == 404


def _asked(client, stack, url: str) -> tuple[int, float]:
    before = promql_asked(stack)
    with CaptureQueriesContext(connection) as sql:
        assert client.get(url).status_code == 200
    return len(sql), promql_asked(stack) - before


def test_a_page_asks_the_same_sql_and_promql_for_sixteen_vms_as_for_five_hundred(
    metrics, estate, team, member, manager, django_assert_max_num_queries
):
    client = Client()
    client.force_login(manager)
    team_url = reverse("usage:team-detail", args=["alpha"])
    host_url = reverse("usage:host-detail", args=[estate["servers"]["X2"].pk]) + "?window=hour"
    charts_url = host_url + "&part=charts"  # what the host page's htmx asks once it is shown
    api_url = "/api/v1/usage/vms/?team=alpha"
    small = {url: _asked(client, metrics, url) for url in (team_url, host_url, api_url)}
    assert small[team_url][1] == 1 and small[api_url][1] == 1  # one PromQL query per list
    assert small[host_url][1] == 2  # the host's figures, its VMs
    before = promql_asked(metrics)
    assert client.get(charts_url, headers={"HX-Request": "true"}).status_code == 200
    assert promql_asked(metrics) - before == 4  # one per chart
    add_stopped_vms(team, member, 484)  # 500 VMs: past the few a list names to Prometheus
    for url, (queries, promql_queries) in small.items():
        with django_assert_max_num_queries(queries):
            _, asked = _asked(client, metrics, url)
        assert asked == promql_queries
    page = client.get(team_url).content.decode()
    assert page.count("data-vm=") == 50 and "Total: 500 VMs, 16 measured" in page


def test_the_api_lists_a_hosts_vms_as_its_page_does(metrics, estate, member, manager):
    client = Client()
    client.force_login(manager)
    x2 = estate["servers"]["X2"].pk
    page = client.get(reverse("usage:host-detail", args=[x2])).content.decode()
    answer = client.get("/api/v1/usage/vms/", {"host": x2}).json()
    on_x2 = {vm.uuid for vm in VMS if vm.host == "x2"}
    assert (
        {vm["server_id"] for vm in answer["vms"]}
        == on_x2
        == {part.split('"', 1)[0] for part in page.split('data-vm="')[1:]}
    )
    shares = [vm["figures"]["cpu"] / vm["figures"]["vcpus"] for vm in answer["vms"]]
    assert shares == sorted(shares, reverse=True) and answer["totals"]["vms"] == len(on_x2)
    for odd in ("x2", "-1", "999999"):
        assert client.get("/api/v1/usage/vms/", {"host": odd}).status_code == 404
    assert client.get("/api/v1/usage/vms/", {"host": x2, "page": 2}).status_code == 404
    client.force_login(member)
    assert client.get("/api/v1/usage/vms/", {"host": x2}).status_code == 403


def test_a_long_list_reads_the_answer_beat_renews_without_asking_prometheus(
    metrics, estate, member, settings, monkeypatch
):
    from django.core.cache import cache

    from usage.tasks import usage_renew

    settings.KENNEL_PROMETHEUS_CACHE_SECONDS = 15
    monkeypatch.setattr(selectors, "VM_MATCHER_MAX", 4)  # 16 VMs: a long list, the shared query
    cache.clear()
    assert usage_renew.apply().get() == {"hosts": 7, "vms": len(VMS)}  # what beat runs every 15 s
    before = promql_asked(metrics)
    answer = selectors.vm_usage_page(user=member)
    assert promql_asked(metrics) == before  # the page asked Prometheus nothing
    assert answer.ok and {r.vm.server_id for r in answer.rows.rows} == {vm.uuid for vm in VMS}
    assert all(r.get("cpu") is not None for r in answer.rows.rows)
    # Renewed, the answer changes with Prometheus's (the emulator's load moves every second).
    first = {r.vm.server_id: r.get("cpu") for r in answer.rows.rows}
    time.sleep(2.5)
    usage_renew.apply()
    again = {r.vm.server_id: r.get("cpu") for r in selectors.vm_usage_page(user=member).rows.rows}
    assert again != first


def test_a_host_page_reads_the_answers_beat_renews_and_shows_what_its_own_query_would(
    metrics, estate, manager, settings
):
    from django.core.cache import cache

    x2 = estate["servers"]["X2"]
    on_x2 = {vm.uuid for vm in VMS if vm.host == "x2"}
    settings.KENNEL_PROMETHEUS_CACHE_SECONDS = 15
    cache.clear()
    client = Client()
    client.force_login(manager)
    url = reverse("usage:host-detail", args=[x2.pk])
    assert _asked(client, metrics, url)[1] == 2  # nothing kept: the host's figures and its VMs
    cache.clear()
    renewed = selectors.usage_renew()  # what beat's usage_renew does
    before = promql_asked(metrics)
    page = client.get(url).content.decode()
    vms = selectors.host_vm_usage_page(user=manager, server=x2)
    host = selectors.host_usage(user=manager, server=x2)
    assert promql_asked(metrics) == before  # the page and both reads asked Prometheus nothing
    assert {part.split('"', 1)[0] for part in page.split('data-vm="')[1:]} == on_x2
    assert {r.vm.server_id for r in vms.rows.rows} == on_x2 and vms.rows.totals.measured == len(on_x2)
    # The figures are the renewed answers': every VM's, and X2's row of every host's.
    samples, table = renewed.rows
    for row in vms.rows.rows:
        assert row.figures == {f: values[row.vm.server_id] for f, values in table.items()}
    x2_samples = [s for s in samples if s.labels["instance"].split(":")[0] == "x2"]
    assert x2_samples and host.rows.figures == {s.labels["figure"]: s.value for s in x2_samples}


def test_without_the_cache_nothing_is_renewed(metrics, settings):
    from usage.tasks import usage_renew

    settings.KENNEL_PROMETHEUS_CACHE_SECONDS = 0
    assert usage_renew.apply().get() == {"hosts": 0, "vms": 0}
