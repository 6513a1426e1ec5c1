"""The Dask engine gives what one process gives: context, features, scores, and training.

A local cluster of two worker processes, as the engine would use on any cluster: data is
pickled to the workers, and LightGBM trains across the two over its own sockets.
"""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.context import Bounds, build_context
from scale.cluster import dask_client
from scale.engine import DaskEngine
from scale.partitions import PartitionedTables, split
from training.dataset import sample_snapshots
from training.scoring import score

pytestmark = [pytest.mark.dask, pytest.mark.slow]


@pytest.fixture(scope="module")
def engine():
    with dask_client(workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        yield DaskEngine(client, partitions=5)


def _same_context(got, want) -> None:
    assert got.as_of == want.as_of
    assert got.hub_load.first_hour == want.hub_load.first_hour
    for name, values in want.hub_load.cum.items():
        np.testing.assert_allclose(got.hub_load.cum[name], values, rtol=1e-9, atol=1e-6)
    assert set(got.series) == set(want.series)
    for name, series in want.series.items():
        mine = got.series[name]
        assert mine.first_day == series.first_day
        assert list(mine.keys) == list(series.keys), name
        for k, values in series.sums.items():
            # float32 sums, added in another order: counts exact, hours within rounding.
            np.testing.assert_allclose(mine.sums[k], values, rtol=1e-6, atol=1e-2, err_msg=name)


@pytest.mark.parametrize("as_of", [None, "2025-08-10T05:30:00Z"])
def test_context_equals_one_process(engine, small_data, as_of) -> None:
    when = None if as_of is None else pd.Timestamp(as_of)
    _same_context(engine.context(small_data.tables, when), build_context(small_data.tables, when))


def test_context_from_partitions_on_disk_equals_one_process(engine, small_data, tmp_path) -> None:
    parted = PartitionedTables.write(small_data.tables, str(tmp_path / "parts"), 3)
    assert PartitionedTables.open(str(tmp_path / "parts")) == parted
    when = pd.Timestamp("2025-08-20T00:00:00Z")
    _same_context(engine.context(parted, when), build_context(small_data.tables, when))
    bounds = engine.bounds(parted)
    assert bounds == Bounds.of(small_data.tables.shipments, small_data.tables.scan_events)
    assert bounds.time(bounds.last_event) == small_data.tables.scan_events["event_time"].max()


def test_split_keeps_each_parcel_whole_and_in_order(small_data) -> None:
    tables = small_data.tables
    parts = split(tables, 4)
    ids = pd.concat([p.shipments["shipment_id"] for p in parts], ignore_index=True)
    assert ids.tolist() == tables.shipments["shipment_id"].tolist()
    for part in parts:
        mine = set(part.shipments["shipment_id"])
        assert set(part.scan_events["shipment_id"]) <= mine
    assert sum(len(p.scan_events) for p in parts) == len(tables.scan_events)


def test_features_equal_one_process(engine, small_data) -> None:
    tables = small_data.tables
    snaps = sample_snapshots(tables, small_data.now).sample(6_000, random_state=1)
    snaps = snaps[["shipment_id", "as_of"]].reset_index(drop=True)  # shuffled across parts
    got = engine.features(tables, snaps)
    want = build_features(tables, snaps)
    # Categories too: the same categories in the same order as one process makes them.
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6)


def test_scores_equal_one_process(engine, small_data, trained) -> None:
    now = small_data.now - pd.Timedelta(days=3)
    want = score(trained.predictor, small_data.tables, now)
    got = engine.score(trained.predictor, small_data.tables, now)
    assert len(got) == len(want) > 100
    assert got["shipment_id"].tolist() == want["shipment_id"].tolist()  # ties in table order
    np.testing.assert_allclose(got["risk"], want["risk"], rtol=1e-9)
    for column in ("eta_p10", "eta_p50", "eta_p90", "reason_1", "reasons"):
        assert got[column].tolist() == want[column].tolist(), column


def test_predictions_equal_one_process_with_trees_compiled_on_the_workers(
    small_data, trained, tmp_path
) -> None:
    tables = small_data.tables
    snaps = sample_snapshots(tables, small_data.now).sample(8_000, random_state=2)
    snaps = snaps[["shipment_id", "as_of"]].reset_index(drop=True)
    want = trained.predictor.predict(tables, snaps)
    # The trees compiled once here (a copy: the session's predictor stays on LightGBM); the
    # workers load them from the cache, in the background, on their first partition.
    assert pickle.loads(pickle.dumps(trained.predictor)).compile_trees(tmp_path)
    with dask_client(workers=2) as client:
        engine = DaskEngine(client, partitions=4, tree_cache=tmp_path)
        context = engine.context(tables)
        first = engine.predict(trained.predictor, tables, snaps, context)
        deadline = time.monotonic() + 120
        while not _all_loaded(client.run(_scoring_predictors).values()):
            assert time.monotonic() < deadline, "the workers did not load the compiled trees"
            time.sleep(0.5)
        again = engine.predict(trained.predictor, tables, snaps, context)
    for got in (first, again):
        assert got["as_of"].tolist() == want["as_of"].tolist()
        np.testing.assert_allclose(got["risk"], want["risk"], rtol=1e-9, atol=1e-12)
        assert got["reason_1"].fillna("").tolist() == want["reason_1"].fillna("").tolist()
        assert got["eta_p50"].tolist() == want["eta_p50"].tolist()


def _scoring_predictors(dask_worker) -> tuple[int, int]:
    """On a worker (client.run passes it): of the predictors it scored with, how many, and
    how many are compiled (a worker the scheduler gave no partition holds one unused)."""
    from scale.engine import _COMPILING
    from training.predictor import Predictor

    held = [v for v in dask_worker.data.values() if isinstance(v, Predictor)]
    scored = [p for p in held if id(p) in _COMPILING]
    return len(scored), sum(p.trees_compiled for p in scored)


def _all_loaded(counts) -> bool:
    """Some worker scored, and every predictor a worker scored with is compiled."""
    pairs = list(counts)
    return sum(n for n, _ in pairs) > 0 and all(n == done for n, done in pairs)


def test_training_matches_one_process(engine, small_data, fast_config, trained) -> None:
    from training.train import train

    on_dask = train(small_data, fast_config, engine=engine)
    assert on_dask.engine == "dask" and trained.engine == "local"
    local, dask = trained.evaluation.metrics, on_dask.evaluation.metrics
    assert abs(dask["risk_roc_auc"] - local["risk_roc_auc"]) <= 0.005
    assert abs(dask["eta_p50_mae_h"] / local["eta_p50_mae_h"] - 1) <= 0.02
