"""The model targets across simulated worlds: is a result the recipe's, or one world's luck?

Run: `.venv/bin/python -m bench.bench_worlds [--layouts NAME ...] [--seeds 1 2 3 7]`.
For each layout (how long the world is, and how many parcels) and each seed it simulates the
world, runs the backtest of `training.train.train` with the default `TrainConfig` (no refit:
the targets are the backtest's metrics; no MLflow), and prints one Markdown row of the
targets. About 1-3 minutes per world on 2 cores. Prints Markdown for docs/model.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sources.synthetic import SimulationConfig, simulate
from training.config import TrainConfig
from training.sources import load_data
from training.train import train


@dataclass(frozen=True)
class Layout:
    shipments: int
    start: dt.date
    days: int


LAYOUTS = {
    "4 months": Layout(60_000, dt.date(2024, 1, 1), 120),
    "6 months": Layout(100_000, dt.date(2025, 7, 1), 180),
    "13 months": Layout(100_000, dt.date(2024, 12, 1), 393),
    "18 months": Layout(150_000, dt.date(2024, 7, 1), 546),
}
COLUMNS = (
    "risk_roc_auc",
    "foresight_oracle_risk_roc_auc",
    "hindsight_oracle_risk_roc_auc",
    "risk_ece",
    "risk_ece_alert_range",
    "eta_p10_p90_coverage",
    "eta_p50_mae_h",
    "baseline_promise_eta_mae_h",
    "early_warning_recall_12h",
    "early_warning_precision",
    "reason_agreement",
    "eval_late_rate",
)


def met(metrics: dict[str, float]) -> str:
    """Which targets a run meets, as letters (A: AUC/foresight oracle ... W: warning)."""
    checks = {
        "A": metrics["risk_roc_auc"] >= 0.97 * metrics["foresight_oracle_risk_roc_auc"],
        "E": metrics["risk_ece"] <= 0.02,
        "R": metrics["risk_ece_alert_range"] <= 0.05,
        "C": abs(metrics["eta_p10_p90_coverage"] - 0.8) <= 0.03,
        "M": metrics["eta_p50_mae_h"] <= 0.7 * metrics["baseline_promise_eta_mae_h"],
        "W": metrics["early_warning_recall_12h"] >= 0.6
        and metrics["early_warning_precision"] >= 0.5,
    }
    return "".join(k if ok else "-" for k, ok in checks.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--layouts", nargs="+", choices=list(LAYOUTS), default=["4 months", "6 months", "13 months"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 7])
    parser.add_argument(
        "--calibrate-share",
        type=float,
        default=TrainConfig.calibrate_share,
        help="Share of the period before evaluation that calibrates (TrainConfig).",
    )
    parser.add_argument(
        "--cross-fit-blocks",
        type=int,
        default=None,
        help="Calibrate on held-out scores cross-fitted over this many blocks (default: "
        "TrainConfig's rule by the calibration fold's length).",
    )
    args = parser.parse_args()
    recipe = TrainConfig(
        calibrate_share=args.calibrate_share,
        cross_fit_blocks=args.cross_fit_blocks,
        refit=False,
    )
    print("| layout | seed | evaluation | " + " | ".join(COLUMNS) + " | met | train s |")
    print("|---|---:|---|" + "---:|" * len(COLUMNS) + "---|---:|")
    for name in args.layouts:
        layout = LAYOUTS[name]
        for seed in args.seeds:
            config = SimulationConfig(
                shipments=layout.shipments, start=layout.start, days=layout.days, seed=seed
            )
            with tempfile.TemporaryDirectory() as tmp:
                simulate(config).write(tmp)
                data = load_data("synthetic", Path(tmp))
                started = time.perf_counter()
                result = train(data, recipe)
                seconds = time.perf_counter() - started
            metrics = result.evaluation.metrics
            window = result.window
            span = f"{window.evaluate_from:%Y-%m-%d}..{window.now:%m-%d}"
            cells = " | ".join(f"{metrics[c]:.3f}" for c in COLUMNS)
            print(
                f"| {name} | {seed} | {span} | {cells} | {met(metrics)} | {seconds:.0f} |",
                flush=True,
            )
    print("\nmet: A AUC >= 0.97 x foresight oracle, E ECE <= 0.02, R ECE over the alert range")
    print("<= 0.05, C coverage 0.80 +/- 0.03,")
    print("M P50 MAE >= 30% below the promise, W early-warning recall >= 0.6 at precision >= 0.5")


if __name__ == "__main__":
    main()
