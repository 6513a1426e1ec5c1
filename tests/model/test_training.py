"""The learners: calibrated risk, monotone conformal ETA quantiles, a bundle that round-trips."""

import numpy as np
import pandas as pd
import pytest

from training.metrics import expected_calibration_error
from training.models import QUANTILES, RISK_INCREASING, BoosterParams, EtaModel, RiskModel
from training.predictor import Predictor

pytestmark = pytest.mark.model


def test_folds_are_time_ordered_and_all_used(trained):
    w = trained.window
    assert w.start < w.calibrate_from < w.evaluate_from < w.now
    counts = trained.counts
    assert counts["train"] > counts["calibrate"] > 0 and counts["evaluate"] > 0
    folds = counts["train"] + counts["calibrate"] + counts["evaluate"]
    # the rest only feeds the rolling recalibration (parcels still settling at a boundary)
    assert folds + counts["history_only"] == counts["snapshots"]
    assert 0 < counts["history_only"] < folds


def test_risk_is_calibrated_on_its_calibration_fold(trained, small_data, fast_config):
    from features.build import build_features
    from training.dataset import labels, sample_snapshots

    snaps = sample_snapshots(small_data.tables, small_data.now)
    split = trained.window.split(snaps, small_data.tables.shipments)
    cal = snaps[split.calibrate].reset_index(drop=True)
    x = build_features(small_data.tables, cal)[fast_config.feature_names]
    y = labels(cal, small_data.tables.shipments, small_data.now)["late"].to_numpy(float)
    model = trained.backtest.risk  # the refit's map is fitted on other held-out scores
    raw, calibrated = model.raw(x), model.predict(x)
    assert expected_calibration_error(y, calibrated) < 0.02
    assert expected_calibration_error(y, calibrated) < expected_calibration_error(y, raw) + 1e-9
    order = np.argsort(raw)
    assert (np.diff(calibrated[order]) >= -1e-12).all(), "calibration must keep the ranking"


def test_eta_quantiles_are_monotone_non_negative_and_timestamps(trained):
    frame = trained.evaluation.frame
    q = frame[["eta_p10_h", "eta_p50_h", "eta_p90_h"]].to_numpy()
    assert (q >= 0).all()
    assert (q[:, 0] <= q[:, 1]).all() and (q[:, 1] <= q[:, 2]).all()


def test_conformal_margins_reach_nominal_coverage_on_calibration_data():
    rng = np.random.default_rng(0)
    n = 6_000
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = 10 + 3 * x["a"].to_numpy() + rng.gamma(2.0, 2.0, n)  # skewed noise
    train, cal = slice(0, 4_000), slice(4_000, n)
    groups = np.where(x["b"] > 0, "up", "down")
    eta = EtaModel(BoosterParams(n_rounds=40, num_leaves=7), coverage=0.8)
    eta.fit(x[train], y[train], x[cal], y[cal], groups[cal])
    q = eta.predict(x[cal], groups[cal])
    inside = (y[cal] >= q[:, 0]) & (y[cal] <= q[:, 2])
    assert inside.mean() == pytest.approx(0.8, abs=0.02)
    assert set(eta.margins_) == {"*", "up", "down"}


def test_risk_model_refuses_a_fold_with_one_class():
    x = pd.DataFrame({"a": np.arange(300.0)})
    with pytest.raises(ValueError, match="calibration fold has only one class"):
        RiskModel().fit(x, np.arange(300) % 2, x, np.zeros(300))


def test_more_bad_weather_never_lowers_risk(trained, small_data):
    """Monotone constraints: more rain, snow, wind, failed attempts never make a parcel safer."""
    from features.build import build_features

    snaps = trained.evaluation.frame[["shipment_id", "as_of"]].head(2_000)
    rows = build_features(small_data.tables, snaps)[trained.predictor.feature_names]
    before = trained.predictor.risk.predict(rows)
    worse = rows.copy()
    for name in RISK_INCREASING:
        worse[name] = worse[name].fillna(0) + (40.0 if "precip" in name else 1.0)
    after = trained.predictor.risk.predict(worse)
    assert (after >= before - 1e-12).all()
    assert (after > before + 1e-6).mean() > 0.3, "the constraint is not vacuous"


def test_predictor_round_trips_through_a_directory(trained, small_data, tmp_path):
    from training.predictor import latest_snapshots

    tables = small_data.tables
    ships = tables.shipments.head(300)
    subset = tables.replace(
        shipments=ships,
        scan_events=tables.scan_events[
            tables.scan_events["shipment_id"].isin(ships["shipment_id"])
        ],
    )
    snaps = latest_snapshots(subset)
    # The deployed model, and the backtest's, which carries a rolling recalibration too.
    for name, predictor in (("deployed", trained.predictor), ("backtest", trained.backtest)):
        before = predictor.predict(subset, snaps)
        loaded = Predictor.load(predictor.save(tmp_path / name))
        after = loaded.predict(subset, snaps)
        pd.testing.assert_frame_equal(before, after)
        assert loaded.threshold == predictor.threshold
        assert set(QUANTILES) == set(loaded.eta.boosters_)
        assert loaded.recalibration == predictor.recalibration
        assert loaded.model_key == predictor.model_key
    assert trained.backtest.recalibration is not None


def test_bundle_recalibration_is_fitted_at_the_data_end_for_this_model(trained, small_data):
    # A refitted model already learned the latest outcomes: a rolling recalibration fitted on
    # its own training rows would be in-sample, so only the backtest's bundle has one.
    assert trained.predictor.recalibration is None
    recal = trained.backtest.recalibration
    assert recal is not None and recal.model_key == trained.backtest.model_key
    assert pd.Timestamp(recal.fitted_at) == small_data.now
    assert recal.risk_rows > 1_000 and "*" in recal.margins
    # evaluation measured the rolling refit, and kept the static calibration for reference
    metrics = trained.evaluation.metrics
    assert {"risk_ece_static", "eta_p10_p90_coverage_static"} <= set(metrics)
    assert metrics["risk_ece"] != metrics["risk_ece_static"]


def test_recalibration_of_another_model_is_refused(trained, tmp_path):
    import dataclasses

    bundle = trained.backtest.save(tmp_path / "bundle")
    foreign = dataclasses.replace(trained.backtest.recalibration, model_key="0" * 16)
    with pytest.raises(ValueError, match="stallguard recalibrate"):
        Predictor.load(bundle, recalibration=foreign)


def test_refit_from_tables_matches_training_and_moves_with_time(trained, small_data):
    from training.refit import refit

    predictor = trained.backtest
    days = predictor.info["recalibration_days"]
    # what `stallguard recalibrate` computes at the data's end is what training bundled
    assert refit(predictor, small_data.tables, small_data.now, days) == predictor.recalibration
    earlier = small_data.now - pd.Timedelta(days=10)
    before = refit(predictor, small_data.tables, earlier, days)
    assert before is not None and pd.Timestamp(before.fitted_at) == earlier
    assert before.risk_y != predictor.recalibration.risk_y


def test_feature_matrix_gives_lightgbm_s_own_predictions(trained, small_data):
    from features.build import build_features
    from training.dataset import sample_snapshots
    from training.models import feature_matrix

    snaps = sample_snapshots(small_data.tables, small_data.now).sample(500, random_state=0)
    x = build_features(small_data.tables, snaps.reset_index(drop=True))
    x = x[trained.predictor.feature_names]
    booster = trained.predictor.risk.booster_
    matrix = feature_matrix(x, booster.pandas_categorical)
    np.testing.assert_array_equal(booster.predict(matrix), booster.predict(x))
    # an unseen category maps to missing, as LightGBM does
    odd = x.copy()
    column = next(c for c in odd.columns if isinstance(odd[c].dtype, pd.CategoricalDtype))
    odd[column] = pd.Categorical(["never-seen"] * len(odd))
    odd_matrix = feature_matrix(odd, booster.pandas_categorical)
    np.testing.assert_array_equal(booster.predict(odd_matrix), booster.predict(odd))
    # a shared remapping cache must not confuse frames whose categories differ in order or set
    cache: dict = {}
    shuffled = x.copy()
    for c in shuffled.columns:
        if isinstance(shuffled[c].dtype, pd.CategoricalDtype):
            shuffled[c] = shuffled[c].cat.reorder_categories(shuffled[c].cat.categories[::-1])
    one_row = x.iloc[[7]].copy()
    for c in one_row.columns:
        if isinstance(one_row[c].dtype, pd.CategoricalDtype):
            one_row[c] = one_row[c].cat.remove_unused_categories()
    blank = x.iloc[:3].copy()
    blank[column] = pd.Categorical([None] * 3)
    for frame in (x, shuffled, one_row, odd, blank, x):
        matrix = feature_matrix(frame, booster.pandas_categorical, cache)
        np.testing.assert_array_equal(booster.predict(matrix), booster.predict(frame))


def test_serving_path_without_a_frame_equals_the_frame_path(trained, small_data):
    """`predict` goes from feature columns straight to LightGBM's matrix; it must give what
    `build_features` -> `predict_features` (the path training evaluates) gives."""
    from training.dataset import sample_snapshots

    predictor = trained.predictor
    snaps = sample_snapshots(small_data.tables, small_data.now).sample(400, random_state=1)
    snaps = snaps[["shipment_id", "as_of"]].reset_index(drop=True)
    direct = predictor.predict(small_data.tables, snaps)
    x = predictor.features(small_data.tables, snaps)
    framed = predictor.predict_features(x, snaps["as_of"])
    framed.insert(0, "shipment_id", snaps["shipment_id"].to_numpy())
    pd.testing.assert_frame_equal(direct, framed)
    assert direct["reason_1"].notna().any() and direct["risk"].between(0, 1).all()


def test_every_parcel_flagged_at_risk_gets_its_reasons(trained, small_data):
    from dataclasses import replace

    from training.dataset import sample_snapshots

    snaps = sample_snapshots(small_data.tables, small_data.now).sample(2_000, random_state=2)
    snaps = snaps[["shipment_id", "as_of"]].reset_index(drop=True)
    lenient = replace(trained.predictor, threshold=0.1)  # under REASON_MIN_RISK
    out = lenient.predict(small_data.tables, snaps)
    flagged_low = out[out["at_risk"] & (out["risk"] < 0.2)]
    assert len(flagged_low) >= 20
    assert flagged_low["reason_1"].notna().mean() > 0.9
    assert out.loc[~out["at_risk"], "reason_1"].isna().all()


def test_what_if_reasons_agree_with_treeshap_and_the_hidden_causes(trained, small_data):
    """Reasons are what-ifs against the typical on-time parcel (training/whatif.py): they
    must name what TreeSHAP names, and the hidden causes at least as often."""
    from dataclasses import replace

    from training.dataset import sample_snapshots
    from training.evaluation import reason_agreement

    predictor = trained.predictor
    assert predictor.typical is not None
    snaps = sample_snapshots(small_data.tables, small_data.now).sample(4_000, random_state=3)
    snaps = snaps[["shipment_id", "as_of"]].reset_index(drop=True)
    x = predictor.features(small_data.tables, snaps)
    out = predictor.predict_features(x, snaps["as_of"])
    need = (out["risk"] >= min(0.2, predictor.threshold)).to_numpy()
    assert need.sum() >= 200
    shap = predictor.shap_reasons(x[need])
    mine = out.loc[need].reset_index(drop=True)
    assert (mine["reason_1"] == shap["reason_1"]).mean() >= 0.85
    pairs = zip(mine["reason_1"], shap["reason_1"], shap["reason_2"], strict=True)
    assert np.mean([a in (b, c) for a, b, c in pairs]) >= 0.95
    # Against what happened, on the evaluation's late and flagged snapshots.
    frame = trained.evaluation.frame.reset_index(drop=True)
    xe = predictor.features(small_data.tables, frame[["shipment_id", "as_of"]])
    hidden = small_data.hidden_causes
    what_if = reason_agreement(trained.backtest, xe, frame, hidden)
    treeshap = reason_agreement(replace(trained.backtest, typical=None), xe, frame, hidden)
    assert what_if >= treeshap - 0.02
