"""Reads: what hosts and VMs use, from Prometheus, beside what Kennel knows (servers, Placement's
allocation, VMs and their teams). Each list or chart is one PromQL query (usage.queries); the rows are
matched to servers by host name and to VMs by Nova id in Python, against querysets scoped by
``restrict``. A list of VMs is ranked and summed over ids and floats and loads only its page's VMs.
Nothing here raises when Prometheus is missing or away: the answer's ``state`` says so.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import repeat
from typing import Generic, TypeVar

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from inventory.models import Server
from inventory.selectors import host_utilization_list, server_list
from portal.access import restrict
from portal.models import Team, User
from provisioning.models import VmRequest
from usage import queries
from usage.prometheus import (
    Prometheus,
    PrometheusQueryError,
    PrometheusUnavailable,
    Sample,
    Series,
    Table,
    prometheus,
)

T = TypeVar("T")


class MetricsState(StrEnum):
    OK = "ok"
    NOT_CONFIGURED = "not_configured"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Answer(Generic[T]):
    """What a page shows: the rows (empty unless ``state`` is ok) and why there are none."""

    state: MetricsState
    rows: T
    error: str = ""
    at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state == MetricsState.OK


def _ask(empty: T, read: Callable[..., T], *, timeout: float | None = None) -> Answer[T]:
    client = prometheus(timeout=timeout)
    if client is None:
        return Answer(MetricsState.NOT_CONFIGURED, empty)
    try:
        return Answer(MetricsState.OK, read(client), at=time.time())
    except (PrometheusUnavailable, PrometheusQueryError) as error:
        return Answer(MetricsState.UNAVAILABLE, empty, error=str(error))


def host_key(value: str) -> str:
    """``X2``, ``x2.dc1.example.org`` and ``x2:9100`` are all the host ``x2``."""
    return value.split(":")[0].split(".")[0].lower()


def _by_figure(samples: Iterable[Sample], label: str) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = defaultdict(dict)
    for sample in samples:
        key = sample.labels.get(label, "")
        if key and not math.isnan(sample.value):
            rows[key][sample.labels.get("figure", "")] = sample.value
    return rows


def _percent(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(part * 100 / whole, 1)


# --- Hosts --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostUsage:
    """One physical server's real use (node exporter; its VMs' from the libvirt exporter) beside what
    Placement allocates on it. A figure is None when Prometheus has no series for it."""

    name: str  # the server's name, or the host label's value for a host not in the inventory
    server_id: int | None
    architecture: str
    in_openstack: bool
    figures: dict[str, float] = field(default_factory=dict)
    vcpu_allocated: int | None = None  # Placement: vCPUs the VMs on it hold
    vcpu_capacity: int | None = None  # Placement: (total - reserved) x allocation ratio

    def get(self, figure: str) -> float | None:
        return self.figures.get(figure)

    @property
    def has_metrics(self) -> bool:
        return bool(self.figures)

    @property
    def cpu_percent(self) -> float | None:
        return _percent(self.get("cpu_used"), self.get("cpus"))

    @property
    def memory_percent(self) -> float | None:
        return _percent(self.get("memory_used"), self.get("memory_total"))

    @property
    def disk_percent(self) -> float | None:
        return _percent(self.get("disk_used"), self.get("disk_total"))

    @property
    def vcpu_overcommit(self) -> float | None:
        """Allocated vCPUs per physical CPU: what the allocation promises."""
        cpus = self.get("cpus")
        return round(self.vcpu_allocated / cpus, 2) if self.vcpu_allocated is not None and cpus else None

    @property
    def vm_cpu_of_allocated(self) -> float | None:
        """How much of the vCPUs allocated on the host its VMs really keep busy (%)."""
        return _percent(self.get("vm_cpu"), self.vcpu_allocated)

    def hot(self, threshold_percent: float) -> bool:
        return self.cpu_percent is not None and self.cpu_percent >= threshold_percent


def _server_keys(server: Server) -> set[str]:
    return {host_key(n) for n in (server.name, server.hypervisor_hostname) if n}


def _host_rows(
    user: User, samples: list[Sample], servers: list[Server], *, unmatched: bool
) -> list[HostUsage]:
    metrics = {host_key(k): v for k, v in _by_figure(samples, queries.host_label()).items()}
    placement = {h.server_id: h for h in host_utilization_list(user=user) if h.server_id is not None}
    rows, matched = [], set()
    for server in servers:
        keys = _server_keys(server)
        found = next((metrics[k] for k in sorted(keys) if k in metrics), {})
        matched |= keys
        alloc = placement.get(server.pk)
        vcpu = next((r for r in alloc.resources if r.resource_class == "VCPU"), None) if alloc else None
        rows.append(
            HostUsage(
                name=server.name,
                server_id=server.pk,
                architecture=server.architecture,
                in_openstack=bool(server.hypervisor_hostname),
                figures=found,
                vcpu_allocated=vcpu.used if vcpu else None,
                vcpu_capacity=vcpu.capacity if vcpu else None,
            )
        )
    if unmatched:
        for key in sorted(set(metrics) - matched):
            rows.append(
                HostUsage(name=key, server_id=None, architecture="", in_openstack=False, figures=metrics[key])
            )
    return rows


def _host_samples(
    p: Prometheus, *, where: str = "", at: float | None = None, fresh: bool = False
) -> list[Sample]:
    """The hosts' figures: their VMs' CPU from the recorded rates when Kennel's rules are configured,
    from the raw series when Prometheus has VMs but no recorded rate (the rules are not loaded)."""
    use_rules = bool(settings.KENNEL_PROMETHEUS_RULES)
    samples = p.query(queries.host_figures(where=where, use_rules=use_rules), at=at, fresh=fresh)
    if use_rules and _rules_missing(samples):
        return p.query(queries.host_figures(where=where), at=at, fresh=fresh)
    return samples


def _rules_missing(samples: list[Sample]) -> bool:
    figures = {s.labels.get("figure") for s in samples}
    return "vms" in figures and "vm_cpu" not in figures


def _kept_host_samples(p: Prometheus) -> list[Sample] | None:
    """Every host's figures as the host list last asked for them (beat renews them), or None: never
    asks Prometheus."""
    found = p.kept(queries.host_figures(use_rules=bool(settings.KENNEL_PROMETHEUS_RULES)))
    if found is not None and settings.KENNEL_PROMETHEUS_RULES and _rules_missing(found):
        return p.kept(queries.host_figures())
    return found


def host_usage_list(*, user: User, at: float | None = None) -> Answer[list[HostUsage]]:
    """Every server the user may see (managers, admins) with its real use; hosts Prometheus knows and
    the inventory does not come last. One PromQL query; the inventory's and Placement's few SQL."""
    servers = list(server_list(user=user).order_by("name"))
    if not servers:
        return Answer(MetricsState.OK, [])
    return _ask([], lambda p: _host_rows(user, _host_samples(p, at=at), servers, unmatched=True))


def host_usage(*, user: User, server: Server, at: float | None = None) -> Answer[HostUsage | None]:
    """One server's real use: from every host's answer when one is kept (the host list's, renewed by
    beat), else one query for its series alone."""
    where = queries.host_matcher(sorted(_server_keys(server)))

    def read(p: Prometheus) -> HostUsage:
        samples = _kept_host_samples(p) if at is None else None
        if samples is None:
            samples = _host_samples(p, where=where, at=at)
        return _host_rows(user, samples, [server], unmatched=False)[0]

    return _ask(None, read)


def hot_hosts(
    *, user: User, threshold_percent: float, timeout: float | None = None
) -> Answer[list[HostUsage]]:
    """The servers whose CPUs are busier than the threshold right now (the dashboard's alert)."""
    if not settings.KENNEL_PROMETHEUS_URL:  # not even the servers' query: the dashboard's count stays
        return Answer(MetricsState.NOT_CONFIGURED, [])
    servers = list(server_list(user=user).order_by("name"))
    if not servers:
        return Answer(MetricsState.OK, [])
    empty: list[HostUsage] = []
    answer: Answer[list[HostUsage]] = _ask(
        empty,
        lambda p: _host_rows(user, _host_samples(p), servers, unmatched=False),
        timeout=timeout,
    )
    return Answer(answer.state, [h for h in answer.rows if h.hot(threshold_percent)], answer.error, answer.at)


# --- VMs ----------------------------------------------------------------------------------------------

MIB = 1024 * 1024


@dataclass(frozen=True)
class VmUsage:
    """One VM's real use (libvirt exporter on its host): ``cpu`` cores busy, ``memory_used`` bytes,
    ``disk`` and ``network`` bytes per second, and the ``vcpus`` and ``memory_total`` libvirt gives it.
    A figure is None without a series (stopped: libvirt lists only running domains). Its name, team,
    owner and host are Kennel's (the cloud mirror)."""

    vm: VmRequest
    figures: dict[str, float] = field(default_factory=dict)

    def get(self, figure: str) -> float | None:
        return self.figures.get(figure)

    @property
    def host(self) -> str:
        return host_key(self.vm.host) if self.vm.host else ""

    @property
    def has_metrics(self) -> bool:
        return bool(self.figures)

    @property
    def cpu_percent(self) -> float | None:
        return _percent(self.get("cpu"), self.get("vcpus") or self.vm.vcpus)

    @property
    def memory_percent(self) -> float | None:
        return _percent(self.get("memory_used"), self.get("memory_total") or self.vm.ram_mb * MIB)

    @property
    def disk_bps(self) -> float | None:
        return self.get("disk")

    @property
    def network_bps(self) -> float | None:
        return self.get("network")


@dataclass(frozen=True)
class VmTotals:
    """A list of VMs summed: how many, how many have metrics (running), and those's vCPUs, busy cores,
    memory, disk and network (libvirt's figures)."""

    vms: int
    measured: int
    vcpus: float
    cpu_cores: float
    memory_used: float
    memory_total: float
    disk_bps: float
    network_bps: float

    @property
    def cpu_percent(self) -> float | None:
        return _percent(self.cpu_cores, self.vcpus)


# A list of VMs shows this many a page, busiest first; its totals are over all of them.
VMS_PER_PAGE = 50
# Up to this many VMs, a list asks Prometheus for their series alone. A longer one asks for every VM's
# (the same query for every team and person, so one answer kept KENNEL_PROMETHEUS_CACHE_SECONDS serves
# them all): Prometheus 2.42 matches a long list of ids more slowly than it reads every VM's series.
VM_MATCHER_MAX = 100


@dataclass(frozen=True)
class VmPage:
    """One page of a list of VMs, busiest first (the share of its vCPUs busy; VMs without metrics come
    last, by team and name), and the totals of the whole list."""

    rows: list[VmUsage]
    page: Page  # of the list's server ids
    totals: VmTotals


def _figures_of(server_id: str, table: Table) -> dict[str, float]:
    return {figure: values[server_id] for figure, values in table.items() if server_id in values}


def _busiest_first(ids: list[str], table: Table) -> tuple[list[str], list[str]]:
    """``ids`` busiest first, and those with metrics. Ids and floats only: ranking a few thousand is
    a millisecond; a model instance per VM is what made a long list slow, so only a page's are loaded."""
    present: set[str] = set().union(*table.values())
    measured = [i for i in ids if i in present]
    cpu, vcpus = table.get("cpu", {}), table.get("vcpus", {})

    def share(server_id: str) -> float:
        busy, of = cpu.get(server_id), vcpus.get(server_id)
        return busy / of if busy is not None and of else -1.0

    ranked = sorted(measured, key=share, reverse=True)  # stable: ties keep the team and name order
    return ranked + [i for i in ids if i not in present], measured


def _totals(count: int, measured: list[str], table: Table) -> VmTotals:
    def total(figure: str) -> float:
        values = table.get(figure, {})
        return float(sum(map(values.get, measured, repeat(0.0))))  # C's loop: a few thousand is 0.1 ms

    return VmTotals(
        vms=count,
        measured=len(measured),
        vcpus=total("vcpus"),
        cpu_cores=total("cpu"),
        memory_used=total("memory_used"),
        memory_total=total("memory_total"),
        disk_bps=total("disk"),
        network_bps=total("network"),
    )


def _active(queryset: QuerySet[VmRequest]) -> QuerySet[VmRequest]:
    return queryset.filter(status=VmRequest.Status.ACTIVE).exclude(server_id="")


def _vm_page(
    user: User, ids: list[str], answer: Answer[Table], page: str | int | None, strict: bool
) -> Answer[VmPage]:
    table = answer.rows if answer.ok else {}
    ordered, measured = _busiest_first(ids, table) if answer.ok else ([], [])
    paginator = Paginator(ordered, VMS_PER_PAGE)
    shown = paginator.page(page or 1) if strict else paginator.get_page(page)
    page_ids = list(shown.object_list)
    vms = {
        vm.server_id: vm
        for vm in _active(restrict(user, VmRequest.objects.filter(server_id__in=page_ids))).select_related(
            "team", "owner", "idle_flag"
        )
    }
    rows = [VmUsage(vm=vms[i], figures=_figures_of(i, table)) for i in page_ids if i in vms]
    return Answer(
        answer.state, VmPage(rows, shown, _totals(len(ordered), measured, table)), answer.error, answer.at
    )


def _vm_table(where: str, at: float | None, *, fresh: bool = False) -> Callable[[Prometheus], Table]:
    """A list of VMs' figures: from the recorded rates when Kennel's rules are configured, and from the
    raw series when Prometheus has no recorded rate although it has VMs (the rules are not loaded)."""

    def read(p: Prometheus, use_rules: bool) -> Table:
        expr = queries.vm_figures(where=where, use_rules=use_rules)
        return p.query_table(expr, row=queries.vm_label(), column="figure", at=at, fresh=fresh)

    def table(p: Prometheus) -> Table:
        use_rules = bool(settings.KENNEL_PROMETHEUS_RULES)
        found = read(p, use_rules)
        if use_rules and found.get("vcpus") and not found.get("cpu"):
            return read(p, False)
        return found

    return table


def _kept_vm_table(p: Prometheus) -> Table | None:
    """Every VM's figures as the long lists last asked for them (beat renews them), or None: never
    asks Prometheus."""

    def kept(use_rules: bool) -> Table | None:
        expr = queries.vm_figures(use_rules=use_rules)
        return p.kept_table(expr, row=queries.vm_label(), column="figure")

    use_rules = bool(settings.KENNEL_PROMETHEUS_RULES)
    found = kept(use_rules)
    if found is not None and use_rules and found.get("vcpus") and not found.get("cpu"):
        return kept(False)
    return found


def vm_usage_page(
    *,
    user: User,
    team: Team | None = None,
    page: str | int | None = None,
    strict: bool = False,
    at: float | None = None,
) -> Answer[VmPage]:
    """The active VMs the user may see (of one team), busiest first, ``VMS_PER_PAGE`` a page, with the
    totals of all of them: one PromQL query and three SQL, however many VMs. ``page`` is page 1 when it
    is not a page number, or with ``strict`` (the API) raises django.core.paginator.InvalidPage."""
    queryset = _active(restrict(user, VmRequest.objects.all()))
    if team is not None:
        queryset = queryset.filter(team=team)
    ids = list(queryset.order_by("team__slug", "name", "pk").values_list("server_id", flat=True))
    if not ids:
        return _vm_page(user, [], Answer(MetricsState.OK, {}), page, strict)
    where = queries.vms_matcher(ids) if len(ids) <= VM_MATCHER_MAX else ""
    empty: Table = {}
    return _vm_page(user, ids, _ask(empty, _vm_table(where, at)), page, strict)


def usage_renew() -> Answer[tuple[list[Sample], Table]]:
    """Ask again for every host's and every VM's figures, the answers the host list, the long VM lists
    (``VM_MATCHER_MAX``) and the host pages read, and keep them: beat renews them every
    ``KENNEL_PROMETHEUS_CACHE_SECONDS``, so no page waits on those queries (about 0.1 to 0.2 s for
    2,000 VMs). Not configured, or no cache: nothing to keep."""
    if not settings.KENNEL_PROMETHEUS_CACHE_SECONDS:
        return Answer(MetricsState.NOT_CONFIGURED, ([], {}))

    def read(p: Prometheus) -> tuple[list[Sample], Table]:
        return _host_samples(p, fresh=True), _vm_table("", None, fresh=True)(p)

    return _ask(([], {}), read)


def _on_host(server: Server) -> Q:
    """VMs whose mirrored host is the server, whatever its domain, port or case."""
    where = Q(pk__in=[])
    for key in _server_keys(server):
        where |= Q(host__iexact=key) | Q(host__istartswith=f"{key}.") | Q(host__istartswith=f"{key}:")
    return where


def host_vm_usage_page(
    *,
    user: User,
    server: Server,
    page: str | int | None = None,
    strict: bool = False,
    at: float | None = None,
) -> Answer[VmPage]:
    """The server's VMs that are Kennel's and the user may see, busiest first, a page of them and their
    totals (the host's figures count the others). When every VM's answer is kept (beat renews it), the
    VMs the mirror places on the server, read from it: no query; else one PromQL query for the VMs
    Prometheus sees on the server."""
    kept: Answer[Table | None] = _ask(None, _kept_vm_table) if at is None else Answer(MetricsState.OK, None)
    if kept.rows is not None:
        ids = list(
            _active(restrict(user, VmRequest.objects.filter(_on_host(server))))
            .order_by("team__slug", "name", "pk")
            .values_list("server_id", flat=True)
        )
        return _vm_page(user, ids, Answer(kept.state, kept.rows, at=kept.at), page, strict)
    where = queries.host_matcher(sorted(_server_keys(server)))
    empty: Table = {}
    answer = _ask(empty, _vm_table(where, at))
    present = set().union(*answer.rows.values())
    ids = (
        list(
            _active(restrict(user, VmRequest.objects.filter(server_id__in=sorted(present))))
            .order_by("team__slug", "name", "pk")
            .values_list("server_id", flat=True)
        )
        if present
        else []
    )
    return _vm_page(user, ids, answer, page, strict)


def vm_usage(*, user: User, vm: VmRequest, at: float | None = None) -> Answer[VmUsage | None]:
    """One VM's real use (one query, only its series)."""
    read = _vm_table(queries.vm_matcher(vm.server_id), at)
    return _ask(None, lambda p: VmUsage(vm=vm, figures=_figures_of(vm.server_id, read(p))))


# --- Charts -------------------------------------------------------------------------------------------


class Window(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


# Each window's span and step (seconds): about 120 to 180 points a line.
WINDOWS = {
    Window.HOUR: (3600, 30),
    Window.DAY: (86400, 600),
    Window.WEEK: (7 * 86400, 3600),
    Window.MONTH: (30 * 86400, 4 * 3600),
}


def window_of(value: str | None, default: Window = Window.DAY) -> Window:
    try:
        return Window(value or default)
    except ValueError:
        return default


@dataclass(frozen=True)
class ChartData:
    """One chart's figures over a window: each figure's points, on one time axis."""

    name: str  # which chart: cpu, memory, disk, network (and vm_cpu, vm_disk)
    start: float
    end: float
    step: float
    times: tuple[float, ...]
    lines: dict[str, tuple[float | None, ...]]  # figure -> value at each time (None: no sample)


def window_range(window: Window, now: float | None = None) -> tuple[float, float, float]:
    span, step = WINDOWS[window]
    end = math.floor((now or time.time()) / step) * step  # aligned: the same points on every reload
    return end - span, end, float(step)


def _chart(name: str, series: list[Series], start: float, end: float, step: float) -> ChartData:
    count = round((end - start) / step) + 1
    times = tuple(start + i * step for i in range(count))
    lines: dict[str, list[float | None]] = {}
    for item in series:
        figure = item.labels.get("figure", "")
        values = lines.setdefault(figure, [None] * count)
        for t, v in item.points:
            i = round((t - start) / step)
            if 0 <= i < count and not math.isnan(v):
                values[i] = (values[i] or 0.0) + v
    return ChartData(name, start, end, step, times, {k: tuple(v) for k, v in lines.items()})


def _charts(names: tuple[str, ...], build: Callable[[str, float], str], window: Window, now: float | None):
    start, end, step = window_range(window, now)

    def read(p) -> list[ChartData]:
        # The charts' range queries at once: a page waits for the slowest, not for their sum.
        def one(name: str) -> ChartData:
            return _chart(
                name, p.query_range(build(name, step), start=start, end=end, step=step), start, end, step
            )

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            return list(pool.map(one, names))

    return _ask([], read)


HOST_CHARTS = ("cpu", "memory", "disk", "network")
VM_CHARTS = ("vm_cpu", "memory", "vm_disk", "network")


def host_charts(*, server: Server, window: Window, now: float | None = None) -> Answer[list[ChartData]]:
    """CPU, memory, disk and network of one server over the window: one range query per chart."""
    where = queries.host_matcher(sorted(_server_keys(server)))
    return _charts(
        HOST_CHARTS, lambda name, step: queries.host_figures(where=where, step=step, charts=name), window, now
    )


def vm_charts(*, vm: VmRequest, window: Window, now: float | None = None) -> Answer[list[ChartData]]:
    """CPU, memory, disk and network of one VM over the window: one range query per chart."""
    where = queries.vm_matcher(vm.server_id)
    return _charts(
        VM_CHARTS, lambda name, step: queries.vm_figures(where=where, step=step, charts=name), window, now
    )
