"""Early stopping after the fact picks the round LightGBM's own early stopping picks."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from scale.boosting import stopping_round

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "objective", [{"objective": "binary"}, {"objective": "quantile", "alpha": 0.9}]
)
@pytest.mark.parametrize("patience", [1, 2, 10])
def test_stopping_round_is_lightgbms_best_iteration(objective, patience) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4_000, 6))
    signal = x[:, 0] + 0.5 * x[:, 1]
    if objective["objective"] == "binary":
        y = (signal + rng.normal(scale=1.5, size=len(x)) > 0).astype(float)
    else:
        y = signal + rng.gamma(2.0, size=len(x))
    params = {**objective, "learning_rate": 0.1, "num_leaves": 31, "verbosity": -1, "seed": 1}
    # A small validation fold: a noisy loss curve, whose early dips test the patience.
    train, valid = slice(0, 3_000), slice(3_000, 3_300)
    stopped = lgb.train(
        params,
        lgb.Dataset(x[train], y[train]),
        num_boost_round=200,
        valid_sets=[lgb.Dataset(x[valid], y[valid])],
        callbacks=[lgb.early_stopping(patience, verbose=False)],
    )
    assert stopped.best_iteration < 200  # overfits early at this learning rate
    full = lgb.train(params, lgb.Dataset(x[train], y[train]), num_boost_round=200)
    assert stopping_round(full, x[valid], y[valid], params, patience) == stopped.best_iteration
