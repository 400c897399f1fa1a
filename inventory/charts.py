"""Line charts drawn on the server as inline SVG: no script, no CDN, readable without colour.

Each chart carries a <title> and a <desc> (named by ``aria-labelledby``), axis labels, tick labels and a
legend inside the image; lines differ by dash pattern as well as colour. Pages put a data table next to
each chart for those who cannot see it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify
from django.utils.translation import gettext as _

from inventory.history import RESOURCE_LABELS, STEP, HistoryPoint, UtilizationHistory, resource_shown

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 72  # room for tick labels, the x-axis label and the legend
_X_STEPS = (
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(days=1),
    timedelta(days=2),
    timedelta(days=7),
    timedelta(days=14),
)
_MAX_X_TICKS = 8


PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class TimeAxis:
    """The sample times the lines of a chart share (and the charts of one series): each one's x
    coordinate, and the runs of samples no further apart than the gap, computed once."""

    start: datetime
    end: datetime
    x: tuple[str, ...]  # the x coordinate of each sample, as written in the SVG
    segments: tuple[range, ...]  # indexes of samples drawn as one joined line

    def x_of(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        return LEFT + (at - self.start).total_seconds() / span * PLOT_W


def time_axis(times: Sequence[datetime], *, start: datetime, end: datetime, gap: timedelta) -> TimeAxis:
    """The axis for samples at ``times`` (oldest first) over [start, end]; samples further apart than
    ``gap`` are not joined, so missing samples show as a gap, not as a straight line."""
    axis = TimeAxis(start, end, (), ())
    segments: list[range] = []
    first = 0
    for i in range(1, len(times) + 1):
        if i == len(times) or times[i] - times[i - 1] > gap:
            segments.append(range(first, i))
            first = i
    return TimeAxis(start, end, tuple(f"{axis.x_of(at):.1f}" for at in times), tuple(segments))


@dataclass(frozen=True)
class ChartLine:
    """One line: a label for the legend, a value per sample of the axis, and its style ("used",
    "capacity" or "threshold", see kennel.css)."""

    label: str
    values: Sequence[float]
    style: str


def compact_number(value: float) -> str:
    """1234567 -> 1.2M, 309657 -> 310k, 512 -> 512: tick labels that fit."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            scaled = value / factor
            return f"{scaled:.{0 if scaled >= 100 or scaled == int(scaled) else 1}f}{suffix}"
    return f"{value:g}"


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^n) up to at least ``maximum``."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(maximum / step - 1e-9) + 1)]


def time_ticks(start: datetime, end: datetime) -> tuple[list[datetime], Callable[[datetime], str]]:
    """Tick times between ``start`` and ``end`` on round boundaries of the current time zone, and how
    to label them: hours within a day, days within a month, months beyond."""
    start, end = timezone.localtime(start), timezone.localtime(end)
    span = end - start
    step = next((s for s in _X_STEPS if span / s <= _MAX_X_TICKS), None)
    if step is None:  # months: the first of each, every other one if needed
        months = (end.year - start.year) * 12 + end.month - start.month
        every = max(1, math.ceil(months / _MAX_X_TICKS))
        ticks, year, month = [], start.year, start.month
        while True:
            month += 1
            if month > 12:
                year, month = year + 1, 1
            tick = start.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
            if tick > end:
                break
            if ((year - start.year) * 12 + month - start.month) % every == 0:
                ticks.append(tick)
        return ticks, lambda t: t.strftime("%Y-%m")
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while first < start:
        first += step
    ticks = []
    tick = first
    while tick <= end:
        ticks.append(tick)
        tick += step
    if step < timedelta(days=1):
        return ticks, lambda t: t.strftime("%m-%d") if (t.hour, t.minute) == (0, 0) else t.strftime("%H:%M")
    return ticks, lambda t: t.strftime("%m-%d")


def _text_width(text: str) -> int:
    """Roughly how wide ``text`` is at the chart's font size (CJK characters take a full em)."""
    return sum(12 if ord(c) >= 0x2E80 else 7 for c in text)


def line_chart_svg(
    *,
    chart_id: str,
    title: str,
    description: str,
    x_label: str,
    y_label: str,
    axis: TimeAxis,
    lines: Sequence[ChartLine],
) -> SafeString:
    """An accessible SVG line chart of ``lines`` over the axis's range. All text is escaped here."""
    plot_w, plot_h = PLOT_W, PLOT_H
    top_value = max((v for line in lines for v in line.values), default=0.0)
    y_ticks = nice_ticks(top_value)
    y_scale = plot_h / y_ticks[-1]
    y_base = TOP + plot_h

    def y_of(value: float) -> float:
        return y_base - value * y_scale

    cid = escape(chart_id)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{cid}-t {cid}-d" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{cid}-t">{escape(title)}</title><desc id="{cid}-d">{escape(description)}</desc>',
        '<g class="chart-grid">',
    ]
    for value in y_ticks:
        y = y_of(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{compact_number(value)}</text>'
        )
    ticks, label_of = time_ticks(axis.start, axis.end)
    for tick in ticks:
        x = axis.x_of(tick)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h + 4}"/>'
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{escape(label_of(tick))}</text>'
        )
    parts.append(
        f'</g><g class="chart-axes"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>'
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>'
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h + 34}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text transform="translate(14 {TOP + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text></g>"
    )
    xs = axis.x
    for line in lines:
        style = escape(line.style)
        values = line.values
        for run in axis.segments:
            if len(run) == 1:  # a lone sample is still shown, as a dot
                i = run[0]
                parts.append(
                    f'<circle class="chart-dot chart-{style}" cx="{xs[i]}" cy="{y_of(values[i]):.1f}" r="2"/>'
                )
            else:
                coords = " ".join(f"{xs[i]},{y_base - values[i] * y_scale:.1f}" for i in run)
                parts.append(f'<polyline class="chart-line chart-{style}" points="{coords}"/>')
    legend_y = HEIGHT - 14
    x = LEFT
    parts.append('<g class="chart-legend">')
    for line in lines:
        style = escape(line.style)
        parts.append(
            f'<line class="chart-line chart-{style}" x1="{x}" y1="{legend_y - 4}" x2="{x + 28}" '
            f'y2="{legend_y - 4}"/>'
            f'<text x="{x + 34}" y="{legend_y}">{escape(line.label)}</text>'
        )
        x += 34 + _text_width(line.label) + 24
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 -- every interpolated text is escaped above


# --- The utilization history as charts -------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesCharts:
    """One architecture's (or data center's) charts, one per resource, and its samples for the table."""

    key: str
    charts: tuple[tuple[str, SafeString], ...]  # (resource class, svg)
    table_rows: SafeString  # <tr> per sample: time, hosts, VMs, used / capacity per resource


def history_table_rows(points: tuple[HistoryPoint, ...]) -> SafeString:
    """The samples as table rows, built here rather than in a template loop: a year holds hundreds."""
    rows = []
    zone = timezone.get_current_timezone()
    for point in points:
        cells = "".join(
            f"<td>{resource_shown(r.resource_class, r.used)} / "
            f"{resource_shown(r.resource_class, r.capacity)}</td>"
            for r in point.resources
        )
        at = point.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        rows.append(f"<tr><td>{at}</td><td>{point.host_count}</td><td>{point.vm_count}</td>{cells}</tr>")
    return mark_safe("".join(rows))  # noqa: S308 -- numbers and a formatted date only


def utilization_history_charts(history: UtilizationHistory, *, threshold_percent: int) -> list[SeriesCharts]:
    """Used, capacity and the alert threshold of each resource over the history's range."""
    gap = STEP[history.resolution] * 2.5
    zone = timezone.get_current_timezone_name()
    result = []
    for series in history.series:
        axis = time_axis([p.at for p in series.points], start=history.start, end=history.end, gap=gap)
        charts = []
        for i, resource_class in enumerate(RESOURCE_LABELS):
            used = [float(resource_shown(resource_class, p.resources[i].used) or 0) for p in series.points]
            capacity = [
                float(resource_shown(resource_class, p.resources[i].capacity) or 0) for p in series.points
            ]
            threshold = [value * threshold_percent / 100 for value in capacity]
            resource = str(RESOURCE_LABELS[resource_class])
            latest = series.points[-1].resources[i] if series.points else None
            description = (
                _("Latest sample: %(used)s used of %(capacity)s (%(percent)s%%).")
                % {
                    "used": resource_shown(resource_class, latest.used),
                    "capacity": resource_shown(resource_class, latest.capacity),
                    "percent": latest.percent,
                }
                if latest
                else _("No samples in this range.")
            )
            charts.append(
                (
                    resource_class,
                    line_chart_svg(
                        chart_id=f"chart-{slugify(series.key) or 'none'}-{resource_class.lower()}",
                        title=_("%(key)s: %(resource)s, used and capacity")
                        % {"key": series.key or _("No data center"), "resource": resource},
                        description=str(description),
                        x_label=_("Time (%(zone)s)") % {"zone": zone},
                        y_label=resource,
                        axis=axis,
                        lines=(
                            ChartLine(str(_("Used")), used, "used"),
                            ChartLine(str(_("Capacity")), capacity, "capacity"),
                            ChartLine(
                                _("%(percent)s%% of capacity") % {"percent": threshold_percent},
                                threshold,
                                "threshold",
                            ),
                        ),
                    ),
                )
            )
        result.append(SeriesCharts(series.key, tuple(charts), history_table_rows(series.points)))
    return result
