"""What-if reasons: exact on an additive model, typical values from on-time parcels."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from training.compiled import Trees
from training.whatif import Typical, what_if_effects

pytestmark = pytest.mark.unit


def test_typical_takes_medians_modes_and_missing_when_most_are(tmp_path):
    x = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 10.0],
            "b": pd.Categorical(["HUB_IN", "HUB_IN", "HUB_OUT", None]),
            "c": [np.nan, np.nan, np.nan, 5.0],
        }
    )
    typical = Typical.fit(x)
    assert typical.by_feature == {"a": 2.5, "b": "HUB_IN", "c": None}
    typical.write(tmp_path)
    assert Typical.read(tmp_path) == typical
    assert Typical.read(tmp_path / "absent") is None
    columns = typical.columns(["a", "b", "c"], frozenset({"b"}))
    assert columns["b"].dtype == object and np.isnan(columns["c"][0])


def test_effects_split_an_additive_model_exactly():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5_000, 4))
    logit = 1.5 * x[:, 0] - 1.0 * x[:, 1] + 0.8 * x[:, 2]  # column 3 is noise
    y = rng.random(len(x)) < 1 / (1 + np.exp(-logit))
    # Stumps: every tree splits on one feature, so the model adds up feature by feature.
    params = {"objective": "binary", "num_leaves": 2, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, y.astype(float)), num_boost_round=200)
    typical = np.zeros(4)
    groups = [np.array([0]), np.array([1, 2]), np.array([3])]
    rows = x[:300]
    effects = what_if_effects(Trees(booster).raw, rows, typical, groups)
    raw = booster.predict(rows, raw_score=True)
    floor = booster.predict(typical[None], raw_score=True)[0]
    np.testing.assert_allclose(effects.sum(axis=1), raw - floor, atol=1e-9)
    assert np.abs(effects[:, 2]).mean() < 0.1 * np.abs(effects[:, 0]).mean()
    # The first feature pushes up exactly where it is above typical.
    assert ((effects[:, 0] > 0) == (rows[:, 0] > 0)).mean() > 0.95


def test_effects_are_the_same_in_one_batch_or_many(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2_000, 3))
    y = (x[:, 0] * x[:, 1] + rng.normal(size=len(x))) > 0
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, y.astype(float)), num_boost_round=50)
    groups = [np.array([0]), np.array([1]), np.array([2])]
    whole = what_if_effects(Trees(booster).raw, x[:500], np.zeros(3), groups)
    import training.whatif as whatif

    monkeypatch.setattr(whatif, "BATCH_ROWS", 60)  # 10 rows per call
    np.testing.assert_allclose(
        what_if_effects(Trees(booster).raw, x[:500], np.zeros(3), groups), whole
    )
    assert what_if_effects(Trees(booster).raw, x[:0], np.zeros(3), groups).shape == (0, 3)


def test_effects_equal_the_two_what_ifs_of_every_row_when_rows_share_values():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3_000, 5))
    y = (x[:, 0] + x[:, 1] * x[:, 3] + rng.normal(size=len(x))) > 0
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(x, y.astype(float)), num_boost_round=40)
    raw = Trees(booster).raw
    rows = x[:400].copy()
    # Reasons whose values repeat across parcels (a day's calendar, a region's weather),
    # missing values among them, and a zero of either sign (equal, not the same bits).
    rows[:, 1] = rng.choice([-1.0, 0.5, np.nan], len(rows))
    rows[:, 2] = rng.choice([0.0, -0.0, 2.0], len(rows))
    rows[:, 4] = 1.25
    typical = np.array([0.0, 0.5, 0.0, np.nan, 1.0])
    groups = [np.array([0]), np.array([1, 2]), np.array([3, 4])]
    base = raw(rows)
    floor = raw(typical[None])[0]
    want = np.zeros((len(rows), len(groups)))
    for r, columns in enumerate(groups):
        made_typical, alone = rows.copy(), np.tile(typical, (len(rows), 1))
        made_typical[:, columns] = typical[columns]
        alone[:, columns] = rows[:, columns]
        want[:, r] = ((base - raw(made_typical)) + (raw(alone) - floor)) / 2
    np.testing.assert_array_equal(what_if_effects(raw, rows, typical, groups), want)
    np.testing.assert_array_equal(what_if_effects(raw, rows[:1], typical, groups), want[:1])
