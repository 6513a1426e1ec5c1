"""The learners on a small world: calibrated risk, monotone conformal ETA, a bundle that round-trips."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from training.metrics import expected_calibration_error
from training.models import QUANTILES, BoosterParams, RiskModel
from training.predictor import STAGE_FEATURE, Predictor

pytestmark = pytest.mark.model


def _groups(x: pd.DataFrame) -> np.ndarray:
    return x[STAGE_FEATURE].astype("str").to_numpy()


def test_folds_are_large_enough_and_rebuilt_like_train(trained, folds):
    counts = trained.counts
    assert counts["train"] == folds.train.sum()
    assert counts["calibrate"] == folds.calibrate.sum()
    assert counts["evaluate"] == folds.evaluate.sum()
    assert not (folds.train & folds.calibrate).any() and not (folds.calibrate & folds.evaluate).any()
    # Each fold holds thousands of snapshots with both classes, so the metrics below mean something.
    for mask in (folds.train, folds.calibrate, folds.evaluate):
        assert mask.sum() >= 5_000
        assert 0.02 < folds.late[mask].mean() < 0.4
    assert folds.calibrate_eta.sum() >= 2_000
    assert not (folds.calibrate_eta & ~folds.calibrate).any()


def test_calibrated_risk_has_low_ece_on_the_calibration_fold(trained, folds):
    risk = trained.predictor.risk
    x, y = folds.x[folds.calibrate], folds.late[folds.calibrate]
    raw, calibrated = risk.raw(x), risk.predict(x)
    assert ((calibrated >= 0) & (calibrated <= 1)).all()
    assert expected_calibration_error(y, calibrated) < 0.03
    # Isotonic regression is the least-squares monotone map of the raw score: on the fold it
    # was fitted on it can only lower the Brier score (the identity map is a candidate).
    assert np.mean((calibrated - y) ** 2) <= np.mean((raw - y) ** 2) + 1e-12
    assert calibrated.mean() == pytest.approx(y.mean(), abs=0.005)


def test_calibrated_risk_is_monotone_in_the_raw_score(trained, folds):
    risk = trained.predictor.risk
    raw = risk.raw(folds.x[folds.calibrate | folds.evaluate])
    order = np.argsort(raw, kind="stable")
    assert (np.diff(risk.calibrate(raw)[order]) >= 0).all()
    grid = np.linspace(0.0, 1.0, 2_001)
    mapped = risk.calibrate(grid)
    assert (np.diff(mapped) >= 0).all() and mapped.min() >= 0 and mapped.max() <= 1
    assert mapped[-1] > mapped[0], "the calibration map is not constant"


def test_eta_quantiles_are_ordered_and_non_negative_for_every_row(trained, folds):
    hours = trained.predictor.eta.predict(folds.x, _groups(folds.x))
    assert hours.shape == (len(folds.x), len(QUANTILES))
    assert np.isfinite(hours).all() and (hours >= 0).all()
    assert (hours[:, 0] <= hours[:, 1]).all() and (hours[:, 1] <= hours[:, 2]).all()
    assert (hours[:, 2] - hours[:, 0]).mean() > 1.0, "the P10-P90 band is not degenerate"


def test_eta_timestamps_are_ordered_and_not_before_as_of(trained, folds):
    rows = folds.snapshots.index[folds.evaluate][:3_000]
    out = trained.predictor.predict_features(
        folds.x.loc[rows], folds.snapshots.loc[rows, "as_of"], reasons=False
    )
    assert (out["eta_p10"] >= out["as_of"]).all()
    assert (out["eta_p10"] <= out["eta_p50"]).all() and (out["eta_p50"] <= out["eta_p90"]).all()


def test_conformal_margins_give_nominal_coverage_on_the_calibration_fold(trained, folds):
    eta = trained.predictor.eta
    mask = folds.calibrate_eta
    x, y = folds.x[mask], folds.remaining_h[mask]
    assert np.isfinite(y).all()
    groups = _groups(x)
    q = eta.predict(x, groups)
    inside = (y >= q[:, 0]) & (y <= q[:, 2])
    assert inside.mean() == pytest.approx(eta.coverage, abs=0.02)
    # Split conformal guarantees at least nominal coverage on the data the margin was set on,
    # for every stage group with its own margin.
    own = [g for g in eta.margins_ if g != "*"]
    assert own, "no stage group had enough calibration rows for its own margin"
    for group in own:
        assert inside[groups == group].mean() >= eta.coverage - 1e-9, group


def test_evaluation_fold_coverage_is_reported(trained, folds):
    metrics = trained.evaluation.metrics
    reported = metrics["eta_p10_p90_coverage"]
    assert 0.0 < reported < 1.0
    frame = trained.evaluation.frame
    known = frame[frame["remaining_h"].notna()]
    inside = known["remaining_h"].between(known["eta_p10_h"], known["eta_p90_h"])
    assert reported == pytest.approx(inside.mean())
    # The same number from the ETA model directly on the evaluation fold's features.
    mask = folds.evaluate & np.isfinite(folds.remaining_h)
    q = trained.predictor.eta.predict(folds.x[mask], _groups(folds.x[mask]))
    y = folds.remaining_h[mask]
    assert ((y >= q[:, 0]) & (y <= q[:, 2])).mean() == pytest.approx(reported, abs=0.002)
    assert abs(reported - 0.8) < 0.1, "out-of-time coverage drifted far from nominal"
    stages = trained.evaluation.slices.query("slice == 'stage'")
    assert stages["eta_p10_p90_coverage"].notna().any()


@pytest.mark.parametrize("fold", ["train", "calibration"])
def test_risk_model_refuses_a_fold_with_one_class(fold):
    x = pd.DataFrame({"a": np.arange(400.0), "b": np.arange(400.0) % 7})
    both, one = (np.arange(400) % 2).astype(float), np.zeros(400)
    y_train, y_cal = (one, both) if fold == "train" else (both, one)
    with pytest.raises(ValueError, match=rf"the {fold} fold has only one class \(400 snapshots\)"):
        RiskModel(BoosterParams(n_rounds=5)).fit(x, y_train, x, y_cal)


def test_training_a_world_too_short_names_the_empty_fold(tmp_path):
    from features.sources.synthetic import SimulationConfig, simulate
    from training.config import TrainConfig
    from training.sources import load_data
    from training.train import train

    simulate(SimulationConfig(shipments=200, start=dt.date(2025, 9, 1), days=7, seed=3)).write(
        tmp_path
    )
    with pytest.raises(ValueError, match=r"the \w+ fold is empty"):
        train(load_data("synthetic", tmp_path), TrainConfig(oracle=False))


def test_predictor_save_load_round_trip_gives_identical_predictions(
    trained, folds, small_data, tmp_path
):
    rows = folds.snapshots.index[folds.evaluate]
    snaps = folds.snapshots.loc[rows[::20], ["shipment_id", "as_of"]].reset_index(drop=True)
    path = trained.predictor.save(tmp_path / "bundle")
    assert {"risk.txt", "eta_p10.txt", "eta_p50.txt", "eta_p90.txt", "predictor.json"} <= {
        p.name for p in path.iterdir()
    }
    loaded = Predictor.load(path)
    assert loaded.context is not None
    before = trained.predictor.predict(small_data.tables, snaps)
    after = loaded.predict(small_data.tables, snaps)
    assert len(before) == len(snaps) > 100
    np.testing.assert_array_equal(after["shipment_id"], before["shipment_id"])
    np.testing.assert_array_equal(after["risk"].to_numpy(), before["risk"].to_numpy())
    np.testing.assert_array_equal(after["at_risk"].to_numpy(), before["at_risk"].to_numpy())
    for column in ("as_of", "eta_p10", "eta_p50", "eta_p90"):
        np.testing.assert_array_equal(after[column].to_numpy(), before[column].to_numpy())
    for k in (1, 2, 3):
        # Reason codes are objects with None where fewer reasons push the risk up.
        pd.testing.assert_series_equal(after[f"reason_{k}"], before[f"reason_{k}"])
        np.testing.assert_array_equal(
            after[f"reason_{k}_share"].to_numpy(), before[f"reason_{k}_share"].to_numpy()
        )
    assert before["reason_1"].notna().any()
    assert loaded.threshold == trained.predictor.threshold
    assert loaded.feature_names == trained.predictor.feature_names
    assert loaded.eta.margins_ == pytest.approx(trained.predictor.eta.margins_)


def test_loading_a_directory_without_a_bundle_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Stallguard predictor"):
        Predictor.load(tmp_path)
