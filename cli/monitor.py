"""Monitoring from the command line: the report over a window, and the post-incident review.

Both read the watch's stores (STALLGUARD_STATE_URL, STALLGUARD_OUTBOX_URL) and the served
model (STALLGUARD_MODEL_URI) exactly as the service does (docs/monitoring.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import utc_time
from cli.render import console, fail, print_pairs, print_table
from cli.settings import load_settings
from cli.watch import served_watch

if TYPE_CHECKING:
    import pandas as pd

    from serving.model_source import ServedModel
    from serving.monitoring.view import Monitor

app = typer.Typer()
PANEL = "Monitor"

TimeOption = Annotated[
    dt.datetime | None,
    typer.Option(parser=utc_time, help="ISO 8601 time; without an offset, UTC."),
]


def _monitor() -> tuple[Monitor, ServedModel]:
    from serving.monitoring.view import Monitor

    model, state, outbox, locale = served_watch()
    if state.last_pass() is None:
        fail("the state store has no pass yet: run `stallguard replay` or `stallguard watch`")
    return Monitor(state, outbox, model.predictor, model.label, locale.timezone), model


@app.command("monitor", rich_help_panel=PANEL)
def monitor_command(
    since: TimeOption = None,
    until: TimeOption = None,
    out: Annotated[Path, typer.Option(help="Folder for report.html, its plots and JSON.")] = Path(
        "reports/monitoring"
    ),
    log: Annotated[bool, typer.Option(help="Log the report to MLflow.")] = True,
) -> None:
    """Live quality, label-free estimates, alert quality and drift over [--since, --until)."""
    import pandas as pd

    from serving.monitoring.report import monitoring_files

    if since is not None and until is not None and since >= until:
        fail(f"--since {since.isoformat()} must be before --until {until.isoformat()}")
    monitor, model = _monitor()
    bounds = [None if t is None else pd.Timestamp(t) for t in (since, until)]
    with console.status("joining predictions with outcomes"):
        m = monitor.summary(*bounds)
    if m.daily.empty:
        fail(f"no prediction was logged between {m.since.isoformat()} and {m.until.isoformat()}")
    print_table("Live quality by day (outcomes joined point in time)", _daily_view(m.daily))
    if len(m.alerts_total):
        alerts = m.alerts_total.assign(
            **{c: _text(m.alerts_total[c], "{:.0%}") for c in ("precision", "recall")},
            recall_12h=_text(m.alerts_total["recall_12h"], "{:.0%}"),
        )
        print_table("Alerts (settled parcels)", alerts)
    if len(m.drift_latest):
        drift = m.drift_latest[["family", "feature", "scope", "score", "level"]]
        print_table(
            "Drift (score: 1 is the threshold)", drift.assign(score=drift["score"].round(2))
        )
    files = monitoring_files(m, out)
    console.print(f"[green]Report[/] {files['report']}")
    if log:
        from serving.monitoring.tracking import log_monitoring

        run_id = log_monitoring(load_settings().tracking(), model.run_id, m, files)
        console.print(f"[green]Logged to MLflow[/] run {run_id}")
    for finding in m.findings:
        console.print(f"[bold red]{finding.message}[/]")
    if not m.findings:
        console.print("[green]No threshold crossed.[/]")


def _one(value: float, fmt: str) -> str:
    return "-" if value != value else fmt.format(value)


def _text(values: pd.Series, fmt: str) -> pd.Series:
    return values.map(lambda v: _one(v, fmt))


def _daily_view(daily: pd.DataFrame) -> pd.DataFrame:
    """The days as a terminal of 80 columns can show them."""
    import pandas as pd

    return pd.DataFrame(
        {
            "day": daily["day"].astype(str),
            "predictions": daily["predictions"].astype(int),
            "settled": _text(daily["settled"], "{:.0%}"),
            "late real/est": [
                f"{_one(a, '{:.0%}')}/{_one(b, '{:.0%}')}"
                for a, b in zip(daily["late_rate"], daily["estimated_late_rate"], strict=True)
            ],
            "AUC": _text(daily["roc_auc"], "{:.3f}"),
            "ECE": _text(daily["ece"], "{:.3f}"),
            "P10-P90": _text(daily["p10_p90_coverage"], "{:.0%}"),
        }
    )


@app.command("incident", rich_help_panel=PANEL)
def incident_command(
    start: Annotated[
        dt.datetime,
        typer.Option("--from", parser=utc_time, help="Start of the review (ISO 8601)."),
    ],
    end: Annotated[
        dt.datetime, typer.Option("--to", parser=utc_time, help="End of the review (ISO 8601).")
    ],
    region: Annotated[str | None, typer.Option(help="Only parcels bound for this region.")] = None,
    hub: Annotated[str | None, typer.Option(help="Only this hub or terminal.")] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="A simulated world's folder: adds its hidden causes (what happened)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for incident.md and incident.html.")] = Path(
        "reports/incident"
    ),
) -> None:
    """The post-incident review: what stalled, parcels hit, how early flagged, what was sent."""
    import pandas as pd

    from serving.monitoring.incident import review
    from serving.monitoring.report import incident_files, stalled_text

    causes = None
    if data is not None:
        from sources.synthetic import read_hidden_causes

        try:
            causes = read_hidden_causes(data)
        except FileNotFoundError:
            fail(f"{data} has no hidden causes (only simulated worlds have them)")
    monitor, model = _monitor()
    try:
        with console.status("reviewing the scans, predictions and alerts"):
            incident = review(
                monitor.store,
                monitor.outbox,
                model.predictor.threshold,
                pd.Timestamp(start),
                pd.Timestamp(end),
                monitor.timezone,
                region,
                hub,
                causes,
            )
    except ValueError as err:
        fail(err)
    console.print(stalled_text(incident))
    figures = {k: float("nan") if v is None else float(v) for k, v in incident.summary.items()}
    print_pairs("Affected parcels", figures, "figure", "value")
    files = incident_files(incident, out)
    console.print(f"[green]Review[/] {files['markdown']} and {files['html']}")
