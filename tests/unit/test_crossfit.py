"""Cross-fitted calibration over time blocks (training/crossfit.py) on data with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training.crossfit import cross_fit_eta, cross_fit_risk, time_blocks
from training.models import BoosterParams, EtaModel, RiskModel, refit_booster

PARAMS = BoosterParams(num_leaves=7, learning_rate=0.1, n_rounds=200, min_child_samples=20)


def _world(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Risk rises with `a`; hours are 10 * b plus noise of spread 5 (P10-P90 ~ +/- 6.4)."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.uniform(1, 10, size=n)})
    late = (rng.random(n) < 1 / (1 + np.exp(-2 * x["a"].to_numpy()))).astype(float)
    hours = 10 * x["b"].to_numpy() + rng.normal(0, 5, size=n)
    return x, late, hours


def test_time_blocks_are_consecutive_equal_and_keep_a_shipments_rows_together() -> None:
    created = pd.Series(pd.date_range("2017-01-01", periods=100, freq="D", tz="UTC"))
    created = pd.concat([created, created.iloc[[10, 55]]], ignore_index=True)  # repeated rows
    blocks = time_blocks(created, 4)
    assert sorted(np.unique(blocks)) == [0, 1, 2, 3]
    order = np.argsort(created.to_numpy(), kind="stable")
    assert (np.diff(blocks[order]) >= 0).all()  # later shipments never in an earlier block
    assert blocks[100] == blocks[10] and blocks[101] == blocks[55]
    counts = np.bincount(blocks[:100])
    assert counts.min() >= 24 and counts.max() <= 26


def test_refit_booster_scales_the_early_stopped_rounds_with_the_rows() -> None:
    x, late, _ = _world(2000, 1)
    model = RiskModel(PARAMS).fit(x[:1000], late[:1000], x[1000:1500], late[1000:1500])
    assert model.booster_ is not None
    rounds = model.booster_.best_iteration or model.booster_.current_iteration()
    refit = refit_booster(PARAMS, {"objective": "binary"}, model.booster_, x, late, 1000)
    assert refit.current_iteration() == max(1, round(rounds * 2))


def test_cross_fit_risk_returns_honest_held_out_scores_and_keeps_a_working_model() -> None:
    x, late, _ = _world(4000, 2)
    model = RiskModel(PARAMS).fit(x[:2000], late[:2000], x[2000:3000], late[2000:3000])
    blocks = np.repeat(np.arange(5), 600)
    held_out = cross_fit_risk(model, x[:3000], late[:3000], blocks, 2000)
    assert held_out.shape == (3000,) and ((held_out >= 0) & (held_out <= 1)).all()
    assert roc_auc_score(late[:3000], held_out) > 0.7
    fresh = model.predict(x[3000:])
    assert roc_auc_score(late[3000:], fresh) > 0.7
    # Calibrated on held-out scores: the mean risk on fresh rows matches their late rate.
    assert abs(fresh.mean() - late[3000:].mean()) < 0.04


def test_cross_fit_eta_margins_cover_fresh_rows_at_the_nominal_level() -> None:
    x, _, hours = _world(6000, 3)
    eta = EtaModel(PARAMS, coverage=0.8).fit(
        x[:2000], hours[:2000], x[2000:3000], hours[2000:3000], np.full(1000, "S")
    )
    cross_fit_eta(
        eta, x[:4000], hours[:4000], np.full(4000, "S"), np.repeat(np.arange(4), 1000), 2000
    )
    assert set(eta.margins_) == {"*", "S"}
    bands = eta.predict(x[4000:], np.full(2000, "S"))
    covered = (hours[4000:] >= bands[:, 0]) & (hours[4000:] <= bands[:, 2])
    assert covered.mean() == pytest.approx(0.8, abs=0.04)
    assert (np.diff(bands, axis=1) >= 0).all()


def test_cross_fit_refuses_an_unfitted_model() -> None:
    x, late, hours = _world(100, 4)
    blocks = np.zeros(100, dtype=np.int64)
    with pytest.raises(RuntimeError, match="not fitted"):
        cross_fit_risk(RiskModel(PARAMS), x, late, blocks, 100)
    with pytest.raises(RuntimeError, match="not fitted"):
        cross_fit_eta(EtaModel(PARAMS), x, hours, np.full(100, "S"), blocks, 100)
