"""Batch scoring at the pace of the features: `Predictor.predict` against `build_features`.

Run after `make demo` (the champion in ./mlflow.db, the default world in data/simulated):
`.venv/bin/python -m bench.bench_batch [--rows 80000]`. On the same snapshots, in one run:
`build_features` alone, the four boosters alone and `Predictor.predict` whole (features, boosters,
reasons for the rows that need them), on LightGBM and then on the compiled trees
(training/compiled.py), and the reasons as TreeSHAP would give them. Then the
reasons' agreement: with TreeSHAP's, and with the simulator's hidden causes on the snapshots
that were late and flagged (the `reason_agreement` training logs). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from contract.tables import Tables
from features.build import build_features
from sources.synthetic import read_hidden_causes
from training.config import CHAMPION, REGISTERED_MODEL, TrackingConfig
from training.dataset import labels, sample_snapshots
from training.reasons import agreement, naming
from training.tracking import load_predictor

DATA = Path("data/simulated")


def _timed(fn, repeat: int = 2) -> tuple[float, object]:
    """Best of `repeat` runs (the first warms caches), and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=80_000)
    args = parser.parse_args()
    tables = Tables.read(DATA)
    tracking = TrackingConfig()
    from training.tracking import connect

    connect(tracking)
    predictor = load_predictor(f"models:/{REGISTERED_MODEL}@{CHAMPION}")
    now = tables.scan_events["event_time"].max()
    snaps = sample_snapshots(tables, now).sample(args.rows, random_state=0)
    snaps = snaps.sort_values(["shipment_id", "as_of"]).reset_index(drop=True)
    snapshots = snaps[["shipment_id", "as_of"]]
    context = predictor.context

    t_features, x = _timed(lambda: build_features(tables, snapshots, context))
    x = x[predictor.feature_names]
    t_boosters_lgb, _ = _timed(lambda: predictor.predict_features(x, snapshots["as_of"], False))
    t_predict_lgb, out_lgb = _timed(lambda: predictor.predict(tables, snapshots, context))
    started = time.perf_counter()
    if not predictor.compile_trees():
        raise SystemExit("the trees did not compile (see the log): is lleaves installed?")
    t_compile = time.perf_counter() - started
    t_boosters, _ = _timed(lambda: predictor.predict_features(x, snapshots["as_of"], False))
    t_predict, out = _timed(lambda: predictor.predict(tables, snapshots, context))
    need = out["risk"].to_numpy() >= min(0.2, predictor.threshold)
    t_shap, shap = _timed(lambda: predictor.shap_reasons(x[need]), repeat=1)
    rows = len(snapshots)
    print(f"\n{rows:,} snapshots of the default world, {int(need.sum()):,} needing reasons")
    print(f"Compiling the four boosters (or loading them from the cache): {t_compile:.1f} s\n")
    print("| Step | Seconds | Rows/s | vs build_features |")
    print("|---|---:|---:|---:|")
    for name, seconds in (
        ("build_features", t_features),
        ("four boosters, no reasons (LightGBM)", t_boosters_lgb),
        ("four boosters, no reasons (compiled)", t_boosters),
        ("Predictor.predict on LightGBM (features, boosters, what-if reasons)", t_predict_lgb),
        ("Predictor.predict compiled (features, boosters, what-if reasons)", t_predict),
        ("TreeSHAP reasons alone (rows needing them)", t_shap),
    ):
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} | {t_features / seconds:.2f}x |")

    risk_gap = np.abs(out["risk"].to_numpy() - out_lgb["risk"].to_numpy()).max()
    same_reasons = (out["reason_1"].fillna("") == out_lgb["reason_1"].fillna("")).mean()
    print(f"\nCompiled vs LightGBM: largest risk difference {risk_gap:.1e}, same top reason "
          f"{same_reasons:.4f}")  # fmt: skip
    mine = out.loc[need, ["reason_1", "reason_2"]].reset_index(drop=True)
    same = (mine["reason_1"] == shap["reason_1"]).mean()
    pairs = zip(mine["reason_1"], shap["reason_1"], shap["reason_2"], strict=True)
    in_two = np.mean([a in (b, c) for a, b, c in pairs])
    lab = labels(snaps, tables.shipments, now)
    late_flagged = (lab["late"].to_numpy() == 1) & out["at_risk"].to_numpy()
    causes = read_hidden_causes(DATA)
    touched = causes[causes["delay_h"] > 0]
    by_parcel = touched.groupby("shipment_id")["cause"].agg(lambda c: set(c.astype(str)))
    per_row = pd.Series(snaps.loc[late_flagged, "shipment_id"].map(by_parcel).to_numpy())
    with_shap = predictor.shap_reasons(x[late_flagged])
    print("\n| Reasons | Agreement |")
    print("|---|---:|")
    print(f"| what-if top reason = TreeSHAP top reason | {same:.3f} |")
    print(f"| what-if top reason in TreeSHAP's top two | {in_two:.3f} |")
    what_if = out.loc[late_flagged].reset_index(drop=True)
    print(f"| hidden causes, what-if (late and flagged: {late_flagged.sum():,}) | "
          f"{agreement(what_if, per_row):.3f} |")  # fmt: skip
    print(f"| hidden causes, TreeSHAP (same rows) | {agreement(with_shap, per_row):.3f} |")
    _misses(what_if, per_row, snaps.loc[late_flagged, "stage"].to_numpy())


def _misses(reasons: pd.DataFrame, causes: pd.Series, stages: np.ndarray) -> None:
    """The late and flagged rows whose top two reasons name none of their hidden causes."""
    rows = []
    firsts, seconds = reasons["reason_1"].tolist(), reasons["reason_2"].tolist()
    for i, found in enumerate(causes):
        if not isinstance(found, set) or not found:
            continue
        if naming(found).isdisjoint({firsts[i], seconds[i]}):
            rows.append(("+".join(sorted(found)), firsts[i], stages[i]))
    if not rows:
        return
    misses = pd.DataFrame(rows, columns=["causes", "reason", "stage"])
    print(f"\nNot named ({len(misses):,} rows), by hidden causes: top reason given, stage then")
    print("\n| hidden causes | rows | top reason given (most often) | stage (most often) |")
    print("|---|---:|---|---|")
    for cause, group in sorted(misses.groupby("causes"), key=lambda g: -len(g[1]))[:8]:
        reason = group["reason"].value_counts().index[0]
        stage = group["stage"].value_counts().index[0]
        print(f"| {cause} | {len(group):,} | {reason} | {stage} |")


if __name__ == "__main__":
    main()
