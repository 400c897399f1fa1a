"""The usage charts as inline SVG (inventory.charts draws them, as for the utilization history), each
with its samples as table rows for those who cannot see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from inventory.charts import ChartLine, compact_number, line_chart_svg, time_axis
from usage.selectors import ChartData

# Each chart: its title, the y axis, and its lines (figure, legend, style, factor).
_SPECS = {
    "cpu": (
        gettext_lazy("CPU"),
        gettext_lazy("cores"),
        (
            ("cpus", gettext_lazy("CPUs"), "capacity", 1.0),
            ("cpu_used", gettext_lazy("busy"), "used", 1.0),
            ("vm_cpu", gettext_lazy("used by VMs"), "threshold", 1.0),
        ),
    ),
    "vm_cpu": (
        gettext_lazy("CPU"),
        gettext_lazy("cores"),
        (
            ("vcpus", gettext_lazy("vCPUs"), "capacity", 1.0),
            ("cpu", gettext_lazy("busy"), "used", 1.0),
        ),
    ),
    "memory": (
        gettext_lazy("Memory"),
        gettext_lazy("bytes"),
        (
            ("memory_total", gettext_lazy("total"), "capacity", 1.0),
            ("memory_used", gettext_lazy("used"), "used", 1.0),
        ),
    ),
    "disk": (
        gettext_lazy("Disk"),
        gettext_lazy("bytes"),
        (
            ("disk_total", gettext_lazy("size"), "capacity", 1.0),
            ("disk_used", gettext_lazy("used"), "used", 1.0),
        ),
    ),
    "vm_disk": (
        gettext_lazy("Disk"),
        gettext_lazy("bytes per second"),
        (
            ("disk_read", gettext_lazy("read"), "used", 1.0),
            ("disk_write", gettext_lazy("written"), "capacity", 1.0),
        ),
    ),
    "network": (
        gettext_lazy("Network"),
        gettext_lazy("bytes per second"),
        (
            ("net_rx", gettext_lazy("received"), "used", 1.0),
            ("net_tx", gettext_lazy("sent"), "capacity", 1.0),
        ),
    ),
}


@dataclass(frozen=True)
class UsageChart:
    name: str
    title: str
    svg: SafeString
    headers: tuple[str, ...]
    table_rows: SafeString


def usage_chart(data: ChartData, *, chart_id: str) -> UsageChart:
    title, unit, specs = _SPECS[data.name]
    lines = [
        (figure, str(label), style, factor) for figure, label, style, factor in specs if figure in data.lines
    ]
    # Only the instants every line has a value for; a missing stretch is a gap, not a straight line.
    keep = [
        i for i in range(len(data.times)) if lines and all(data.lines[f][i] is not None for f, *_ in lines)
    ]
    times = [datetime.fromtimestamp(data.times[i], tz=UTC) for i in keep]
    start, end = datetime.fromtimestamp(data.start, tz=UTC), datetime.fromtimestamp(data.end, tz=UTC)
    axis = time_axis(times, start=start, end=end, gap=_gap(data.step))
    chart_lines = [
        ChartLine(label, [float(data.lines[figure][i] or 0.0) * factor for i in keep], style)
        for figure, label, style, factor in lines
    ]
    zone = timezone.get_current_timezone_name()
    svg = line_chart_svg(
        chart_id=chart_id,
        title=str(title),
        description=_("%(count)s samples, one every %(step)s s.")
        % {"count": len(keep), "step": int(data.step)},
        x_label=_("Time (%(zone)s)") % {"zone": zone},
        y_label=str(unit),
        axis=axis,
        lines=chart_lines,
    )
    local = timezone.get_current_timezone()
    rows = []
    for n, at in enumerate(times):
        cells = "".join(f"<td>{compact_number(round(line.values[n], 3))}</td>" for line in chart_lines)
        rows.append(f"<tr><td>{at.astimezone(local):%Y-%m-%d %H:%M:%S}</td>{cells}</tr>")
    return UsageChart(
        name=data.name,
        title=str(title),
        svg=svg,
        headers=tuple(line.label for line in chart_lines),
        table_rows=mark_safe("".join(rows)),  # noqa: S308 -- numbers and formatted dates only
    )


def _gap(step: float):
    from datetime import timedelta

    return timedelta(seconds=step * 2.5)
