"""Backtest, then refit for deployment: the registered model learns through the data's end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from training.dataset import labels, sample_snapshots
from training.deployment import HeldOut, RefitRows, refit_for_deployment

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_the_deployed_model_learns_up_to_the_datas_end(trained, small_data):
    assert trained.refitted
    window = trained.window
    learned = pd.Timestamp(trained.predictor.info["window_deployed_train_end"])
    assert window.evaluate_from < learned <= small_data.now
    # The last outcome it learned from is within a day of the data's end (parcels settle
    # every hour of a 60-day world).
    assert small_data.now - learned < pd.Timedelta(days=1)
    assert trained.windows()["window_deployed_train_end"] == learned.isoformat()
    # The backtest's boosters stop where the calibration fold begins.
    assert trained.counts["deployed_train"] > trained.counts["train"] + trained.counts["calibrate"]


def test_the_refit_trains_new_boosters_with_the_backtests_rounds_scaled(trained):
    backtest, deployed = trained.backtest.risk.booster_, trained.predictor.risk.booster_
    assert backtest is not None and deployed is not None and deployed is not backtest
    rounds = backtest.best_iteration or backtest.current_iteration()
    scale = trained.counts["deployed_train"] / trained.counts["train"]
    assert deployed.current_iteration() == max(1, round(rounds * scale))
    assert trained.predictor.model_key != trained.backtest.model_key
    assert 0.1 <= trained.predictor.threshold <= 0.9


def test_the_refit_calibration_is_fitted_on_held_out_scores_of_later_periods(trained, small_data):
    """The deployed map is honest on the evaluation fold, which its map saw only held out."""
    from features.build import build_features
    from training.metrics import expected_calibration_error

    frame = trained.evaluation.frame
    rows = frame[["shipment_id", "as_of"]]
    x = build_features(small_data.tables, rows)[trained.predictor.feature_names]
    late = frame["late"].to_numpy(float)
    # The refit's map, applied to the backtest's held-out scores of the evaluation fold,
    # matches their outcomes better than the backtest's own map did (it was fitted on them).
    raw = trained.backtest.risk.raw(x)
    refit_ece = expected_calibration_error(late, trained.predictor.risk.calibrate(raw))
    backtest_ece = expected_calibration_error(late, trained.backtest.risk.calibrate(raw))
    assert refit_ece <= backtest_ece + 1e-9


def test_no_refit_registers_the_backtest_and_measures_the_same(small_data, fast_config, trained):
    from training.train import train

    plain = train(small_data, dataclasses.replace(fast_config, refit=False))
    assert not plain.refitted and plain.predictor is plain.backtest
    assert plain.predictor.model_key == trained.backtest.model_key
    assert plain.evaluation.metrics == pytest.approx(trained.evaluation.metrics, nan_ok=True)
    assert "window_deployed_train_end" not in plain.predictor.info
    assert plain.windows()["window_deployed_train_end"] == plain.window.evaluate_from.isoformat()


def test_refit_blocks_cross_fits_anew(trained, small_data, fast_config):
    """With k blocks the refit scores every row held out, fitting k boosters per model."""
    from features.build import build_features

    snaps = sample_snapshots(small_data.tables, small_data.now)
    snaps = snaps.sample(20_000, random_state=0).sort_values("as_of").reset_index(drop=True)
    lab = labels(snaps, small_data.tables.shipments, small_data.now)
    x = build_features(small_data.tables, snaps)[trained.predictor.feature_names]
    ships = small_data.tables.shipments.set_index("shipment_id")
    hours = lab["remaining_h"].to_numpy(float)
    rows = RefitRows(
        x=x,
        late=lab["late"].to_numpy(float),
        remaining_h=hours,
        shipment_id=snaps["shipment_id"].to_numpy(),
        created_at=snaps["shipment_id"].map(ships["created_at"]),
        rows=lab["known"].to_numpy(),
        eta_rows=np.isfinite(hours),
    )
    deployed = refit_for_deployment(
        trained.backtest, rows, HeldOut.empty(len(snaps)), 3, (10_000, 10_000), 0.5, {}
    )
    assert deployed.risk.calibration_x_ is not None and len(deployed.risk.calibration_x_) > 2
    assert set(deployed.eta.margins_) >= {"*"}
    with pytest.raises(ValueError, match="0 or at least 2"):
        refit_for_deployment(
            trained.backtest, rows, HeldOut.empty(len(snaps)), 1, (10_000, 10_000), 0.5, {}
        )


def test_a_short_calibration_fold_is_cross_fitted_by_default():
    from training.config import TrainConfig

    assert TrainConfig().blocks_for(30.0) == 4  # a 4-month world's month of calibration
    assert TrainConfig().blocks_for(98.0) == 0  # the 13-month default world's
    assert TrainConfig(cross_fit_blocks=0).blocks_for(10.0) == 0
    assert TrainConfig.for_source("olist").blocks_for(61.0) == 5


def test_a_cross_fitted_backtest_feeds_the_refit_its_held_out_blocks(small_data, fast_config):
    """Cross-fitted: every row before evaluation is scored held out; the refit needs no fit
    of its own beyond the final boosters."""
    from training.train import train

    config = dataclasses.replace(fast_config, cross_fit_blocks=3, oracle=False)
    result = train(small_data, config)
    assert result.backtest.info["cross_fit_blocks"] == 3
    assert "cross-fit" in result.timings
    # The backtest's boosters learned from the train and calibration folds both.
    rounds = result.backtest.risk.booster_.current_iteration()
    assert rounds > 0 and result.refitted
    metrics = result.evaluation.metrics
    assert 0.5 < metrics["risk_roc_auc"] <= 1 and metrics["risk_ece"] < 0.1
    assert 0.6 < metrics["eta_p10_p90_coverage"] < 1
