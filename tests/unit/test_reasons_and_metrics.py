"""Reason codes from contributions, and the metrics the gate and the targets rely on."""

import numpy as np
import pandas as pd
import pytest

from features.catalog import FEATURE_NAMES
from training.metrics import choose_threshold, early_warning, expected_calibration_error
from training.reasons import REASONS, agreement, reason_of, top_reasons

pytestmark = pytest.mark.unit


def test_every_feature_has_a_reason_with_korean_and_english_text():
    for name in FEATURE_NAMES:
        reason = REASONS[reason_of(name)]
        assert reason.text("ko") and reason.text("en")
    with pytest.raises(ValueError, match="lang must be"):
        REASONS["WEATHER"].text("fr")


def test_top_reasons_sum_contributions_by_reason_and_ignore_negative_ones():
    names = ["wx_dest_precip_1d", "wx_dest_severity", "addr_has_unit", "prog_failed_attempts"]
    contrib = np.array(
        [
            [1.0, 0.5, 0.5, -2.0, -3.0],  # weather 1.5, address 0.5, failed attempt pulls down
            [-1.0, -1.0, -0.1, -0.2, 0.0],  # nothing pushes up
        ]
    )
    out = top_reasons(contrib, names, top=3)
    assert list(out.loc[0, ["reason_1", "reason_2"]]) == ["WEATHER", "ADDRESS"]
    assert out.loc[0, "reason_1_share"] == pytest.approx(0.75)
    assert out.loc[0, "reason_3"] is None
    assert out.loc[1, ["reason_1", "reason_2", "reason_3"]].isna().all()


def test_agreement_counts_compatible_reasons_and_skips_parcels_without_causes():
    reasons = pd.DataFrame(
        {"reason_1": ["WEATHER", "SELLER", "PEAK_SEASON"], "reason_2": ["ADDRESS", None, None]}
    )
    causes = pd.Series([{"RECIPIENT"}, {"WEATHER"}, None])
    assert agreement(reasons, causes) == pytest.approx(0.5)


def test_ece_is_small_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 50_000)
    y = (rng.uniform(0, 1, 50_000) < p).astype(float)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p + 0.2, 0, 1)) > 0.15


def test_early_warning_only_counts_flags_at_least_12h_before_the_promise():
    frame = pd.DataFrame(
        {
            "sid": ["a", "a", "b", "c", "c"],
            "late": [True, True, True, False, False],
            "to_promise": [20.0, 5.0, 6.0, 30.0, 2.0],
            "risk": [0.2, 0.9, 0.95, 0.7, 0.1],
        }
    )
    m = early_warning(
        frame["sid"].to_numpy(), frame["late"].to_numpy(), frame["to_promise"].to_numpy(),
        frame["risk"].to_numpy(), threshold=0.5,
    )  # fmt: skip
    # a and b were only flagged within 12 h; c was flagged early but was not late.
    assert m["early_warning_recall_12h"] == 0.0
    assert m["early_warning_precision"] == 0.0
    m = early_warning(
        frame["sid"].to_numpy(), frame["late"].to_numpy(), frame["to_promise"].to_numpy(),
        frame["risk"].to_numpy(), threshold=0.15,
    )  # fmt: skip
    assert m["early_warning_recall_12h"] == 0.5 and m["early_warning_precision"] == 0.5


def test_threshold_keeps_the_precision_floor():
    rng = np.random.default_rng(2)
    n = 4_000
    late = rng.uniform(size=n) < 0.2
    risk = np.clip(np.where(late, 0.6, 0.3) + rng.normal(0, 0.2, n), 0, 1)
    sid, hours = np.arange(n).astype(str), np.full(n, 24.0)
    threshold = choose_threshold(sid, late, hours, risk, min_precision=0.7)
    m = early_warning(sid, late, hours, risk, threshold)
    assert m["early_warning_precision"] >= 0.7
    lower = early_warning(sid, late, hours, risk, threshold - 0.1)
    assert (
        lower["early_warning_precision"] < 0.7
        or lower["early_warning_recall_12h"] <= m["early_warning_recall_12h"]
    )


def test_stage_metrics_report_each_stage_with_errors_in_days():

    from training.evaluation import stage_metrics

    frame = pd.DataFrame(
        {
            "stage": ["CREATED"] * 4 + ["PICKED_UP"] * 2,
            "late": [True, False, True, False, True, False],
            "risk": [0.9, 0.1, 0.8, 0.2, 0.3, 0.6],
            "remaining_h": [48.0, 24.0, float("nan"), 72.0, 24.0, 48.0],
            "eta_p10_h": [24.0, 12.0, 10.0, 48.0, 12.0, 60.0],
            "eta_p50_h": [48.0, 48.0, 20.0, 72.0, 24.0, 72.0],
            "eta_p90_h": [72.0, 96.0, 30.0, 96.0, 36.0, 96.0],
            "baseline_promise_h": [96.0] * 6,
            "baseline_median_h": [48.0] * 6,
            "baseline_lane_h": [24.0] * 6,
        }
    )
    out = stage_metrics(frame, (("CREATED", "purchase"), ("PICKED_UP", "handoff"), ("X", "x")))
    assert out["purchase_risk_roc_auc"] == 1.0 and out["handoff_risk_roc_auc"] == 0.0
    assert out["purchase_eta_p50_mae_d"] == pytest.approx(1 / 3)  # 0, 24 and 0 h over 3 rows
    assert out["handoff_eta_p10_p90_coverage"] == 0.5
    assert out["purchase_baseline_promise_mae_d"] == pytest.approx((48 + 72 + 24) / 3 / 24)
    assert out["purchase_snapshots"] == 4 and "x_risk_roc_auc" not in out


def test_threshold_is_the_lowest_point_of_the_fine_grid_that_keeps_the_precision():
    from training.metrics import THRESHOLD_GRID

    rng = np.random.default_rng(5)
    n = 6_000
    sid = rng.integers(0, 1_500, n).astype(str)
    late = np.isin(sid, sid[:300])
    risk = np.clip(np.where(late, 0.45, 0.25) + rng.normal(0, 0.12, n), 0, 1)
    hours = rng.uniform(0, 60, n)
    chosen = choose_threshold(sid, late, hours, risk, min_precision=0.5)
    # The reference: the per-threshold definition of early_warning, one grid point at a time.
    keeps = [
        t
        for t in THRESHOLD_GRID
        if early_warning(sid, late, hours, risk, float(t))["early_warning_precision"] >= 0.5
    ]
    assert chosen == pytest.approx(min(keeps))
    assert chosen not in np.round(np.arange(0.10, 0.91, 0.025), 3)  # finer than the old grid
