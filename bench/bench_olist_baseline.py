"""The pipeline against the notebook an analyst writes first, on the same Olist orders.

Run: `.venv/bin/python -m bench.bench_olist_baseline [OLIST_DIR] [--seeds 1 2 3 7]`
(default `../shared/data/olist`; exits cleanly when the folder is absent).

The baseline is a plain LightGBM on the raw Olist columns: promise length in days,
destination state and zip-prefix coordinates, distance from Sao Paulo, payment value,
installments and type, purchase month, weekday and hour; at hand-over also the days from
purchase to hand-over and the days left to the promise. A classifier for lateness and three
quantile regressors (P10, P50, P90) for the days left, with library defaults an analyst
would keep. It learns from the orders the pipeline's backtest learns from (purchased before
the evaluation fold and settled before it starts) and is scored on the same evaluation
orders, per stage, for each seed (the boosters' seed for both).

Prints one table per stage: mean and spread (max - min over seeds) of ROC-AUC, PR-AUC, ETA
P50 MAE in days and P10-P90 coverage, pipeline and baseline side by side. The purchase month
is the column the notebook leans on that hurts it most here (the evaluation months, November
to February, are the sparsest of its training months), so the baseline is also shown without
it: the pipeline has to beat the better of the two.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from training.config import TrainConfig
from training.dataset import labels, sample_snapshots
from training.sources import load_data
from training.train import train, window_of

STAGES = {"CREATED": "purchase", "PICKED_UP": "handoff"}
SAO_PAULO = (-23.55, -46.63)
LOCAL_TZ = "America/Sao_Paulo"


def raw_orders(directory: Path) -> pd.DataFrame:
    """One row per order with the raw columns the notebook reads (indexed by order id)."""
    orders = pd.read_csv(directory / "olist_orders_dataset.csv")
    customers = pd.read_csv(directory / "olist_customers_dataset.csv")
    geo = pd.read_csv(directory / "olist_geolocation_dataset.csv")
    payments = pd.read_csv(directory / "olist_order_payments_dataset.csv")
    geo = geo.drop_duplicates("geolocation_zip_code_prefix").set_index(
        "geolocation_zip_code_prefix"
    )
    frame = orders.merge(customers, on="customer_id", how="left")
    zip_prefix = frame["customer_zip_code_prefix"]
    pay = payments.groupby("order_id").agg(
        payment_value=("payment_value", "sum"),
        installments=("payment_installments", "max"),
        payment_type=("payment_type", "first"),
    )
    purchase = pd.to_datetime(frame["order_purchase_timestamp"])
    promise = pd.to_datetime(frame["order_estimated_delivery_date"])
    out = pd.DataFrame(
        {
            "purchase": purchase,
            "carrier": pd.to_datetime(frame["order_delivered_carrier_date"]),
            "promise_days": (promise - purchase) / pd.Timedelta(days=1),
            "state": zip_prefix.map(geo["geolocation_state"]).astype("category"),
            "lat": zip_prefix.map(geo["geolocation_lat"]),
            "lon": zip_prefix.map(geo["geolocation_lng"]),
            "month": purchase.dt.month,
            "weekday": purchase.dt.day_of_week,
            "hour": purchase.dt.hour,
        }
    )
    out["dist_sp_km"] = _haversine(out["lat"], out["lon"], *SAO_PAULO)
    out = out.set_index(frame["order_id"])
    out = out.join(pay)
    out["payment_type"] = out["payment_type"].astype("category")
    out["promise"] = promise.to_numpy()
    return out


def notebook_features(raw: pd.DataFrame, snaps: pd.DataFrame) -> pd.DataFrame:
    """The baseline's columns for each snapshot (hand-over ones gain two timing columns)."""
    rows = raw.loc[snaps["shipment_id"].to_numpy()].reset_index(drop=True)
    columns = [
        "promise_days",
        "state",
        "lat",
        "lon",
        "dist_sp_km",
        "payment_value",
        "installments",
        "payment_type",
        "month",
        "weekday",
        "hour",
    ]
    x = rows[columns].copy()
    handoff = (snaps["stage"].astype("str") == "PICKED_UP").to_numpy()
    as_of = snaps["as_of"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).to_numpy()
    day = pd.Timedelta(days=1)
    x["handoff_days"] = np.where(handoff, (as_of - rows["purchase"].to_numpy()) / day, np.nan)
    x["days_left"] = np.where(handoff, (rows["promise"].to_numpy() - as_of) / day, np.nan)
    return x


def _haversine(lat: pd.Series, lon: pd.Series, lat0: float, lon0: float) -> np.ndarray:
    p1, p2 = np.radians(lat.to_numpy(float)), np.radians(lat0)
    dlat, dlon = p2 - p1, np.radians(lon0 - lon.to_numpy(float))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * 6371 * np.arcsin(np.sqrt(a))


def baseline_scores(
    x: pd.DataFrame, y: np.ndarray, days: np.ndarray, fit: np.ndarray, seed: int, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Late probability and (n, 3) quantiles of days left, fitted on the `fit` rows."""
    common = {"random_state": seed, "verbose": -1, "n_jobs": threads or -1}
    clf = lgb.LGBMClassifier(**common).fit(x[fit], y[fit])
    known = fit & np.isfinite(days)
    quantiles = np.column_stack(
        [
            lgb.LGBMRegressor(objective="quantile", alpha=q, **common)
            .fit(x[known], days[known])
            .predict(x)
            for q in (0.1, 0.5, 0.9)
        ]
    )
    return clf.predict_proba(x)[:, 1], np.sort(quantiles, axis=1)


def stage_figures(
    late: np.ndarray, risk: np.ndarray, days: np.ndarray, quantiles: np.ndarray
) -> dict[str, float]:
    """ROC-AUC, PR-AUC, P50 MAE (days) and P10-P90 coverage of one stage's rows."""
    has = np.isfinite(days)
    truth, q = days[has], quantiles[has]
    return {
        "roc_auc": float(roc_auc_score(late, risk)),
        "pr_auc": float(average_precision_score(late, risk)),
        "mae_d": float(np.mean(np.abs(q[:, 1] - truth))),
        "coverage": float(np.mean((truth >= q[:, 0]) & (truth <= q[:, 2]))),
    }


def measure(directory: Path, seed: int, threads: int = 0) -> list[dict[str, object]]:
    """Pipeline and baseline figures per stage for one seed (threads 0: all cores)."""
    data = load_data("olist", directory)
    base = TrainConfig.for_source("olist")
    config = dataclasses.replace(
        base,
        params=dataclasses.replace(base.params, seed=seed, threads=threads),
        eta_params=dataclasses.replace(base.eta_params, seed=seed, threads=threads),
        seed=seed,
        refit=False,  # the backtest is what is compared; the refit learns the evaluation
    )
    result = train(data, config)
    frame = result.evaluation.frame
    window = window_of(data, config)
    snaps = sample_snapshots(data.tables, data.now, config.plan)
    split = window.split(snaps, data.tables.shipments)
    lab = labels(snaps, data.tables.shipments, data.now)
    x = notebook_features(raw_orders(directory), snaps)
    y = lab["late"].to_numpy(bool)
    days = lab["remaining_h"].to_numpy(float) / 24
    fit = split.train | split.calibrate
    stage = snaps["stage"].astype("str").to_numpy()
    rows: list[dict[str, object]] = []
    variants = {"baseline": x, "baseline without month": x.drop(columns=["month"])}
    for model, columns in variants.items():
        risk, quantiles = baseline_scores(columns, y, days, fit, seed, threads)
        for code, name in STAGES.items():
            mine = split.evaluate & (stage == code)
            rows.append(
                {"stage": name, "model": model, "seed": seed}
                | stage_figures(y[mine], risk[mine], days[mine], quantiles[mine])
            )
    for code, name in STAGES.items():
        ours = frame[frame["stage"] == code]
        q = ours[["eta_p10_h", "eta_p50_h", "eta_p90_h"]].to_numpy() / 24
        rows.append(
            {"stage": name, "model": "pipeline", "seed": seed}
            | stage_figures(
                ours["late"].to_numpy(bool),
                ours["risk"].to_numpy(),
                ours["remaining_h"].to_numpy(float) / 24,
                q,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", nargs="?", type=Path, default=Path("../shared/data/olist"))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 7])
    args = parser.parse_args()
    if not (args.directory / "olist_orders_dataset.csv").exists():
        print(f"no Olist data in {args.directory}: nothing to measure")
        return
    rows = pd.DataFrame([r for seed in args.seeds for r in measure(args.directory, seed)])
    metrics = ["roc_auc", "pr_auc", "mae_d", "coverage"]
    seeds = " ".join(str(s) for s in args.seeds)
    for name in STAGES.values():
        print(f"\n{name}: mean (spread = max - min over seeds {seeds})\n")
        print("| model | ROC-AUC | PR-AUC | ETA P50 MAE (days) | P10-P90 coverage |")
        print("|---|---:|---:|---:|---:|")
        for model in ("pipeline", "baseline", "baseline without month"):
            mine = rows[(rows["stage"] == name) & (rows["model"] == model)]
            cells = " | ".join(
                f"{mine[m].mean():.3f} ({mine[m].max() - mine[m].min():.3f})" for m in metrics
            )
            print(f"| {model} | {cells} |")


if __name__ == "__main__":
    main()
