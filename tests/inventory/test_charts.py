"""The server-drawn SVG charts: ticks, labels, gaps, escaping and what assistive technology reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from inventory.charts import ChartLine, compact_number, line_chart_svg, nice_ticks, time_axis, time_ticks

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_compact_numbers_fit_a_tick_label():
    assert [compact_number(v) for v in (0, 512, 2500, 309657, 1_200_000, 2e9)] == [
        "0", "512", "2.5k", "310k", "1.2M", "2G",
    ]  # fmt: skip


def test_nice_ticks_start_at_zero_and_cover_the_maximum_in_round_steps():
    assert nice_ticks(1536) == [0, 500, 1000, 1500, 2000]
    assert nice_ticks(90) == [0, 25, 50, 75, 100]
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(1000) == [0, 250, 500, 750, 1000]


def test_time_ticks_are_hours_within_a_day_days_within_a_month_and_months_beyond(settings):
    settings.TIME_ZONE = "UTC"
    hours, label = time_ticks(T0, T0 + timedelta(days=1))
    assert [label(t) for t in hours] == [
        "03-01",
        "03:00",
        "06:00",
        "09:00",
        "12:00",
        "15:00",
        "18:00",
        "21:00",
        "03-02",
    ]
    days, label = time_ticks(T0, T0 + timedelta(days=7))
    assert [label(t) for t in days] == [f"03-0{d}" for d in range(1, 9)]
    months, label = time_ticks(T0, T0 + timedelta(days=365))
    assert [label(t) for t in months] == ["2026-05", "2026-07", "2026-09", "2026-11", "2027-01", "2027-03"]


def _chart(hours, lines, **kwargs):
    """A chart of samples at ``hours`` after T0 over ten hours, joined up to 2.5 hours apart."""
    axis = time_axis(
        [T0 + timedelta(hours=h) for h in hours],
        start=T0,
        end=T0 + timedelta(hours=10),
        gap=timedelta(hours=2.5),
    )
    return str(
        line_chart_svg(
            chart_id=kwargs.get("chart_id", "c1"),
            title=kwargs.get("title", "x86_64: vCPUs"),
            description="Latest sample: 10 used of 100.",
            x_label="Time (UTC)",
            y_label="vCPUs",
            axis=axis,
            lines=lines,
        )
    )


def test_the_chart_names_itself_labels_its_axes_and_carries_a_legend():
    svg = _chart([0, 1], [ChartLine("Used", [10, 20], "used")])
    assert svg.startswith('<svg class="chart"') and 'role="img" aria-labelledby="c1-t c1-d"' in svg
    assert '<title id="c1-t">x86_64: vCPUs</title>' in svg
    assert '<desc id="c1-d">Latest sample: 10 used of 100.</desc>' in svg
    assert ">Time (UTC)</text>" in svg and ">vCPUs</text>" in svg
    assert re.search(
        r'<g class="chart-legend"><line class="chart-line chart-used"[^>]*/><text[^>]*>Used</text>', svg
    )


def test_points_are_placed_by_time_and_value():
    svg = _chart(range(11), [ChartLine("Used", [10 * h for h in range(11)], "used")])
    # The plot runs from x=64 to x=704 and from y=208 (0) up to y=12 (100, the top tick).
    assert re.search(r'points="64\.0,208\.0 128\.0,188\.4 [^"]* 704\.0,12\.0"', svg)


def test_missing_samples_break_the_line_and_a_lone_sample_is_a_dot():
    hours = (0, 1, 2, 5, 8, 9)
    svg = _chart(hours, [ChartLine("Used", [5] * 6, "used"), ChartLine("Capacity", [9] * 6, "capacity")])
    assert svg.count('<polyline class="chart-line chart-used"') == 2  # 0-2 and 8-9; 5 stands alone
    assert svg.count('<circle class="chart-dot chart-used" cx="384.0"') == 1
    assert svg.count('<polyline class="chart-line chart-capacity"') == 2


def test_every_text_is_escaped():
    svg = _chart(
        [0, 1],
        [ChartLine("<b>Used</b>", [1, 2], "used")],
        title='dc "1" <script>',
        chart_id='x"y',
    )
    assert "<script>" not in svg and "<b>" not in svg
    assert "dc &quot;1&quot; &lt;script&gt;" in svg and 'id="x&quot;y-t"' in svg
