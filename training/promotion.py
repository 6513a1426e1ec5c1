"""The promotion gate: `champion` moves only to a challenger at least as good on the same window."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient

from training.config import CHALLENGER, CHAMPION, GateConfig, TrackingConfig
from training.evaluation import Window, evaluate_window
from training.sources import load_data
from training.tracking import (
    connect,
    dumps,
    experiment_id,
    load_backtest,
    run_record,
    version_of,
)

GATE_METRICS = ("risk_roc_auc", "risk_ece", "eta_p50_mae_h", "eta_p10_p90_coverage")
PROMOTIONS_EXPERIMENT = "stallguard-promotions"


@dataclass(frozen=True)
class Check:
    """One check of a promotion decision.

    Attributes:
        passed: Whether it passed.
        text: What was checked, with the values (e.g. "risk_roc_auc 0.87 >= floor 0.7").
    """

    passed: bool
    text: str

    def __str__(self) -> str:
        return f"{'pass' if self.passed else 'FAIL'}: {self.text}"


@dataclass
class Decision:
    """What `promote` decided and why.

    Attributes:
        promoted: Whether `champion` now points at `version`.
        version: The candidate version.
        previous: The champion version before the decision (None: there was none).
        checks: One per check, passed or failed.
        compared_on: "logged metrics" (same window and data) or "re-evaluation".
        metrics: Candidate (and champion) gate metrics used.
    """

    promoted: bool
    version: str
    previous: str | None
    checks: list[Check] = field(default_factory=list)
    compared_on: str = ""
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        """The checks as lines, as recorded with the version and the decision run."""
        return [str(c) for c in self.checks]


def promote(
    tracking: TrackingConfig,
    gate: GateConfig | None = None,
    version: str | None = None,
    data: Path | None = None,
) -> Decision:
    """Gate the challenger (or move champion to `version`: a manual promotion or rollback).

    Args:
        tracking: MLflow store and registry name.
        gate: Tolerances and first-champion floors.
        version: Move `champion` to this version without the gate (rollback); None: gate the
            current challenger.
        data: Tables directory to re-evaluate on when the two runs used different data or
            windows (default: the challenger's own data directory).

    Raises:
        ValueError: No such version, or no challenger to gate.
    """
    gate = gate or GateConfig()
    client = connect(tracking)
    name = tracking.registered_model
    champion = version_of(client, name, CHAMPION)
    previous = str(champion.version) if champion else None
    if version is not None:
        try:
            client.get_model_version(name, version)
        except mlflow.exceptions.MlflowException as err:
            raise ValueError(f"{name} has no version {version!r}") from err
        manual = Check(True, f"manual: champion set to v{version} without the gate")
        decision = Decision(True, str(version), previous, [manual])
        decision.compared_on = "manual"
        return _apply(client, tracking, decision)
    challenger = version_of(client, name, CHALLENGER)
    if challenger is None:
        raise ValueError(f"{name} has no {CHALLENGER!r} version: train a model first")
    decision = Decision(False, str(challenger.version), previous)
    if champion is not None and champion.version == challenger.version:
        decision.promoted = True
        decision.checks.append(Check(True, f"v{challenger.version} is already the champion"))
        return decision
    cand_params, cand_metrics = run_record(client, str(challenger.run_id))
    if champion is None:
        decision.compared_on = "absolute floors"
        decision.metrics = {"challenger": _gate_values(cand_metrics)}
        decision.checks = _floors(cand_metrics, gate)
    else:
        champ_params, champ_metrics = run_record(client, str(champion.run_id))
        if _same_window(cand_params, champ_params):
            decision.compared_on = "logged metrics (same data and window)"
        else:
            decision.compared_on = "re-evaluation on the challenger's window"
            cand_metrics, champ_metrics = _reevaluate(
                tracking, cand_params, [str(challenger.version), str(champion.version)], data
            )
        decision.metrics = {
            "challenger": _gate_values(cand_metrics),
            "champion": _gate_values(champ_metrics),
        }
        decision.checks = _compare(cand_metrics, champ_metrics, gate)
    decision.promoted = all(c.passed for c in decision.checks)
    return _apply(client, tracking, decision)


def _gate_values(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(metrics.get(k, float("nan"))) for k in GATE_METRICS}


def _floors(m: dict[str, float], gate: GateConfig) -> list[Check]:
    nan = float("nan")
    auc, ece = m.get("risk_roc_auc", nan), m.get("risk_ece", nan)
    coverage, mae = m.get("eta_p10_p90_coverage", nan), m.get("eta_p50_mae_h", nan)
    promise = m.get("baseline_promise_eta_mae_h", nan)
    target, gap = gate.coverage_target, gate.max_coverage_gap
    return [
        _check(auc >= gate.min_auc, f"risk_roc_auc {auc:.4f} >= floor {gate.min_auc}"),
        _check(ece <= gate.max_ece, f"risk_ece {ece:.4f} <= ceiling {gate.max_ece}"),
        _check(abs(coverage - target) <= gap, f"coverage {coverage:.3f} within {target} +/- {gap}"),
        _check(mae < promise, f"eta_p50_mae_h {mae:.2f} below the promise's {promise:.2f}"),
    ]


def _compare(new: dict[str, float], old: dict[str, float], gate: GateConfig) -> list[Check]:
    target = gate.coverage_target

    def versus(metric: str, tolerance: str) -> str:
        return f"{metric} {new[metric]:.4f} vs champion {old[metric]:.4f} (tolerance {tolerance})"

    coverage = "eta_p10_p90_coverage"
    return [
        _check(
            new["risk_roc_auc"] >= old["risk_roc_auc"] - gate.auc_tolerance,
            versus("risk_roc_auc", f"-{gate.auc_tolerance}"),
        ),
        _check(
            new["risk_ece"] <= old["risk_ece"] + gate.ece_tolerance,
            versus("risk_ece", f"+{gate.ece_tolerance}"),
        ),
        _check(
            new["eta_p50_mae_h"] <= old["eta_p50_mae_h"] * (1 + gate.mae_tolerance),
            versus("eta_p50_mae_h", f"+{gate.mae_tolerance:.0%}"),
        ),
        _check(
            abs(new[coverage] - target) <= abs(old[coverage] - target) + gate.coverage_tolerance,
            versus(coverage, f"distance to {target} +{gate.coverage_tolerance}"),
        ),
    ]


def _check(ok: bool, text: str) -> Check:
    return Check(bool(ok), text)


def _same_window(a: dict[str, str], b: dict[str, str]) -> bool:
    keys = ("data_fingerprint", "window_evaluate_from", "window_now")
    return all(a.get(k) is not None and a.get(k) == b.get(k) for k in keys)


def _reevaluate(
    tracking: TrackingConfig, params: dict[str, str], versions: list[str], data: Path | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Both models' backtests scored on the challenger's evaluation window.

    A refitted model has learned from its own data's latest months, which may be this
    window: its backtest model (logged with the run) has not, so that is what is compared.
    """
    source = params.get("source", "synthetic")
    directory = data or Path(params["data_dir"])
    loaded = load_data(source, directory)
    window = Window.from_params(params)
    results = []
    for version in versions:
        predictor = load_backtest(tracking, version)
        results.append(evaluate_window(predictor, loaded, window).metrics)
    return results[0], results[1]


def _apply(client: MlflowClient, tracking: TrackingConfig, decision: Decision) -> Decision:
    """Move the alias if promoted, and record the decision on the version and in MLflow."""
    name = tracking.registered_model
    if decision.promoted:
        client.set_registered_model_alias(name, CHAMPION, decision.version)
        challenger = version_of(client, name, CHALLENGER)
        if challenger is not None and str(challenger.version) == decision.version:
            # A version is champion or challenger, never both: the next run is the challenger.
            client.delete_registered_model_alias(name, CHALLENGER)
    stamp = pd.Timestamp.now(tz="UTC").isoformat()
    verdict = "promoted" if decision.promoted else "refused"
    client.set_model_version_tag(name, decision.version, "promotion", f"{verdict} {stamp}")
    client.set_model_version_tag(
        name, decision.version, "promotion_reasons", dumps(decision.reasons)
    )
    experiment = experiment_id(client, tracking, PROMOTIONS_EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment, run_name=f"{verdict} v{decision.version}"):
        mlflow.set_tags({"verdict": verdict, "version": decision.version})
        mlflow.log_params(
            {
                "version": decision.version,
                "previous_champion": decision.previous or "none",
                "compared_on": decision.compared_on,
            }
        )
        mlflow.log_dict(
            {
                "promoted": decision.promoted,
                "version": decision.version,
                "previous_champion": decision.previous,
                "compared_on": decision.compared_on,
                "reasons": decision.reasons,
                "metrics": decision.metrics,
            },
            "decision.json",
        )
    return decision
