"""Charts drawn on the server as inline SVG: nothing to download, nothing to run in the page.

Each function returns SVG markup sized by its viewBox (it scales with the page, from a phone
to a desk screen). Texts are escaped; colours come from the page's CSS classes, so the charts
follow the page's theme.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Bar:
    """One location of the network chart.

    Attributes:
        label: What to print under it (the location id).
        in_flight: Parcels whose last scan is there.
        at_risk: How many of those are at risk.
        capacity: What it processes in a day, or None.
    """

    label: str
    in_flight: int
    at_risk: int
    capacity: float | None


def network_bars(bars: Sequence[Bar], title: str, legend: tuple[str, str, str]) -> str:
    """Horizontal bars per location: in flight, at risk within it, and a capacity mark.

    Args:
        bars: The locations, in the order to draw them.
        title: The chart's accessible title.
        legend: Names of (in flight, at risk, daily capacity) in the page's language.
    """
    row_h, label_w, width = 18, 150, 640
    plot_w = width - label_w - 70
    height = 28 + row_h * max(len(bars), 1)
    top = max([max(b.in_flight, b.capacity or 0) for b in bars] + [1])
    scale = plot_w / top
    parts = [_svg_open(width, height, title)]
    parts.append(_legend(label_w, 12, legend))
    for i, bar in enumerate(bars):
        y = 24 + i * row_h
        parts.append(
            f'<text class="axis" x="{label_w - 6}" y="{y + 12}" text-anchor="end">'
            f"{escape(bar.label)}</text>"
        )
        parts.append(
            f'<rect class="bar-flight" x="{label_w}" y="{y + 2}" '
            f'width="{bar.in_flight * scale:.1f}" height="{row_h - 5}"/>'
        )
        parts.append(
            f'<rect class="bar-risk" x="{label_w}" y="{y + 2}" '
            f'width="{bar.at_risk * scale:.1f}" height="{row_h - 5}"/>'
        )
        if bar.capacity:
            x = label_w + bar.capacity * scale
            parts.append(
                f'<line class="capacity" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + row_h - 1}"/>'
            )
        parts.append(
            f'<text class="value" x="{label_w + bar.in_flight * scale + 4:.1f}" y="{y + 12}">'
            f"{bar.at_risk}/{bar.in_flight}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line(
    points: Sequence[tuple[dt.datetime, float]], title: str, label: str, fmt: str = "%m-%d"
) -> str:
    """A line over time (e.g. parcels at risk per pass), with the first and last time marked.

    Args:
        points: (time, value), in time order; times already in the reader's zone.
        title: The chart's accessible title.
        label: What the values are (printed at the top left).
        fmt: strftime format of the time labels.
    """
    width, height, left, bottom = 640, 160, 44, 22
    parts = [_svg_open(width, height, title)]
    parts.append(f'<text class="axis" x="{left}" y="12">{escape(label)}</text>')
    if len(points) < 2:
        parts.append(f'<text class="axis" x="{left}" y="80">-</text></svg>')
        return "".join(parts)
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    top = max(v for _, v in points) or 1.0
    plot_w, plot_h = width - left - 10, height - bottom - 20

    def xy(t: dt.datetime, v: float) -> str:
        x = left + (t.timestamp() - t0) / max(t1 - t0, 1) * plot_w
        return f"{x:.1f},{20 + plot_h - v / top * plot_h:.1f}"

    path = " ".join(xy(t, v) for t, v in points)
    parts.append(f'<polyline class="series" fill="none" points="{path}"/>')
    parts.append(
        f'<line class="grid" x1="{left}" x2="{width - 10}" y1="{20 + plot_h}" y2="{20 + plot_h}"/>'
    )
    parts.append(f'<text class="axis" x="{left - 4}" y="24" text-anchor="end">{top:g}</text>')
    parts.append(f'<text class="axis" x="{left - 4}" y="{20 + plot_h}" text-anchor="end">0</text>')
    for t, anchor, x in ((points[0][0], "start", left), (points[-1][0], "end", width - 10)):
        parts.append(
            f'<text class="axis" x="{x}" y="{height - 6}" text-anchor="{anchor}">'
            f"{escape(t.strftime(fmt))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Window:
    """A parcel's times on one axis (all in the reader's zone).

    Attributes:
        now: The watch's "now" (the latest pass).
        promised: The promise.
        p10: Earliest expected delivery (10% quantile), or None.
        p50: Median expected delivery, or None.
        p90: Latest expected delivery (90% quantile), or None.
        scans: Times of the scans so far.
    """

    now: dt.datetime | None
    promised: dt.datetime
    p10: dt.datetime | None
    p50: dt.datetime | None
    p90: dt.datetime | None
    scans: Sequence[dt.datetime]


def delivery_window(w: Window, title: str, names: dict[str, str], fmt: str = "%m-%d %H:%M") -> str:
    """The promise and the P10-P90 window on one time axis, P50 and now marked, scans as ticks.

    Args:
        w: The times.
        title: The chart's accessible title.
        names: Labels for "promised", "p50", "now" in the page's language.
        fmt: strftime format of the time labels.
    """
    width, height, left, right = 640, 128, 16, 16
    times = [t for t in (w.now, w.promised, w.p10, w.p50, w.p90, *w.scans) if t is not None]
    t0 = min(times).timestamp()
    t1 = max(times).timestamp()
    span = max(t1 - t0, 3600.0)
    t0, t1 = t0 - span * 0.04, t1 + span * 0.04
    plot_w = width - left - right

    def x(t: dt.datetime) -> float:
        return left + (t.timestamp() - t0) / (t1 - t0) * plot_w

    axis_y = 70
    parts = [_svg_open(width, height, title)]
    parts.append(
        f'<line class="grid" x1="{left}" x2="{width - right}" y1="{axis_y}" y2="{axis_y}"/>'
    )
    for scan in w.scans:
        parts.append(
            f'<line class="scan" x1="{x(scan):.1f}" x2="{x(scan):.1f}" '
            f'y1="{axis_y - 5}" y2="{axis_y + 5}"/>'
        )
    if w.p10 is not None and w.p90 is not None:
        parts.append(
            f'<rect class="window" data-role="window" x="{x(w.p10):.1f}" y="{axis_y - 14}" '
            f'width="{max(x(w.p90) - x(w.p10), 2):.1f}" height="28" rx="4"/>'
        )
        for t, y in ((w.p10, axis_y + 30), (w.p90, axis_y + 42)):
            parts.append(
                f'<text class="axis" x="{x(t):.1f}" y="{y}" text-anchor="{_anchor(x(t), width)}">'
                f"{escape(t.strftime(fmt))}</text>"
            )
    marks = [(w.promised, "promise", names["promised"], 14)]
    if w.p50 is not None:
        marks.append((w.p50, "p50", names["p50"], 30))
    if w.now is not None:
        marks.append((w.now, "now", names["now"], 46))
    for t, role, text, label_y in marks:
        parts.append(
            f'<line class="{role}" data-role="{role}" x1="{x(t):.1f}" x2="{x(t):.1f}" '
            f'y1="{label_y + 4}" y2="{axis_y + 16}"/>'
        )
        parts.append(
            f'<text class="{role}-label" x="{x(t):.1f}" y="{label_y}" '
            f'text-anchor="{_anchor(x(t), width)}">{escape(text)} {escape(t.strftime(fmt))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _anchor(x: float, width: int, margin: int = 90) -> str:
    """Keep a label inside the chart: anchored at its end near the right edge, and so on."""
    if x > width - margin:
        return "end"
    return "start" if x < margin else "middle"


def _svg_open(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'preserveAspectRatio="xMinYMin meet"><title>{escape(title)}</title>'
    )


def _legend(x: int, y: int, names: tuple[str, str, str]) -> str:
    flight, risk, capacity = (escape(n) for n in names)
    return (
        f'<rect class="bar-flight" x="{x}" y="{y - 9}" width="10" height="10"/>'
        f'<text class="axis" x="{x + 14}" y="{y}">{flight}</text>'
        f'<rect class="bar-risk" x="{x + 110}" y="{y - 9}" width="10" height="10"/>'
        f'<text class="axis" x="{x + 124}" y="{y}">{risk}</text>'
        f'<line class="capacity" x1="{x + 220}" x2="{x + 220}" y1="{y - 10}" y2="{y + 1}"/>'
        f'<text class="axis" x="{x + 226}" y="{y}">{capacity}</text>'
    )
