"""The notebook baseline on real Olist orders (bench/bench_olist_baseline.py), one seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_the_baseline_bench_compares_pipeline_and_notebook_on_the_same_orders(shared_data):
    from bench.bench_olist_baseline import measure, raw_orders

    orders = shared_data / "olist"
    raw = raw_orders(orders)
    # The notebook's columns, read from the raw CSVs, not from the canonical tables.
    assert {"promise_days", "dist_sp_km", "installments", "payment_type", "hour"} <= set(raw)
    assert raw.loc[raw["state"] == "SP", "dist_sp_km"].median() < 200

    rows = pd.DataFrame(measure(orders, seed=7, threads=1))
    assert set(rows["model"]) == {"pipeline", "baseline", "baseline without month"}
    assert set(rows["stage"]) == {"purchase", "handoff"}
    metrics = rows[["roc_auc", "pr_auc", "mae_d", "coverage"]].to_numpy(float)
    assert np.isfinite(metrics).all() and (metrics[:, [0, 1, 3]] <= 1).all()
    by = rows.set_index(["stage", "model"])
    for stage in ("purchase", "handoff"):
        best = by.loc[(stage, slice(None)), "roc_auc"].drop(index=(stage, "pipeline")).max()
        assert by.loc[(stage, "pipeline"), "roc_auc"] > best


def test_hand_over_rows_know_the_hand_over_and_purchase_rows_do_not(shared_data):
    from bench.bench_olist_baseline import notebook_features, raw_orders

    raw = raw_orders(shared_data / "olist")
    ids = raw.index[raw["carrier"].notna()][:5]
    purchase = pd.DataFrame(
        {"shipment_id": ids, "as_of": pd.Timestamp("2017-06-01", tz="UTC"), "stage": "CREATED"}
    )
    handoff = purchase.assign(stage="PICKED_UP")
    assert notebook_features(raw, purchase)["handoff_days"].isna().all()
    assert notebook_features(raw, handoff)["days_left"].notna().all()
