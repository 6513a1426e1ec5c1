"""Training cost on the default world: ~1M snapshots (the target) and all of them.

Run: `.venv/bin/python -m bench.bench_training` (simulates the default world first if
`data/simulated` is missing). Times `training.train.train` step by step: snapshot sampling,
features, the risk model, the three ETA quantile models, the serving context, evaluation and
the oracle; then logging to a throw-away MLflow store. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import tempfile
import time
from pathlib import Path

from training.config import TrackingConfig, TrainConfig
from training.sources import load_data
from training.tracking import log_training
from training.train import train

# Capping the train fold at 510k parcels' snapshots leaves ~1.0M snapshots in all three folds.
SIZES = {"1M snapshots": 510_000, "all snapshots": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=list(SIZES), help="run one size")
    args = parser.parse_args()
    data = load_data("synthetic", None)
    steps = ["snapshots", "features", "risk", "eta", "context", "evaluate", "oracle"]
    print(
        "| run | snapshots | "
        + " | ".join(f"{s} s" for s in steps)
        + " | train total | MLflow log | peak RSS |"
    )
    print("|---|---:|" + "---:|" * (len(steps) + 3))
    for name, cap in SIZES.items():
        if args.only and name != args.only:
            continue
        config = dataclasses.replace(TrainConfig(), max_train_snapshots=cap)
        start = time.perf_counter()
        result = train(data, config)
        total = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            tracking = TrackingConfig(uri=f"sqlite:///{Path(tmp) / 'm.db'}", artifacts=tmp)
            start = time.perf_counter()
            log_training(result, data, config, tracking)
            logging_s = time.perf_counter() - start
        rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        cells = " | ".join(f"{result.timings.get(s, 0):.1f}" for s in steps)
        print(
            f"| {name} | {result.counts['snapshots']:,} | {cells} | **{total:.0f} s** "
            f"| {logging_s:.0f} s | {rss_gb:.1f} GB |",
            flush=True,
        )
    print(f"\nrisk_roc_auc {result.evaluation.metrics['risk_roc_auc']:.4f} on the last run")


if __name__ == "__main__":
    main()
