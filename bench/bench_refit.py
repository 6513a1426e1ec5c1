"""The refitted model against the backtest's own, on a later period neither has seen.

Run: `.venv/bin/python -m bench.bench_refit [--seeds 7] [--months-after 3]`.

For each seed it simulates the default world's layout extended by `--months-after` months,
cuts it at the default world's end (`features.context.known_at`: the warehouse as it stood
then, with later deliveries not yet known), and trains the default recipe on the cut. The backtest's
model is what `stallguard train --no-refit` registers; the refitted one is what `stallguard
train` registers. Both then score every snapshot of the parcels created in the later months
(features read the full world point-in-time, as serving would), and the table compares them.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import build_features
from features.context import known_at
from sources.fingerprint import fingerprint
from sources.synthetic import SimulationConfig, simulate
from training.baselines import promise_eta_h
from training.config import TrainConfig
from training.dataset import labels, sample_snapshots
from training.metrics import early_warning, eta_metrics, risk_metrics
from training.predictor import STAGE_FEATURE, Predictor
from training.sources import TrainingData
from training.train import train

DEFAULT = SimulationConfig()
COLUMNS = (
    "risk_roc_auc",
    "risk_ece",
    "eta_p50_mae_h",
    "eta_p10_p90_coverage",
    "early_warning_recall_12h",
    "early_warning_precision",
)


def later_period(
    predictor: Predictor, tables, snaps: pd.DataFrame, x: pd.DataFrame, now: pd.Timestamp
) -> dict[str, float]:
    """The predictor's metrics on snapshots of the later period (full outcomes known)."""
    lab = labels(snaps, tables.shipments, now)
    raw = predictor.risk.raw(x)
    risk = predictor.risk.calibrate(raw)
    hours = predictor.eta.predict(x, x[STAGE_FEATURE].astype("str").to_numpy())
    has = np.isfinite(lab["remaining_h"].to_numpy())
    late = lab["late"].to_numpy()
    return {
        **risk_metrics(late, risk),
        **eta_metrics(lab["remaining_h"].to_numpy()[has], hours[has]),
        **early_warning(
            snaps["shipment_id"].to_numpy(),
            late,
            x["prog_hours_to_promise"].to_numpy(dtype=float),
            risk,
            predictor.threshold,
        ),
        "promise_mae_h": float(
            np.mean(np.abs(promise_eta_h(snaps, tables.shipments)[has] - lab["remaining_h"][has]))
        ),
    }


def measure(seed: int, months_after: int) -> list[tuple[str, dict[str, float], str]]:
    extra_days = round(months_after * 30.4)
    days = DEFAULT.days + extra_days
    config = dataclasses.replace(
        DEFAULT,
        shipments=round(DEFAULT.shipments * days / DEFAULT.days),
        days=days,
        seed=seed,
    )
    world = simulate(config)
    cut = pd.Timestamp(DEFAULT.start, tz="UTC") + pd.Timedelta(days=DEFAULT.days)
    with tempfile.TemporaryDirectory() as tmp:
        known = known_at(world.tables, cut)
        known.write(tmp)
        data = TrainingData("synthetic", known, Path(tmp), fingerprint(Path(tmp)), cut)
        started = time.perf_counter()
        result = train(data, TrainConfig())
        seconds = time.perf_counter() - started
    full = world.tables
    end = full.scan_events["event_time"].max()
    snaps = sample_snapshots(full, end)
    created = snaps["shipment_id"].map(full.shipments.set_index("shipment_id")["created_at"])
    settled = labels(snaps, full.shipments, end)["known"].to_numpy()
    snaps = snaps[(created > cut).to_numpy() & settled].reset_index(drop=True)
    x = build_features(full, snaps)[result.predictor.feature_names]
    span = f"{cut:%Y-%m-%d}..{end:%Y-%m-%d}"
    deployed_end = result.predictor.info["window_deployed_train_end"][:10]
    return [
        (
            f"backtest (--no-refit), learned to {result.window.calibrate_from:%Y-%m-%d}",
            later_period(result.backtest, full, snaps, x, end),
            span,
        ),
        (
            f"refit (default), learned to {deployed_end}",
            later_period(result.predictor, full, snaps, x, end),
            f"{span} ({seconds:.0f} s to train)",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", nargs="+", type=int, default=[7])
    parser.add_argument("--months-after", type=int, default=3)
    args = parser.parse_args()
    print("| seed | model | later period | " + " | ".join(COLUMNS) + " |")
    print("|---:|---|---|" + "---:|" * len(COLUMNS))
    for seed in args.seeds:
        for name, metrics, span in measure(seed, args.months_after):
            cells = " | ".join(f"{metrics[c]:.3f}" for c in COLUMNS)
            print(f"| {seed} | {name} | {span} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
