"""How far the partial Olist copy lets any model go: the targets against ceilings.

Run: `.venv/bin/python -m bench.bench_olist_ceiling [OLIST_DIR]` (default
`../shared/data/olist`; exits cleanly when the folder is absent).

Same snapshots and features as `stallguard train --source olist`, same evaluation orders
(purchased 2017-11-01 .. 2018-02-28), per stage (purchase, hand-over):

- time split: LightGBM trained on everything before 2017-11-01 (what the pipeline does);
- random 5-fold CV inside the evaluation months: the model sees other orders of the same weeks,
  so it learns Black Friday and the February wave (the setting of most published figures);
- in-sample fit on the evaluation months: trained and scored on the same orders, an upper
  bound for the ETA error of these features (its AUC is memorisation, not shown).

None of these is a model to ship; they say which targets the data can support.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold

from features.build import build_features
from training.config import TrainConfig
from training.dataset import labels, sample_snapshots
from training.sources import load_data
from training.train import window_of

STAGES = {"CREATED": "purchase", "PICKED_UP": "hand-over"}
TARGETS = {"purchase": (0.75, 4.0), "hand-over": (0.82, 3.3)}


def _classifier() -> lgb.LGBMClassifier:
    p = TrainConfig.for_source("olist").params
    return lgb.LGBMClassifier(
        n_estimators=300,
        learning_rate=p.learning_rate,
        num_leaves=p.num_leaves,
        min_child_samples=p.min_child_samples,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        verbose=-1,
    )


def _median_regressor() -> lgb.LGBMRegressor:
    p = TrainConfig.for_source("olist").params
    return lgb.LGBMRegressor(
        objective="quantile",
        alpha=0.5,
        n_estimators=400,
        learning_rate=p.learning_rate,
        num_leaves=p.num_leaves,
        min_child_samples=p.min_child_samples,
        verbose=-1,
    )


def _mae_days(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - truth)) / 24)


def main(directory: Path) -> None:
    if not (directory / "olist_orders_dataset.csv").exists():
        print(f"no Olist data in {directory}: nothing to measure")
        return
    data = load_data("olist", directory)
    config = TrainConfig.for_source("olist")
    window = window_of(data, config)
    snaps = sample_snapshots(data.tables, data.now, config.plan)
    split = window.split(snaps, data.tables.shipments)
    lab = labels(snaps, data.tables.shipments, data.now)
    x = build_features(data.tables, snaps)[config.feature_names]
    y = lab["late"].to_numpy(dtype=float)
    hours = lab["remaining_h"].to_numpy(dtype=float)
    stage = snaps["stage"].astype("str").to_numpy()
    before = split.train | split.calibrate
    known = np.isfinite(hours)

    risk = _classifier().fit(x[before], y[before])
    eta = _median_regressor().fit(x[before & known], hours[before & known])
    rows = []
    for code, name in STAGES.items():
        ev = split.evaluate & (stage == code)
        ev_eta = ev & known
        rows.append(
            (
                name,
                "time split (pipeline)",
                roc_auc_score(y[ev], risk.predict_proba(x[ev])[:, 1]),
                _mae_days(eta.predict(x[ev_eta]), hours[ev_eta]),
            )
        )
        auc, mae = _random_cv(x[ev], y[ev], x[ev_eta], hours[ev_eta])
        rows.append((name, "random 5-fold CV in eval months", auc, mae))
        fitted = _median_regressor().fit(x[ev_eta], hours[ev_eta])
        in_sample = _mae_days(fitted.predict(x[ev_eta]), hours[ev_eta])
        rows.append((name, "in-sample fit on eval months", np.nan, in_sample))
        target_auc, target_mae = TARGETS[name]
        rows.append((name, "target", target_auc, target_mae))
    print("| stage | setting | ROC-AUC | ETA P50 MAE (days) |")
    print("|---|---|---:|---:|")
    for name, setting, auc, mae in rows:
        shown = "-" if np.isnan(auc) else f"{auc:.3f}"
        print(f"| {name} | {setting} | {shown} | {mae:.2f} |")


def _random_cv(
    x: pd.DataFrame, y: np.ndarray, x_eta: pd.DataFrame, hours: np.ndarray
) -> tuple[float, float]:
    folds = KFold(5, shuffle=True, random_state=0)
    risk = np.empty(len(y))
    for fit, held in folds.split(x):
        model = _classifier().fit(x.iloc[fit], y[fit])
        risk[held] = model.predict_proba(x.iloc[held])[:, 1]
    eta = np.empty(len(hours))
    for fit, held in folds.split(x_eta):
        eta[held] = _median_regressor().fit(x_eta.iloc[fit], hours[fit]).predict(x_eta.iloc[held])
    return float(roc_auc_score(y, risk)), _mae_days(eta, hours)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/olist"))
