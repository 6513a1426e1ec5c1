"""Evaluate a predictor on the latest period: metrics, baselines, slices, reason agreement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalog import FEATURES
from training.baselines import lane_median_eta_h, promise_eta_h
from training.dataset import TimeSplit, labels, time_split
from training.metrics import (
    alert_range_ece,
    early_warning,
    eta_metrics,
    risk_metrics,
    slice_table,
)
from training.models import EtaModel
from training.predictor import STAGE_FEATURE, Predictor
from training.reasons import agreement
from training.recalibration import rolling
from training.sources import TrainingData

HOUR = pd.Timedelta(hours=1)
SLICES = ["region_group", "service_level", "stage"]
MAX_REASON_ROWS = 5_000  # pred_contrib (TreeSHAP) is slow; a sample measures agreement well


@dataclass(frozen=True)
class Window:
    """The time window of a run: train before `calibrate_from`, evaluate from `evaluate_from`."""

    start: pd.Timestamp
    calibrate_from: pd.Timestamp
    evaluate_from: pd.Timestamp
    now: pd.Timestamp

    def as_params(self) -> dict[str, str]:
        """ISO strings for MLflow params."""
        return {
            "window_start": self.start.isoformat(),
            "window_calibrate_from": self.calibrate_from.isoformat(),
            "window_evaluate_from": self.evaluate_from.isoformat(),
            "window_now": self.now.isoformat(),
        }

    @classmethod
    def from_params(cls, params: dict[str, str]) -> Window:
        """Read back `as_params`."""
        return cls(
            *(
                pd.Timestamp(params[f"window_{k}"])
                for k in ("start", "calibrate_from", "evaluate_from", "now")
            )
        )

    def split(self, snapshots: pd.DataFrame, shipments: pd.DataFrame) -> TimeSplit:
        """The purged time split of these boundaries."""
        return time_split(snapshots, shipments, self.calibrate_from, self.evaluate_from, self.now)


@dataclass
class Evaluation:
    """What a model scored on the evaluation fold.

    Attributes:
        metrics: Headline metrics (docs/model.md, "Metrics").
        slices: Metrics by region group, service level and snapshot stage.
        frame: One row per evaluation snapshot with labels and predictions (for plots).
    """

    metrics: dict[str, float]
    slices: pd.DataFrame
    frame: pd.DataFrame


def evaluate(
    predictor: Predictor,
    data: TrainingData,
    snapshots: pd.DataFrame,
    x: pd.DataFrame,
    lane_fit_on: pd.DataFrame,
    history: pd.DataFrame | None = None,
    recalibration_days: float = 0.0,
) -> Evaluation:
    """Score evaluation snapshots and compare with the baselines.

    With `history` and `recalibration_days`, the headline risk and ETA metrics are those of
    the model as served with a daily rolling recalibration (each day refitted on outcomes
    known at its start); the `*_static` metrics keep the training-time calibration. The
    bundled recalibration is never used here: it was fitted on the evaluation outcomes.

    Args:
        predictor: Model to evaluate.
        data: The data (shipments for labels and baselines; hidden causes if any).
        snapshots: Evaluation snapshots (shipment_id, as_of, stage).
        x: Their features, in the same order.
        lane_fit_on: Shipments the lane-median baseline learns from (the train fold's).
        history: Scored snapshots to refit on (`refit.history_frame`), from the
            `recalibration_days` before the evaluation fold through its end.
        recalibration_days: Trailing window of the rolling refit (0: no refit).
    """
    ships = data.tables.shipments
    snapshots = snapshots.reset_index(drop=True)
    x = x.reset_index(drop=True)
    lab = labels(snapshots, ships, data.now)
    raw = predictor.risk.raw(x)
    bands = predictor.eta.bands(x)
    groups = x[STAGE_FEATURE].astype("str").to_numpy()
    static_risk = predictor.risk.calibrate(raw)
    static_margin = predictor.eta.margin_of(groups)
    risk, margin = static_risk, static_margin
    if history is not None and recalibration_days > 0:
        targets = pd.DataFrame({"as_of": snapshots["as_of"], "raw": raw, "group": groups})
        rolled_risk, rolled_margin = rolling(
            history, targets, predictor.model_key, recalibration_days, predictor.eta.coverage
        )
        risk = np.where(np.isnan(rolled_risk), static_risk, rolled_risk)
        margin = np.where(np.isnan(rolled_margin), static_margin, rolled_margin)
    hours = EtaModel.widen(*bands, margin)
    frame = pd.DataFrame(
        {
            "shipment_id": snapshots["shipment_id"].to_numpy(),
            "as_of": snapshots["as_of"].to_numpy(),
            "stage": snapshots["stage"].astype("str").to_numpy(),
            "late": lab["late"].to_numpy(),
            "remaining_h": lab["remaining_h"].to_numpy(),
            "risk": risk,
            "eta_p10_h": hours[:, 0],
            "eta_p50_h": hours[:, 1],
            "eta_p90_h": hours[:, 2],
            "hours_to_promise": x["prog_hours_to_promise"].to_numpy(dtype=float),
            "region_group": region_group(x),
            "service_level": x["route_service_level"].astype("str").to_numpy(),
        }
    )
    frame["baseline_promise_h"] = promise_eta_h(snapshots, ships)
    frame["baseline_median_h"] = lane_median_eta_h(snapshots, ships, lane_fit_on, by_lane=False)
    frame["baseline_lane_h"] = lane_median_eta_h(snapshots, ships, lane_fit_on)
    has_eta = frame["remaining_h"].notna().to_numpy()
    truth = frame.loc[has_eta, "remaining_h"].to_numpy()
    late = frame["late"].to_numpy()
    static_hours = EtaModel.widen(*bands, static_margin)
    static_eta = eta_metrics(truth, static_hours[has_eta])
    metrics = {
        **risk_metrics(late, risk),
        **eta_metrics(truth, hours[has_eta]),
        **early_warning(
            frame["shipment_id"].to_numpy(),
            late,
            frame["hours_to_promise"].to_numpy(),
            risk,
            predictor.threshold,
        ),
        "risk_ece_alert_range": alert_range_ece(late.astype(float), risk, predictor.threshold),
        "baseline_promise_eta_mae_h": _mae(frame["baseline_promise_h"].to_numpy()[has_eta], truth),
        "baseline_median_eta_mae_h": _mae(frame["baseline_median_h"].to_numpy()[has_eta], truth),
        "baseline_lane_eta_mae_h": _mae(frame["baseline_lane_h"].to_numpy()[has_eta], truth),
        "eval_snapshots": float(len(frame)),
        "eval_late_rate": float(frame["late"].mean()) if len(frame) else float("nan"),
    }
    if history is not None and recalibration_days > 0:  # for comparison, as if not refitted
        metrics |= _suffixed(
            {
                **risk_metrics(late, static_risk),
                **static_eta,
                **early_warning(
                    frame["shipment_id"].to_numpy(),
                    late,
                    frame["hours_to_promise"].to_numpy(),
                    static_risk,
                    predictor.threshold,
                ),
            }
        )
    if data.hidden_causes is not None:
        metrics["reason_agreement"] = reason_agreement(predictor, x, frame, data.hidden_causes)
    return Evaluation(metrics, slice_table(frame, SLICES), frame)


def stage_metrics(frame: pd.DataFrame, stages: tuple[tuple[str, str], ...]) -> dict[str, float]:
    """Headline metrics of some snapshot stages on their own, ETA errors in days.

    Args:
        frame: `Evaluation.frame`.
        stages: (snapshot stage, metric prefix) pairs, e.g. ("CREATED", "purchase").
    """
    out: dict[str, float] = {}
    for stage, name in stages:
        rows = frame[frame["stage"] == stage]
        if rows.empty:
            continue
        has = rows["remaining_h"].notna()
        truth = rows.loc[has, "remaining_h"].to_numpy()
        quantiles = rows.loc[has, ["eta_p10_h", "eta_p50_h", "eta_p90_h"]].to_numpy()
        eta = eta_metrics(truth, quantiles)
        out |= {
            f"{name}_{k}": v
            for k, v in risk_metrics(rows["late"].to_numpy(), rows["risk"].to_numpy()).items()
        }
        out[f"{name}_eta_p50_mae_d"] = eta["eta_p50_mae_h"] / 24
        out[f"{name}_eta_p10_p90_coverage"] = eta["eta_p10_p90_coverage"]
        for baseline in ("promise", "median", "lane"):
            guess = rows.loc[has, f"baseline_{baseline}_h"].to_numpy()
            out[f"{name}_baseline_{baseline}_mae_d"] = _mae(guess, truth) / 24
        out[f"{name}_snapshots"] = float(len(rows))
        out[f"{name}_late_rate"] = float(rows["late"].mean())
    return out


def region_group(x: pd.DataFrame) -> np.ndarray:
    """Island / remote / mainland from the route features."""
    island = x["route_is_island"].to_numpy(dtype=float) == 1
    remote = x["route_is_remote"].to_numpy(dtype=float) == 1
    return np.where(island, "island", np.where(remote, "remote", "mainland"))


def reason_agreement(
    predictor: Predictor, x: pd.DataFrame, frame: pd.DataFrame, hidden: pd.DataFrame
) -> float:
    """Share of flagged late snapshots whose top-2 reasons name one of their hidden causes."""
    flagged = np.flatnonzero(frame["late"].to_numpy() & (frame["risk"] >= predictor.threshold))
    if len(flagged) > MAX_REASON_ROWS:
        flagged = np.sort(np.random.default_rng(0).choice(flagged, MAX_REASON_ROWS, False))
    if len(flagged) == 0:
        return float("nan")
    rows = x.iloc[flagged]
    reasons = predictor.predict_features(rows, frame["as_of"].iloc[flagged])
    touched = hidden[hidden["delay_h"] > 0]
    touched = touched[touched["shipment_id"].isin(set(frame["shipment_id"].iloc[flagged]))]
    causes: dict[str, set[str]] = {}
    for sid, cause in zip(touched["shipment_id"], touched["cause"].astype("str"), strict=True):
        causes.setdefault(sid, set()).add(cause)
    per_row = pd.Series([causes.get(s) for s in frame["shipment_id"].iloc[flagged]])
    return agreement(reasons, per_row)


def importance_by_family(predictor: Predictor) -> pd.Series:
    """Total split gain of the risk model per feature family, as shares."""
    booster = predictor.risk.booster_
    if booster is None:
        raise RuntimeError("unfitted risk model")
    gain = pd.Series(booster.feature_importance("gain"), index=booster.feature_name())
    family = {f.name: f.family for f in FEATURES}
    by_family = gain.groupby(gain.index.map(lambda n: family.get(n, "other"))).sum()
    return (by_family / by_family.sum()).sort_values(ascending=False)


def _suffixed(metrics: dict[str, float]) -> dict[str, float]:
    """The training-time-calibration metrics, named `*_static`."""
    return {f"{name}_static": value for name, value in metrics.items()}


def _mae(prediction: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.abs(prediction - truth))) if len(truth) else float("nan")


def evaluate_window(predictor: Predictor, data: TrainingData, window: Window) -> Evaluation:
    """Evaluate a (loaded) predictor on the evaluation fold of `window` over `data`.

    Used by `stallguard evaluate` and by the promotion gate, so that two models are compared
    on exactly the same snapshots, each with its own rolling recalibration window.
    """
    from features.build import build_features
    from training.dataset import sample_snapshots
    from training.refit import history_frame

    snaps = sample_snapshots(data.tables, window.now)
    split = window.split(snaps, data.tables.shipments)
    if not split.evaluate.any():
        raise ValueError("the evaluation window holds no finished parcels in this data")
    days = float(predictor.info.get("recalibration_days", 0.0))
    recent = history_mask(snaps, window, days)
    needed = (split.evaluate | recent).to_numpy() if days > 0 else split.evaluate
    x = build_features(data.tables, snaps[needed].reset_index(drop=True))
    x = x[predictor.feature_names]
    in_eval = split.evaluate[needed]
    ships = data.tables.shipments
    history = None
    if days > 0:
        in_history = recent.to_numpy()[needed]
        history = history_frame(
            predictor,
            x[in_history].reset_index(drop=True),
            snaps[needed][in_history].reset_index(drop=True),
            ships,
        )
    train_ships = ships[ships["shipment_id"].isin(snaps.loc[split.train, "shipment_id"])]
    return evaluate(
        predictor,
        data,
        snaps[needed][in_eval],
        x[in_eval],
        train_ships,
        history,
        days,
    )


def later_window(window: Window, learned_to: pd.Timestamp, now: pd.Timestamp) -> Window | None:
    """`window` moved to evaluate parcels created after `learned_to` (None: the data ends first).

    A refitted model has learned from every outcome its data held; evaluating it on those
    would be evaluating it on its training data.
    """
    if now <= learned_to:
        return None
    calibrate_from = min(window.calibrate_from, learned_to - pd.Timedelta(days=1))
    return Window(window.start, calibrate_from, learned_to, now)


def history_mask(snapshots: pd.DataFrame, window: Window, days: float) -> pd.Series:
    """Snapshots a rolling recalibration of the evaluation fold may refit on."""
    start = window.evaluate_from - pd.Timedelta(days=days)
    return (snapshots["as_of"] >= start) & (snapshots["as_of"] < window.now)
