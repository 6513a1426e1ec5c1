"""The monitoring summary, built once from the watch's records.

It is what `GET /monitoring`, `/metrics`, the ops page's monitoring tab and `stallguard
monitor` show.

Findings turn the figures into plain advice when a threshold is crossed (docs/monitoring.md
lists the thresholds and why): drift of a feature family or of the risks, parcels in flight
expected late far above what the model expected in training, and, on settled days, a
calibration error, an AUC drop or an ETA window that no longer covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from serving.alerts.store import AlertStore
from serving.monitoring import records
from serving.monitoring.drift import COLUMNS, drift_over_time, family_drift, feature_drift
from serving.monitoring.estimate import expected_brier, expected_late_rate, expected_roc_auc
from serving.monitoring.quality import alert_quality, live_metrics, parcel_outcomes, with_outcomes
from serving.watch.store import StateStore
from training.reference import RISK, Reference

DEFAULT_DAYS = 7.0  # GET /monitoring without `since`: the last week of passes
NOMINAL_COVERAGE = 0.8
HOUR = pd.Timedelta(hours=1)  # the P10-P90 window's promise


@dataclass(frozen=True)
class Thresholds:
    """When a figure becomes a finding.

    Attributes:
        drift_score: A family's (or the risks') drift score from which it has drifted
            (serving/monitoring/drift.py: 1 is the significance threshold).
        drift_hours: The latest drift of context features (hub load, weather) pools the
            passes of this many hours: they change within hours.
        psi_hours: ... and of parcel features, this many: a whole week, so that what
            varies with the hour and the weekday (parcels waiting over Sunday) evens out.
        expected_late_ratio: Parcels in flight expected late at this multiple of the
            reference's mean risk (and `expected_late_gap` above it) is a finding.
        expected_late_gap: See `expected_late_ratio`.
        ece: Calibration error of a settled day from which it is off.
        auc_drop: ROC-AUC of a settled day this far under the backtest's.
        coverage: P10-P90 coverage of a settled day under this.
        late_rate_gap: Realised minus estimated late rate of a settled day above this
            (the risks were too low: calibration in the large).
        settled: Share of a day's predictions with a known outcome for it to count as settled.
        days: Settled days in a row a quality finding needs.
        min_late: Late parcels a settled day needs for its figures to count (fewer: ROC-AUC
            and calibration error are noise).
    """

    drift_score: float = 1.0
    drift_hours: float = 6.0
    psi_hours: float = 168.0
    expected_late_ratio: float = 2.0
    expected_late_gap: float = 0.05
    ece: float = 0.05
    auc_drop: float = 0.05
    coverage: float = 0.7
    late_rate_gap: float = 0.05
    settled: float = 0.95
    days: int = 2
    min_late: int = 30


class Finding(BaseModel):
    """A threshold crossed, and what to do about it.

    `kind`: feature_drift, prediction_drift, expected_late, calibration, auc_drop, coverage
    or late_rate_gap; `subject`: the feature family or the figure it is about.
    """

    kind: str
    subject: str
    message: str
    since: str | None = None
    value: float | None = None


class InFlight(BaseModel):
    """The parcels in flight at the latest pass, and what their risks expect."""

    parcels: int
    at_risk: int
    share_at_risk: float | None
    estimated_late_rate: float | None
    estimated_roc_auc: float | None
    estimated_brier: float | None
    reference_late_rate: float | None
    risk_histogram: list[int]


class MonitoringOut(BaseModel):
    """What monitoring knows over a window of passes (`GET /monitoring`)."""

    as_of: str | None
    since: str
    until: str
    timezone: str
    model_version: str
    backtest: dict[str, float]
    in_flight: InFlight
    daily: list[dict[str, Any]]
    regions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    alert_regions: list[dict[str, Any]]
    alerts_total: dict[str, Any]
    drift_latest: list[dict[str, Any]]
    drift_features: list[dict[str, Any]]
    drift_daily: list[dict[str, Any]]
    passes: list[dict[str, Any]]
    findings: list[Finding]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-able dicts: NaN as None, times and days as ISO text."""
    out = []
    for row in frame.to_dict("records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif isinstance(value, pd.Timestamp | np.datetime64):
                value = pd.Timestamp(value).isoformat()
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            elif isinstance(value, np.generic):
                value = value.item()
            clean[str(key)] = value
        out.append(clean)
    return out


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass
class Monitoring:
    """The figures behind every monitoring view, as frames (see `summarize`)."""

    as_of: pd.Timestamp | None
    since: pd.Timestamp
    until: pd.Timestamp
    timezone: str
    model_version: str
    backtest: dict[str, float]
    in_flight: InFlight
    daily: pd.DataFrame
    regions: pd.DataFrame
    alerts: pd.DataFrame
    alert_regions: pd.DataFrame
    alerts_total: pd.DataFrame
    drift_latest: pd.DataFrame
    drift_features: pd.DataFrame
    drift_daily: pd.DataFrame
    passes: pd.DataFrame
    findings: list[Finding]
    calibration: pd.DataFrame

    def out(self) -> MonitoringOut:
        """The JSON form."""
        total = _records(self.alerts_total)
        return MonitoringOut(
            as_of=None if self.as_of is None else self.as_of.isoformat(),
            since=self.since.isoformat(),
            until=self.until.isoformat(),
            timezone=self.timezone,
            model_version=self.model_version,
            backtest=self.backtest,
            in_flight=self.in_flight,
            daily=_records(self.daily),
            regions=_records(self.regions),
            alerts=_records(self.alerts),
            alert_regions=_records(self.alert_regions),
            alerts_total=total[0] if total else {},
            drift_latest=_records(self.drift_latest),
            drift_features=_records(self.drift_features),
            drift_daily=_records(self.drift_daily),
            passes=_records(self.passes[["as_of", "scored", "at_risk", "alerts"]]),
            findings=self.findings,
        )


def _in_flight(log: pd.DataFrame, threshold: float, reference: Reference | None) -> InFlight:
    """The parcels scored by the window's latest pass, from the log."""
    latest = log[log["as_of"] == log["as_of"].max()] if len(log) else log
    risk = latest["risk"].to_numpy(dtype=float)
    histogram = np.histogram(risk, bins=10, range=(0.0, 1.0))[0]
    at_risk = int((risk >= threshold).sum())
    return InFlight(
        parcels=len(latest),
        at_risk=at_risk,
        share_at_risk=at_risk / len(latest) if len(latest) else None,
        estimated_late_rate=_number(expected_late_rate(risk)),
        estimated_roc_auc=_number(expected_roc_auc(risk)),
        estimated_brier=_number(expected_brier(risk)),
        reference_late_rate=None if reference is None else reference.risk_mean,
        risk_histogram=[int(c) for c in histogram],
    )


def summarize(
    store: StateStore,
    outbox: AlertStore,
    reference: Reference | None,
    threshold: float,
    model_version: str,
    backtest: dict[str, float],
    timezone: str,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    thresholds: Thresholds | None = None,
) -> Monitoring:
    """Every monitoring figure over the passes in [since, until).

    Args:
        store: The watch's state store.
        outbox: The alert outbox (alert precision, recall and lead time).
        reference: The served model's drift reference (None: no drift figures).
        threshold: The served model's at-risk threshold.
        model_version: The served model.
        backtest: The model's backtest figures (risk_roc_auc, risk_ece, ...).
        timezone: The network's zone: days are its local days.
        since: First pass time; default `DEFAULT_DAYS` before the latest pass.
        until: End (exclusive); default just after the latest pass.
        thresholds: When figures become findings.
    """
    thresholds = thresholds or Thresholds()
    as_of = records.latest_time(store)
    now = as_of if as_of is not None else pd.Timestamp.now(tz="UTC")
    until = until if until is not None else now + pd.Timedelta(seconds=1)
    since = since if since is not None else until - pd.Timedelta(days=DEFAULT_DAYS)
    outcomes_at = min(now, until) if as_of is not None else now
    log = with_outcomes(records.logged_predictions(store, since, until), outcomes_at, timezone)
    daily = live_metrics(log, ["day"])
    regions = live_metrics(log, ["day", "dest_region"])
    alerts = records.sent_alerts(outbox, set(log["shipment_id"]))
    parcels = parcel_outcomes(log, alerts)
    alert_days = alert_quality(parcels, ["promise_day"])
    alerts_total = alert_quality(parcels.assign(all="all"), ["all"]).drop(columns="all")
    counts = records.pass_counts(store, since, until)
    if reference is not None and counts:
        features = latest_drift(reference, counts, thresholds)
        drift_latest = family_drift(features)
        drift_daily = drift_over_time(reference, counts, "1D", timezone)
    else:
        features = pd.DataFrame(columns=COLUMNS)
        drift_latest = family_drift(features)
        drift_daily = pd.DataFrame(columns=["period", *drift_latest.columns])
    in_flight = _in_flight(log, threshold, reference)
    monitoring = Monitoring(
        as_of=as_of,
        since=since,
        until=until,
        timezone=timezone,
        model_version=model_version,
        backtest=backtest,
        in_flight=in_flight,
        daily=daily,
        regions=regions,
        alerts=alert_days,
        alert_regions=alert_quality(parcels, ["dest_region"]),
        alerts_total=alerts_total,
        drift_latest=drift_latest,
        drift_features=features,
        drift_daily=drift_daily,
        passes=records.passes(store, since, until),
        findings=[],
        calibration=calibration_table(log[log["known"]]),
    )
    monitoring.findings = findings(monitoring, thresholds)
    return monitoring


def latest_drift(
    reference: Reference, counts: list[records.PassCounts], thresholds: Thresholds
) -> pd.DataFrame:
    """Feature drift as of the latest pass.

    Context features over the last `drift_hours`, the others over the last `psi_hours`.
    """
    last = counts[-1][0]

    def since(hours: float) -> list[records.PassCounts]:
        return [c for c in counts if c[0] > last - pd.Timedelta(hours=hours)]

    short = feature_drift(reference, since(thresholds.drift_hours))
    long = feature_drift(reference, since(thresholds.psi_hours))
    both = pd.concat([short[short["scope"] == "context"], long[long["scope"] != "context"]])
    return both.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def calibration_table(settled: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Settled predictions in equal risk bins: mean risk, observed late rate, count."""
    which = np.clip((settled["risk"].to_numpy(dtype=float) * bins).astype(int), 0, bins - 1)
    frame = settled.assign(bin=which).groupby("bin")
    return pd.DataFrame(
        {
            "risk": frame["risk"].mean(),
            "observed": frame["late"].mean(),
            "predictions": frame.size(),
        }
    ).reset_index(drop=True)


def findings(m: Monitoring, t: Thresholds) -> list[Finding]:
    """The thresholds `m` crosses, each with what to do, most urgent first."""
    out: list[Finding] = []
    last_pass = None if m.passes.empty else m.passes["as_of"].iloc[-1]
    for row in m.drift_latest.itertuples(index=False):
        if row.score >= t.drift_score:
            what = "the risks" if row.feature == RISK else f"{row.family} ({row.feature})"
            hours = t.drift_hours if row.scope == "context" else t.psi_hours
            figure = (
                f"{row.outside:.0%} of values far beyond the training range"
                if row.scope == "context"
                else f"PSI {row.psi:.2f}"
            )
            out.append(
                Finding(
                    kind="prediction_drift" if row.feature == RISK else "feature_drift",
                    subject=str(row.family),
                    message=f"drift: {what}, {figure} over the last {_span(hours)}; "
                    "check the network and the data feed",
                    since=None if last_pass is None else (last_pass - hours * HOUR).isoformat(),
                    value=float(row.score),
                )
            )
    flying = m.in_flight
    expected, reference = flying.estimated_late_rate, flying.reference_late_rate
    if (
        expected is not None
        and reference is not None
        and expected >= t.expected_late_ratio * reference
        and expected - reference >= t.expected_late_gap
    ):
        out.append(
            Finding(
                kind="expected_late",
                subject="estimated_late_rate",
                message=f"parcels in flight: {expected:.0%} expected late against "
                f"{reference:.0%} in training; ops: see the at-risk list",
                since=None if m.as_of is None else m.as_of.isoformat(),
                value=expected,
            )
        )
    out.extend(_quality_findings(m, t))
    return out


def _span(hours: float) -> str:
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} h"


def _quality_findings(m: Monitoring, t: Thresholds) -> list[Finding]:
    """Findings on the latest settled days in a row."""
    settled = m.daily[(m.daily["settled"] >= t.settled) & (m.daily["late_parcels"] >= t.min_late)]
    settled = settled.sort_values("day")
    if settled.empty:
        return []
    out = []
    auc_floor = m.backtest.get("risk_roc_auc", float("nan")) - t.auc_drop
    checks = (
        ("calibration", "ece", lambda v: v > t.ece, "retrain: calibration error {v:.2f}"),
        ("auc_drop", "roc_auc", lambda v: v < auc_floor, "retrain: ROC-AUC {v:.2f}"),
        (
            "coverage",
            "p10_p90_coverage",
            lambda v: v < t.coverage,
            "recalibrate: P10-P90 coverage {v:.0%} (promised 80%)",
        ),
        (
            "late_rate_gap",
            "late_gap",
            lambda v: v > t.late_rate_gap,
            "retrain: {v:.0%} more parcels late than the risks expected",
        ),
    )
    frame = settled.assign(late_gap=settled["late_rate"] - settled["estimated_late_rate"])
    for kind, column, crossed, text in checks:
        values = frame[column].to_numpy(dtype=float)
        run = 0
        for v in values[::-1]:  # the latest days, in a row
            if math.isnan(v) or not crossed(v):
                break
            run += 1
        if run >= t.days:
            recent = values[-run:]
            first = frame["day"].iloc[-run]
            out.append(
                Finding(
                    kind=kind,
                    subject=column,
                    message=text.format(v=float(np.mean(recent))) + f" over {run} days",
                    since=first.isoformat(),
                    value=float(np.mean(recent)),
                )
            )
    return out
