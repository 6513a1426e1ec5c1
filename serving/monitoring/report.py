"""The monitoring report and the incident review as files: HTML (plots inline) and Markdown.

Plots are matplotlib figures written as PNG and embedded in the HTML as data URIs, so a
report is one file that opens anywhere (and is logged to MLflow as it is).
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: reports are written to files
import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.figure import Figure

from serving.monitoring.incident import Incident
from serving.monitoring.summary import NOMINAL_COVERAGE, Monitoring

_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def quality_figure(m: Monitoring) -> Figure:
    """Live against estimated and backtest figures per day (four panels)."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    days = pd.to_datetime(m.daily["day"]) if len(m.daily) else pd.Series([], dtype="datetime64[ns]")
    panels = (
        ("roc_auc", "estimated_roc_auc", "risk_roc_auc", "ROC-AUC", None),
        ("ece", None, "risk_ece", "calibration error (ECE)", 0.05),
        ("late_rate", "estimated_late_rate", "eval_late_rate", "late rate", None),
        ("p10_p90_coverage", None, "eta_p10_p90_coverage", "P10-P90 coverage", NOMINAL_COVERAGE),
    )
    for ax, (live, estimate, backtest, title, line) in zip(axes.flat, panels, strict=True):
        ax.plot(days, m.daily[live], marker="o", label="live (outcomes)")
        if estimate is not None:
            ax.plot(days, m.daily[estimate], marker="x", ls="--", label="estimated (label-free)")
        if backtest in m.backtest:
            ax.axhline(m.backtest[backtest], color="grey", ls=":", label="backtest")
        if line is not None:
            ax.axhline(line, color="red", lw=0.8, label="threshold" if live == "ece" else "nominal")
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def drift_figure(m: Monitoring) -> Figure:
    """Each family's drift score per day, with the significance line."""
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for family, g in m.drift_daily.groupby("family"):
        ax.plot(pd.to_datetime(g["period"].astype(str)), g["score"], marker=".", label=str(family))
    ax.axhline(1.0, color="red", lw=0.8)
    ax.set_ylabel("drift score (1: threshold)")
    ax.set_title("drift by feature family (clock features left out)")
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    return fig


def calibration_figure(m: Monitoring) -> Figure:
    """Observed late rate against mean risk over the settled predictions."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", ls=":")
    c = m.calibration
    ax.plot(c["risk"], c["observed"], marker="o")
    ax.set_xlabel("mean risk")
    ax.set_ylabel("observed late rate")
    ax.set_title("calibration (settled predictions)")
    fig.tight_layout()
    return fig


def monitoring_files(m: Monitoring, out: Path) -> dict[str, Path]:
    """Write the report (report.html), its plots (PNG) and its figures (monitoring.json)."""
    out.mkdir(parents=True, exist_ok=True)
    images = {
        "quality": _png(quality_figure(m)),
        "drift": _png(drift_figure(m)),
        "calibration": _png(calibration_figure(m)),
    }
    paths = {}
    for name, data in images.items():
        paths[name] = out / f"{name}.png"
        paths[name].write_bytes(data)
    html = _env.get_template("monitor.html").render(
        m=m.out(),
        images={k: base64.b64encode(v).decode() for k, v in images.items()},
        fmt=_fmt,
    )
    paths["report"] = out / "report.html"
    paths["report"].write_text(html, encoding="utf-8")
    paths["json"] = out / "monitoring.json"
    paths["json"].write_text(m.out().model_dump_json(indent=1), encoding="utf-8")
    return paths


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    """A Markdown table of `columns`."""
    if frame.empty:
        return "_none_\n"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join(
        "| " + " | ".join(_fmt(row[c]) for c in columns) + " |\n" for _, row in frame.iterrows()
    )
    return head + body


PLACE_COLUMNS = [
    "location_id",
    "arrivals",
    "usual_arrivals_per_day",
    "dwell_p90_h",
    "usual_dwell_p90_h",
    "stuck",
    "stuck_share",
    "usual_stuck_share",
    "stalled",
]
REGION_COLUMNS = ["dest_region", "parcels", "late_rate", "usual_late_rate", "jumped"]


def stalled_text(i: Incident) -> str:
    """One sentence: the places that stalled and the regions whose late rate jumped."""
    jumped = i.regions.loc[i.regions["jumped"], "dest_region"].astype(str).tolist()
    places = f"Stalled: {', '.join(i.stalled)}." if i.stalled else "No place stalled by the rules."
    return places + (f" Regions whose late rate jumped: {', '.join(jumped)}." if jumped else "")


def incident_markdown(i: Incident) -> str:
    """The review as Markdown."""
    s = i.summary
    local = lambda t: t.tz_convert(i.timezone).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    scope = ", ".join(f"{k} {v}" for k, v in (("region", i.region), ("hub", i.hub)) if v)
    lines = [
        f"# Incident review {local(i.start)} - {local(i.end)} ({i.timezone})",
        "",
        f"Scope: {scope or 'the whole network'}.",
        "",
        "## What stalled",
        "",
        stalled_text(i),
        "",
        _table(i.places.head(12), PLACE_COLUMNS),
        "## Parcels affected",
        "",
        f"- stuck at a stalled place: **{s['parcels']}** (late so far: {s['late']})",
        f"- flagged at risk: {s['flagged']}, before their promise: {s['flagged_before_promise']}"
        f" (median {_fmt(s['lead_h_median'], 1)} h before it; median "
        f"{_fmt(s['flagged_after_arrival_h_median'], 1)} h after arriving where they got stuck)",
        f"- customers alerted: {s['alerted']}, precision {_fmt(s['alert_precision'])}; "
        f"back-on-track messages: {s['back_on_track']}",
        "",
        "## Regions",
        "",
        _table(i.regions, REGION_COLUMNS),
        "## Reasons the model gave (at the first flag)",
        "",
        _table(i.reasons, ["reason", "text", "parcels"]),
    ]
    if not i.causes.empty:
        lines += [
            "## Against what happened (the simulator's hidden causes)",
            "",
            f"Top-2 reasons naming a hidden cause: {_fmt(s.get('reason_agreement'))}",
            "",
            _table(i.causes, ["cause", "flag_reason", "parcels"]),
        ]
    return "\n".join(lines) + "\n"


def incident_files(i: Incident, out: Path) -> dict[str, Path]:
    """Write incident.md and incident.html (and the affected parcels as CSV)."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = incident_markdown(i)
    paths = {"markdown": out / "incident.md", "html": out / "incident.html"}
    paths["markdown"].write_text(markdown, encoding="utf-8")
    html = _env.get_template("incident.html").render(i=i, fmt=_fmt, places=PLACE_COLUMNS)
    paths["html"].write_text(html, encoding="utf-8")
    paths["parcels"] = out / "affected.csv"
    columns = ["shipment_id", "stuck_at", "arrived_at", "hours", "promised_at", "flagged_at"]
    i.affected[[*columns, "lead_h", "alerted_at", "late"]].to_csv(paths["parcels"], index=False)
    return paths
