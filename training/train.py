"""Fit the risk and ETA models on the earlier period and evaluate them on the latest one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.build import build_features
from features.context import build_context
from training.baselines import cause_columns, oracle_roc_auc
from training.config import TrainConfig
from training.crossfit import cross_fit_eta, cross_fit_risk, time_blocks
from training.dataset import default_boundaries, labels, sample_snapshots
from training.evaluation import Evaluation, Window, evaluate, history_mask, stage_metrics
from training.metrics import choose_threshold
from training.models import EtaModel, RiskModel
from training.predictor import STAGE_FEATURE, Predictor
from training.recalibration import fit_recalibration
from training.refit import history_frame
from training.sources import TrainingData

Progress = Callable[[str], None]
OLIST_FOLDS = ("2017-09-01", "2017-11-01")  # calibrate from, evaluate from (UTC)


@dataclass
class TrainResult:
    """A fitted predictor with its evaluation and what produced it.

    Attributes:
        predictor: The model bundle (risk, ETA, reasons, context).
        evaluation: Metrics, slices and per-snapshot frame on the evaluation fold.
        window: Time boundaries of the folds.
        counts: Snapshots per fold.
        timings: Seconds per step.
    """

    predictor: Predictor
    evaluation: Evaluation
    window: Window
    counts: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)


def window_of(data: TrainingData, config: TrainConfig) -> Window:
    """The default folds of a data set: fixed dates for Olist, else the last shares.

    Olist (issue 6): train on purchases up to 2017-10-31 (the last two months calibrate),
    evaluate on 2017-11-01 .. 2018-02-28, which holds Black Friday and the February wave.
    """
    ships = data.tables.shipments
    if data.source == "olist":
        start = ships["created_at"].min()
        calibrate_from, evaluate_from = (pd.Timestamp(t, tz="UTC") for t in OLIST_FOLDS)
        return Window(start, calibrate_from, evaluate_from, data.now)
    calibrate_from, evaluate_from = default_boundaries(
        ships, data.now, config.calibrate_share, config.evaluate_share
    )
    return Window(ships["created_at"].min(), calibrate_from, evaluate_from, data.now)


def train(
    data: TrainingData,
    config: TrainConfig | None = None,
    window: Window | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train on the train fold, calibrate on the next, evaluate on the latest.

    Raises:
        ValueError: A fold is empty or has a single class (the data is too small or short).
    """
    config = config or TrainConfig()
    window = window or window_of(data, config)
    say = progress or (lambda _: None)
    clock = _Clock()
    ships = data.tables.shipments

    say("sampling snapshots")
    snaps = sample_snapshots(data.tables, data.now, config.plan)
    split = window.split(snaps, ships)
    days = config.recalibration_days
    recent = history_mask(snaps, window, days).to_numpy() if days > 0 else False
    keep = split.train | split.calibrate | split.evaluate | recent
    keep &= cap_train_snapshots(snaps, split.train, config.max_train_snapshots, config.seed)
    snaps = snaps[keep].reset_index(drop=True)
    split = window.split(snaps, ships)
    recent = (
        history_mask(snaps, window, days).to_numpy() if days > 0 else np.zeros(len(snaps), bool)
    )
    for name in ("train", "calibrate", "evaluate"):
        if not getattr(split, name).any():
            raise ValueError(f"the {name} fold is empty: the data window is too short or small")
    lab = labels(snaps, ships, data.now)
    clock.lap("snapshots")

    say(f"building features for {len(snaps):,} snapshots")
    x = build_features(data.tables, snaps)[config.feature_names]
    clock.lap("features")

    y = lab["late"].to_numpy(dtype=float)
    say("fitting the risk model")
    risk = RiskModel(config.params).fit(
        x[split.train], y[split.train], x[split.calibrate], y[split.calibrate]
    )
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
    clock.lap("eta")

    held_out = split.calibrate
    held_out_risk = risk.predict(x[held_out])
    if config.cross_fit_blocks > 0:
        say(f"cross-fitting the calibration over {config.cross_fit_blocks} time blocks")
        held_out = split.train | split.calibrate
        created = snaps["shipment_id"].map(ships.set_index("shipment_id")["created_at"])
        blocks = time_blocks(created, config.cross_fit_blocks)
        held_out_risk = cross_fit_risk(
            risk, x[held_out], y[held_out], blocks[held_out], int(split.train.sum())
        )
        eta_rows = eta_train | eta_cal
        cross_fit_eta(
            eta,
            x[eta_rows],
            remaining[eta_rows],
            x.loc[eta_rows, STAGE_FEATURE].astype("str").to_numpy(),
            blocks[eta_rows],
            int(eta_train.sum()),
        )
        clock.lap("cross-fit")
    threshold = choose_threshold(
        snaps.loc[held_out, "shipment_id"].to_numpy(),
        y[held_out].astype(bool),
        x.loc[held_out, "prog_hours_to_promise"].to_numpy(dtype=float),
        held_out_risk,
        config.min_precision,
    )
    say("building the serving context")
    context = build_context(data.tables, as_of=data.now)
    info = {
        "source": data.source,
        "data_fingerprint": data.fingerprint,
        **window.as_params(),
        "threshold": threshold,
        "recalibration_days": days,
    }
    predictor = Predictor(risk, eta, threshold, config.feature_names, context, info)
    clock.lap("context")

    say("evaluating on the latest period")
    history = None
    if days > 0:
        history = history_frame(predictor, x[recent], snaps[recent], ships)
        predictor.recalibration = fit_recalibration(
            history, data.now, predictor.model_key, days, config.coverage
        )
    train_ships = ships[ships["shipment_id"].isin(snaps.loc[split.train, "shipment_id"])]
    evaluation = evaluate(
        predictor,
        data,
        snaps[split.evaluate],
        x[split.evaluate],
        train_ships,
        history,
        days,
    )
    evaluation.metrics |= stage_metrics(evaluation.frame, config.stage_metrics)
    clock.lap("evaluate")

    if config.oracle and data.hidden_causes is not None:
        say("fitting the oracle (with hidden causes)")
        hidden = cause_columns(snaps["shipment_id"], data.hidden_causes)
        evaluation.metrics["oracle_risk_roc_auc"] = oracle_roc_auc(
            config.params, x, y, hidden, split.train, split.calibrate, split.evaluate
        )
        clock.lap("oracle")
    counts = {
        "snapshots": len(snaps),
        "train": int(split.train.sum()),
        "calibrate": int(split.calibrate.sum()),
        "evaluate": int(split.evaluate.sum()),
        "eta_train": int(eta_train.sum()),
        "history_only": int((recent & ~(split.train | split.calibrate | split.evaluate)).sum()),
    }
    return TrainResult(predictor, evaluation, window, counts, clock.laps)


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


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 2)
        self._last = now
