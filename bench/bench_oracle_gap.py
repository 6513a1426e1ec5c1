"""The model against the foresight and hindsight oracles, by snapshot stage.

Run: `.venv/bin/python -m bench.bench_oracle_gap` on the default world (simulated if missing).
`stallguard train` logs both oracles' AUC; this shows where in a parcel's journey the gaps are.
The foresight oracle is the learner given the hidden states knowable at as_of
(training/foresight.py); the hindsight oracle the hidden causes, the draws as they happened.
"""

from __future__ import annotations

import pandas as pd
from sklearn.metrics import roc_auc_score

from features.build import build_features
from training.baselines import cause_columns
from training.config import TrainConfig
from training.dataset import labels, sample_snapshots
from training.foresight import foresight_columns
from training.models import fit_booster
from training.sources import load_data
from training.train import window_of


def main() -> None:
    data = load_data("synthetic", None)
    config = TrainConfig()
    if data.hidden_states is None:
        raise SystemExit("the default world has no hidden states: simulate it again")
    window = window_of(data, config)
    snaps = sample_snapshots(data.tables, data.now)
    split = window.split(snaps, data.tables.shipments)
    snaps = snaps[split.train | split.calibrate | split.evaluate].reset_index(drop=True)
    split = window.split(snaps, data.tables.shipments)
    y = labels(snaps, data.tables.shipments, data.now)["late"].to_numpy(float)
    x = build_features(data.tables, snaps)[config.feature_names]
    frames = {
        "model": x,
        "foresight oracle": pd.concat(
            [x, foresight_columns(data.tables, snaps, data.hidden_states)], axis=1
        ),
        "hindsight oracle (hidden causes)": pd.concat(
            [x, cause_columns(snaps["shipment_id"], data.hidden_causes)], axis=1
        ),
    }
    stage = snaps["stage"].astype("str").to_numpy()[split.evaluate]
    stages = ["CREATED", "PICKED_UP", "HUB_IN", "TERMINAL_IN", "IN_FLIGHT", "OUT_FOR_DELIVERY"]
    print("| learner given | eval AUC | " + " | ".join(stages) + " |")
    print("|---|---:|" + "---:|" * len(stages))
    ye = y[split.evaluate]
    for name, frame in frames.items():
        booster = fit_booster(
            config.params, {"objective": "binary"},
            frame[split.train], y[split.train], frame[split.calibrate], y[split.calibrate],
        )  # fmt: skip
        pe = booster.predict(frame[split.evaluate])
        per = [roc_auc_score(ye[stage == s], pe[stage == s]) for s in stages]
        cells = " | ".join(f"{v:.3f}" for v in per)
        print(f"| {name} | **{roc_auc_score(ye, pe):.3f}** | {cells} |", flush=True)


if __name__ == "__main__":
    main()
