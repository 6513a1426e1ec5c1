"""Monitoring reports logged to MLflow, next to the runs of the model they watch."""

from __future__ import annotations

import math
from pathlib import Path

from mlflow import MlflowClient

from serving.monitoring.summary import Monitoring
from training.config import TrackingConfig
from training.tracking import connect, experiment_id

FALLBACK_EXPERIMENT = "stallguard-monitoring"


def _headline(m: Monitoring) -> dict[str, float]:
    """The window's figures worth a metric: settled days' means and the latest estimate."""
    settled = m.daily[m.daily["settled"] >= 0.95]
    out: dict[str, float] = {"settled_days": float(len(settled)), "findings": len(m.findings)}
    for name in ("roc_auc", "ece", "brier", "eta_p50_mae_h", "p10_p90_coverage", "late_rate"):
        if len(settled):
            out[f"live_{name}"] = float(settled[name].mean())
    if len(settled):
        gap = (settled["late_rate"] - settled["estimated_late_rate"]).abs()
        out["estimate_late_rate_gap"] = float(gap.mean())
    if m.in_flight.estimated_late_rate is not None:
        out["in_flight_expected_late_rate"] = m.in_flight.estimated_late_rate
    if len(m.alerts_total):
        for name in ("precision", "recall", "recall_12h", "lead_h_median"):
            out[f"alert_{name}"] = float(m.alerts_total[name].iloc[0])
    for row in m.drift_latest.itertuples(index=False):
        out[f"drift_psi_{row.family}"] = float(row.psi)
    return {k: v for k, v in out.items() if not math.isnan(v)}


def log_monitoring(
    tracking: TrackingConfig, model_run_id: str | None, m: Monitoring, files: dict[str, Path]
) -> str:
    """Log the report as a run in the model's experiment; returns the run id.

    The run is tagged `stallguard.kind=monitoring` and with the model's run, so the
    model's page lists what was seen of it in service.
    """
    client: MlflowClient = connect(tracking)
    experiment = None
    if model_run_id is not None:
        experiment = client.get_run(model_run_id).info.experiment_id
    if experiment is None:
        experiment = experiment_id(client, tracking, FALLBACK_EXPERIMENT)
    tags = {"stallguard.kind": "monitoring", "stallguard.model_version": m.model_version}
    if model_run_id is not None:
        tags["stallguard.model_run_id"] = model_run_id
    run = client.create_run(
        experiment,
        run_name=f"monitor {m.since:%Y-%m-%d} to {m.until:%Y-%m-%d}",
        tags=tags,
    )
    run_id = str(run.info.run_id)
    params = {"since": m.since.isoformat(), "until": m.until.isoformat(), "model": m.model_version}
    for key, value in params.items():
        client.log_param(run_id, key, value)
    for key, value in _headline(m).items():
        client.log_metric(run_id, key, value)
    for path in files.values():
        client.log_artifact(run_id, str(path), "monitoring")
    client.set_terminated(run_id)
    return run_id
