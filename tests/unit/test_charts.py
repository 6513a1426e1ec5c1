"""Server-side SVG charts: well-formed, scaled to their data, texts escaped."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from serving.pages import charts

pytestmark = pytest.mark.unit

NS = {"s": "http://www.w3.org/2000/svg"}
T0 = dt.datetime(2025, 12, 14, 9, tzinfo=dt.UTC)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_bars_scale_to_the_largest_of_load_and_capacity():
    bars = [charts.Bar("HUB-A", 100, 40, 200.0), charts.Bar("T<&>", 50, 0, None)]
    root = parse(charts.network_bars(bars, "net", ("in flight", "at risk", "capacity")))
    widths = [float(r.get("width")) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    flight, risk = widths[2], widths[3]  # after the legend's two swatches
    assert risk == pytest.approx(flight * 0.4)
    capacity = [el for el in root.iter("{http://www.w3.org/2000/svg}line")][1]
    assert float(capacity.get("x1")) - 150 == pytest.approx(flight * 2, rel=1e-3)
    texts = [el.text for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "T<&>" in texts  # escaped in the markup, intact once parsed


def test_line_places_the_highest_point_at_the_top():
    points = [(T0 + dt.timedelta(hours=h), float(v)) for h, v in enumerate([3, 9, 1])]
    root = parse(charts.line(points, "trend", "at risk"))
    poly = root.find("s:polyline", NS)
    assert poly is not None
    ys = [float(p.split(",")[1]) for p in poly.get("points").split()]
    assert ys[1] == min(ys) and ys[2] == max(ys)
    assert "-" in charts.line(points[:1], "trend", "at risk")  # one point: no line


def test_window_puts_the_band_between_p10_and_p90_and_marks_p50():
    w = charts.Window(
        now=T0,
        promised=T0 + dt.timedelta(hours=20),
        p10=T0 + dt.timedelta(hours=18),
        p50=T0 + dt.timedelta(hours=30),
        p90=T0 + dt.timedelta(hours=50),
        scans=[T0 - dt.timedelta(hours=h) for h in (30, 12, 2)],
    )
    root = parse(charts.delivery_window(w, "w", {"promised": "P", "p50": "M", "now": "N"}))
    band = root.find("s:rect[@data-role='window']", NS)
    p50 = root.find("s:line[@data-role='p50']", NS)
    promise = root.find("s:line[@data-role='promise']", NS)
    assert band is not None and p50 is not None and promise is not None
    left, width = float(band.get("x")), float(band.get("width"))
    assert left < float(p50.get("x1")) < left + width
    assert float(promise.get("x1")) < float(p50.get("x1"))  # expected after the promise
    assert len(root.findall("s:line[@class='scan']", NS)) == 3
