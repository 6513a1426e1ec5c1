"""Fit the risk and ETA models on the earlier period and evaluate them on the latest one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contract.tables import Tables
from training.baselines import cause_columns, oracle_roc_auc
from training.config import TrainConfig
from training.crossfit import held_out_bands, held_out_risk, time_blocks
from training.dataset import (
    default_boundaries,
    labels,
    last_outcome,
    sample_snapshots,
    settled_by,
)
from training.deployment import HeldOut, RefitRows, refit_for_deployment
from training.engine import LOCAL, Engine, active, running_on
from training.evaluation import Evaluation, Window, evaluate, history_mask, stage_metrics
from training.foresight import foresight_columns
from training.metrics import choose_threshold
from training.models import EtaModel, RiskModel
from training.predictor import STAGE_FEATURE, Predictor
from training.recalibration import fit_recalibration
from training.reference import REFERENCE_DAYS, Reference
from training.refit import history_frame
from training.scoring import pass_snapshots
from training.sources import TrainingData
from training.timing import Stopwatch
from training.whatif import Typical

Progress = Callable[[str], None]
BACKTEST_METRICS = (
    "risk_roc_auc",
    "risk_ece",
    "risk_brier",
    "eta_p50_mae_h",
    "eta_p10_p90_coverage",
    "eval_late_rate",
)


@dataclass
class TrainResult:
    """A fitted predictor with its evaluation and what produced it.

    Attributes:
        predictor: The model bundle to log and register: refitted on everything known at the
            data's end, or the backtest's own with `TrainConfig.refit` off.
        backtest: The backtest's model bundle (fitted before the evaluation fold; what the
            evaluation measured).
        evaluation: Metrics, slices and per-snapshot frame on the evaluation fold.
        window: Time boundaries of the folds.
        counts: Snapshots per fold.
        timings: Seconds per step.
        started_at: When training started (epoch seconds).
        engine: Where it ran ("local", "dask").
    """

    predictor: Predictor
    backtest: Predictor
    evaluation: Evaluation
    window: Window
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    engine: str = "local"

    @property
    def refitted(self) -> bool:
        """Whether the predictor to deploy is a refit (not the backtest's own)."""
        return self.predictor is not self.backtest

    def windows(self) -> dict[str, str]:
        """The backtest's folds and the last outcome the deployed model learned from."""
        deployed_end = self.predictor.info.get("window_deployed_train_end")
        if deployed_end is None:  # not refitted: its calibration learned up to the evaluation
            deployed_end = self.window.evaluate_from.isoformat()
        return {**self.window.as_params(), "window_deployed_train_end": str(deployed_end)}


def window_of(data: TrainingData, config: TrainConfig) -> Window:
    """The folds of a data set: the fixed dates its source declares, else the last shares.

    Olist declares training on purchases up to 2017-10-31 (the last two months calibrate) and
    evaluation on 2017-11-01 .. 2018-02-28, which holds Black Friday and the February wave
    (docs/real-data.md).
    """
    ships = data.tables.shipments
    start = ships["created_at"].min()
    if data.defaults.folds is not None:
        calibrate_from, evaluate_from = (pd.Timestamp(t, tz="UTC") for t in data.defaults.folds)
        return Window(start, calibrate_from, evaluate_from, data.now)
    calibrate_from, evaluate_from = default_boundaries(
        ships, data.now, config.calibrate_share, config.evaluate_share
    )
    return Window(start, calibrate_from, evaluate_from, data.now)


def train(
    data: TrainingData,
    config: TrainConfig | None = None,
    window: Window | None = None,
    progress: Progress | None = None,
    engine: Engine = LOCAL,
) -> TrainResult:
    """Backtest (train, calibrate, evaluate on the latest period), then refit for deployment.

    Args:
        data: The data set and where it came from.
        config: Training settings (default: `TrainConfig()`).
        window: Fold boundaries (default: from the data and `config`).
        progress: Called with a description at each step.
        engine: Where the context, the features and the boosters are computed (the rest,
            calibration and evaluation, runs here; docs/scale.md).

    Raises:
        ValueError: A fold is empty or has a single class (the data is too small or short).
    """
    with running_on(engine):
        result = _train(data, config, window, progress)
    result.engine = engine.name
    return result


def _train(
    data: TrainingData,
    config: TrainConfig | None,
    window: Window | None,
    progress: Progress | None,
) -> TrainResult:
    started = time.time()
    config = config or TrainConfig()
    window = window or window_of(data, config)
    say = progress or (lambda _: None)
    clock = Stopwatch(digits=2)
    ships = data.tables.shipments

    say("sampling snapshots")
    snaps = sample_snapshots(data.tables, data.now, config.plan)
    split = window.split(snaps, ships)
    days = config.recalibration_days
    recent = (
        history_mask(snaps, window, days).to_numpy() if days > 0 else np.zeros(len(snaps), bool)
    )
    limit = config.max_train_snapshots
    backtest_rows = (split.train | split.calibrate | split.evaluate | recent) & (
        cap_train_snapshots(snaps, split.train, limit, config.seed)
    )
    # The refit learns from every snapshot settled by the data's end, capped at the share of
    # parcels the backtest kept of its train fold.
    deploy = settled_by(snaps, ships, data.now)
    deploy = deploy & cap_train_snapshots(
        snaps, deploy, _same_share(limit, split.train, deploy), config.seed
    )
    keep = backtest_rows | (deploy if config.refit else False)
    snaps = snaps[keep].reset_index(drop=True)
    backtest_rows, deploy, recent = (
        backtest_rows[keep],
        deploy[keep],
        recent[keep] & backtest_rows[keep],
    )
    split = split.subset(keep, backtest_rows)
    for name in ("train", "calibrate", "evaluate"):
        if not getattr(split, name).any():
            raise ValueError(f"the {name} fold is empty: the data window is too short or small")
    lab = labels(snaps, ships, data.now)
    clock.lap("snapshots")

    say(f"building features for {len(snaps):,} snapshots")
    x = active().features(data.tables, snaps)[config.feature_names]
    clock.lap("features")

    y = lab["late"].to_numpy(dtype=float)
    say("fitting the risk model")
    risk = RiskModel(config.params).fit(
        x[split.train], y[split.train], x[split.calibrate], y[split.calibrate]
    )
    risk_rows = int(split.train.sum())
    clock.lap("risk")

    say("fitting the ETA quantile models")
    remaining = lab["remaining_h"].to_numpy(dtype=float)
    eta_train = _cap_rows(split.train_eta, config.eta_max_rows, config.seed)
    eta_cal = split.calibrate_eta
    eta = EtaModel(config.eta_params, config.coverage).fit(
        x[eta_train],
        remaining[eta_train],
        x[eta_cal],
        remaining[eta_cal],
        x.loc[eta_cal, STAGE_FEATURE].astype("str").to_numpy(),
    )
    eta_rows = int(eta_train.sum())
    clock.lap("eta")

    created = snaps["shipment_id"].map(ships.set_index("shipment_id")["created_at"])
    groups = x[STAGE_FEATURE].astype("str").to_numpy()
    scores = HeldOut.empty(len(snaps))
    held_out = split.calibrate
    raw = risk.raw(x[held_out])
    cross_fit = config.blocks_for(
        (window.evaluate_from - window.calibrate_from) / pd.Timedelta(days=1)
    )
    if cross_fit > 0:
        say(f"cross-fitting the calibration over {cross_fit} time blocks")
        held_out = split.train | split.calibrate
        blocks = time_blocks(created, cross_fit)
        raw = held_out_risk(risk, x[held_out], y[held_out], blocks[held_out], risk_rows)
        risk.calibrate_on(raw, y[held_out]).refit(x[held_out], y[held_out], risk_rows)
        risk_rows = int(held_out.sum())
        eta_both = eta_train | eta_cal
        low, high = held_out_bands(
            eta, x[eta_both], remaining[eta_both], blocks[eta_both], eta_rows
        )
        eta.conformalize(low, high, remaining[eta_both], groups[eta_both])
        eta.refit(x[eta_both], remaining[eta_both], eta_rows)
        scores.add_bands(eta_both, low, high)
        eta_rows = int(eta_both.sum())
        clock.lap("cross-fit")
    else:
        low, _, high = eta.bands(x[eta_cal])
        scores.add_bands(eta_cal, low, high)
    scores.add_risk(held_out, raw)
    held_out_risk_ = risk.calibrate(raw)
    threshold = choose_threshold(
        snaps.loc[held_out, "shipment_id"].to_numpy(),
        y[held_out].astype(bool),
        x.loc[held_out, "prog_hours_to_promise"].to_numpy(dtype=float),
        held_out_risk_,
        config.min_precision,
    )
    say("building the serving context")
    context = active().context(data.tables, as_of=data.now)
    info = {
        "source": data.source,
        "data_fingerprint": data.fingerprint,
        **window.as_params(),
        "threshold": threshold,
        "recalibration_days": days,
        "cross_fit_blocks": cross_fit,
    }
    backtest = Predictor(risk, eta, threshold, config.feature_names, context, info)
    backtest.typical = Typical.fit(x[split.train & (y == 0)])
    clock.lap("context")

    say("evaluating on the latest period")
    history = None
    if days > 0:
        history = history_frame(backtest, x[recent], snaps[recent], ships)
        backtest.recalibration = fit_recalibration(
            history, data.now, backtest.model_key, days, config.coverage
        )
    train_ships = ships[ships["shipment_id"].isin(snaps.loc[split.train, "shipment_id"])]
    evaluation = evaluate(
        backtest,
        data,
        snaps[split.evaluate],
        x[split.evaluate],
        train_ships,
        history,
        days,
    )
    evaluation.metrics |= stage_metrics(evaluation.frame, config.stage_metrics)
    # What monitoring compares live figures with (serving/monitoring).
    backtest.info["backtest"] = {
        k: float(evaluation.metrics[k]) for k in BACKTEST_METRICS if k in evaluation.metrics
    }
    clock.lap("evaluate")

    folds = (split.train, split.calibrate, split.evaluate)
    if config.oracle and data.hidden_states is not None:
        say("fitting the foresight oracle (hidden states known at as_of)")
        known = foresight_columns(data.tables, snaps, data.hidden_states)
        evaluation.metrics["foresight_oracle_risk_roc_auc"] = oracle_roc_auc(
            config.params, x, y, known, *folds
        )
        clock.lap("foresight oracle")
    if config.oracle and data.hidden_causes is not None:
        say("fitting the hindsight oracle (hidden causes as they happened)")
        hidden = cause_columns(snaps["shipment_id"], data.hidden_causes)
        evaluation.metrics["hindsight_oracle_risk_roc_auc"] = oracle_roc_auc(
            config.params, x, y, hidden, *folds
        )
        clock.lap("hindsight oracle")

    deployed = backtest
    if config.refit:
        say(f"refitting for deployment on {int(deploy.sum()):,} snapshots")
        # The evaluation fold, scored by the backtest's model, is held out from it too.
        scores.add_risk(split.evaluate, backtest.risk.raw(x[split.evaluate]))
        low, _, high = backtest.eta.bands(x[split.evaluate_eta])
        scores.add_bands(split.evaluate_eta, low, high)
        rows = RefitRows(
            x=x,
            late=y,
            remaining_h=remaining,
            shipment_id=snaps["shipment_id"].to_numpy(),
            created_at=created,
            rows=deploy,
            eta_rows=_cap_rows(deploy & np.isfinite(remaining), config.eta_max_rows, config.seed),
        )
        deployed = refit_for_deployment(
            backtest,
            rows,
            scores,
            config.refit_blocks,
            (risk_rows, eta_rows),
            config.min_precision,
            {
                "refit": True,
                "window_deployed_train_end": last_outcome(snaps[deploy], ships).isoformat(),
                "backtest_threshold": threshold,
            },
        )
        clock.lap("refit")
    deployed.typical = backtest.typical
    say("profiling the parcels in flight at the end of the data (the drift reference)")
    backtest.reference = fit_reference(backtest, data.tables, window.evaluate_from)
    deployed.reference = (
        fit_reference(deployed, data.tables, data.now) if deployed is not backtest else None
    ) or backtest.reference
    clock.lap("reference")
    counts = {
        "snapshots": len(snaps),
        "train": int(split.train.sum()),
        "calibrate": int(split.calibrate.sum()),
        "evaluate": int(split.evaluate.sum()),
        "eta_train": int(eta_train.sum()),
        "history_only": int((recent & ~(split.train | split.calibrate | split.evaluate)).sum()),
        "deployed_train": int(deploy.sum()) if config.refit else 0,
    }
    return TrainResult(deployed, backtest, evaluation, window, counts, clock.laps, started)


def fit_reference(predictor: Predictor, tables: Tables, end: pd.Timestamp) -> Reference | None:
    """The drift reference of `predictor`: features and risk of the parcels in flight.

    Pass-like snapshots every hour over the `REFERENCE_DAYS` before `end`, a twelfth of the
    parcels in flight at each (every hour of the day, at the rows of two passes a day);
    None when nothing was in flight then.
    """
    snaps = pass_snapshots(tables, end, REFERENCE_DAYS, every_hours=1.0, share=1 / 12)
    if snaps.empty:
        return None
    x = active().features(tables, snaps)[predictor.feature_names]
    risk = predictor.predict_features(x, snaps["as_of"], reasons=False)["risk"].to_numpy()
    return Reference.fit(x, risk, snaps)


def _same_share(limit: int, train: np.ndarray, rows: np.ndarray) -> int:
    """A cap on `rows` that keeps the share of them `limit` keeps of the train fold."""
    if limit <= 0 or train.sum() <= limit:
        return 0
    return max(1, round(limit * rows.sum() / train.sum()))


def cap_train_snapshots(
    snaps: pd.DataFrame, train: np.ndarray, limit: int, seed: int
) -> np.ndarray:
    """Keep every snapshot, except train snapshots beyond `limit` (sampled by parcel)."""
    if limit <= 0 or train.sum() <= limit:
        return np.ones(len(snaps), dtype=bool)
    ids = snaps.loc[train, "shipment_id"].unique()
    share = limit / train.sum()
    chosen = np.random.default_rng(seed).random(len(ids)) < share
    kept = snaps["shipment_id"].isin(ids[chosen]).to_numpy()
    return ~train | kept


def _cap_rows(mask: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """A random subset of at most `limit` of the rows in `mask`."""
    rows = np.flatnonzero(mask)
    if limit <= 0 or len(rows) <= limit:
        return mask
    out = np.zeros_like(mask)
    out[np.random.default_rng(seed).choice(rows, limit, replace=False)] = True
    return out
