"""Compiled trees score as LightGBM does: raw scores on random matrices (missing values,
categories never seen, values far outside training), and a whole predictor's answers."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from training.compiled import Trees, compile_all

TOLERANCE = 1e-9  # the sum over trees is rounded in another order; nothing else differs


def booster(objective: str, rng: np.random.Generator) -> lgb.Booster:
    """A booster with numeric and categorical splits, trained with missing values."""
    n = 4_000
    x = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.exponential(size=n),
            "kind": pd.Categorical(rng.choice(list("pqrstu"), size=n)),
            "c": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        }
    )
    signal = x["a"] + (x["kind"].isin(["p", "t"])) * 1.5 + np.nan_to_num(x["c"]) * x["b"]
    y = (signal + rng.normal(size=n) > 1).astype(int) if objective == "binary" else signal
    params = {"objective": objective, "num_leaves": 15, "verbose": -1, "max_cat_to_onehot": 2}
    if objective == "quantile":
        params["alpha"] = 0.9
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=60)


def random_matrix(rng: np.random.Generator, rows: int) -> np.ndarray:
    """LightGBM's float encoding, with NaN, unseen category positions and wild values."""
    out = rng.normal(scale=3.0, size=(rows, 4))
    out[:, 2] = rng.integers(-2, 9, size=rows)  # positions 6-8: never seen; negative: missing
    out[rng.random(out.shape) < 0.15] = np.nan
    out[rng.random(out.shape) < 0.01] = 1e12
    return out


@pytest.mark.parametrize("objective", ["binary", "quantile"])
def test_compiled_raw_scores_equal_lightgbm(tmp_path: Path, objective: str) -> None:
    rng = np.random.default_rng(7)
    model = booster(objective, rng)
    trees = Trees(model)
    x = random_matrix(rng, 50_000)  # above one thread's share: the threaded path too
    before = trees.raw(x)
    assert not trees.ready
    assert trees.compile(tmp_path)
    assert trees.ready
    expected = model.predict(x, raw_score=True)
    np.testing.assert_allclose(before, expected, rtol=0, atol=0)
    np.testing.assert_allclose(trees.raw(x), expected, rtol=0, atol=TOLERANCE)
    for row in x[:50]:  # one row at a time, as a single request scores
        np.testing.assert_allclose(trees.raw(row[None]), model.predict(row[None], raw_score=True),
                                   rtol=0, atol=TOLERANCE)  # fmt: skip
    assert trees.raw(x[:0]).shape == (0,)


def test_cache_is_reused_and_names_the_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    first, second = booster("binary", rng), booster("binary", rng)
    assert compile_all([Trees(first)], tmp_path)
    cached = sorted(tmp_path.glob("*.o"))
    assert len(cached) == 1
    again = Trees(first)
    assert again.compile(tmp_path)  # from the cache: no second file
    assert sorted(tmp_path.glob("*.o")) == cached
    assert Trees(second).compile(tmp_path)
    assert len(list(tmp_path.glob("*.o"))) == 2
    x = random_matrix(rng, 1_000)
    np.testing.assert_allclose(again.raw(x), first.predict(x, raw_score=True), atol=TOLERANCE)


def test_a_predictor_answers_the_same_compiled(trained, small_data, tmp_path) -> None:
    from training.dataset import sample_snapshots
    from training.predictor import Predictor

    bundle = trained.predictor.save(tmp_path / "bundle")
    plain, compiled = Predictor.load(bundle), Predictor.load(bundle)
    assert compiled.compile_trees(tmp_path / "trees") and compiled.trees_compiled
    assert not plain.trees_compiled
    tables = small_data.tables
    snapshots = sample_snapshots(tables, small_data.now).sample(5_000, random_state=0)
    snapshots = snapshots[["shipment_id", "as_of"]].reset_index(drop=True)
    expected, got = plain.predict(tables, snapshots), compiled.predict(tables, snapshots)
    assert expected["reason_1"].notna().sum() > 500  # what-ifs explained many rows
    np.testing.assert_allclose(got["risk"], expected["risk"], rtol=0, atol=1e-9)
    for name in ("eta_p10", "eta_p50", "eta_p90"):
        gap = (got[name] - expected[name]).abs().max()
        assert gap <= pd.Timedelta(microseconds=1), name
    # Reasons: the same codes, shares equal to float rounding.
    for k in (1, 2, 3):
        pd.testing.assert_series_equal(got[f"reason_{k}"], expected[f"reason_{k}"])
        np.testing.assert_allclose(
            got[f"reason_{k}_share"].fillna(0), expected[f"reason_{k}_share"].fillna(0), atol=1e-9
        )
