"""Reason codes from contributions, and the metrics the targets and the promotion gate rely on."""

import re

import numpy as np
import pandas as pd
import pytest

from features.schema import FAMILIES, FEATURE_NAMES
from training.metrics import (
    choose_threshold,
    early_warning,
    eta_metrics,
    expected_calibration_error,
    risk_metrics,
)
from training.reasons import (
    CAUSE_REASONS,
    FAMILY_REASON,
    REASONS,
    agreement,
    reason_of,
    top_reasons,
)

pytestmark = pytest.mark.model

HANGUL = re.compile("[가-힣]")

# --- Reasons --------------------------------------------------------------------------------

NAMES = [
    "wx_dest_precip_1d",  # WEATHER
    "wx_dest_fc_wind_max",  # WEATHER
    "hub_dest_dwell_h",  # HUB_BACKLOG
    "prog_failed_attempts",  # DELIVERY_FAILED, not its family's STALLED
    "prog_hours_since_scan",  # STALLED
    "hist_seller_n",  # SELLER, not its family's LANE_DELAYS
    "addr_has_unit",  # ADDRESS
]


def test_top_reasons_ranks_summed_upward_contributions_with_their_shares():
    contrib = np.array(
        [
            # weather 0.6 + 0.4 = 1.0, hub 0.5, failed attempt 0.3, seller 0.2 (of 2.0 upward);
            # the stall and the address pull the risk down; the bias (last) never counts.
            [0.6, 0.4, 0.5, 0.3, -0.2, 0.2, -1.0, 5.0],
            # weather nets 1.0 - 0.7 = 0.3 against a stall of 0.6: only two reasons push up.
            [1.0, -0.7, 0.0, 0.0, 0.6, 0.0, 0.0, -3.0],
        ]
    )
    out = top_reasons(contrib, NAMES, top=3)
    assert list(out.columns) == [
        "reason_1",
        "reason_1_share",
        "reason_2",
        "reason_2_share",
        "reason_3",
        "reason_3_share",
    ]
    first = out.iloc[0]
    assert [first["reason_1"], first["reason_2"], first["reason_3"]] == [
        "WEATHER",
        "HUB_BACKLOG",
        "DELIVERY_FAILED",
    ]
    assert first["reason_1_share"] == pytest.approx(1.0 / 2.0)
    assert first["reason_2_share"] == pytest.approx(0.5 / 2.0)
    assert first["reason_3_share"] == pytest.approx(0.3 / 2.0)
    second = out.iloc[1]
    assert [second["reason_1"], second["reason_2"]] == ["STALLED", "WEATHER"]
    assert second["reason_1_share"] == pytest.approx(round(0.6 / 0.9, 4))
    assert second["reason_2_share"] == pytest.approx(round(0.3 / 0.9, 4))
    assert pd.isna(second["reason_3"]) and second["reason_3_share"] == 0.0


def test_top_reasons_gives_none_when_nothing_pushes_the_risk_up():
    contrib = np.array([[-0.5, -0.1, 0.0, -2.0, -0.3, 0.0, -0.1, 4.0]])
    out = top_reasons(contrib, NAMES, top=3)
    for k in (1, 2, 3):
        assert pd.isna(out.loc[0, f"reason_{k}"])
        assert out.loc[0, f"reason_{k}_share"] == 0.0


def test_top_reasons_can_be_asked_for_one_reason():
    out = top_reasons(np.array([[0.1, 0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0]]), NAMES, top=1)
    assert list(out.columns) == ["reason_1", "reason_1_share"]
    assert out.loc[0, "reason_1"] == "HUB_BACKLOG"
    assert out.loc[0, "reason_1_share"] == pytest.approx(0.9)


def test_every_feature_maps_to_a_reason_with_korean_and_english_text():
    assert set(FAMILY_REASON) == set(FAMILIES)
    for name in FEATURE_NAMES:
        reason = REASONS[reason_of(name)]
        ko, en = reason.text("ko"), reason.text("en")
        assert HANGUL.search(ko), f"{name}: {reason.code} has no Korean text"
        assert en.isascii() and en.strip(), f"{name}: {reason.code} has no English text"
    assert len({r.en for r in REASONS.values()}) == len(REASONS)
    for allowed in CAUSE_REASONS.values():
        assert allowed <= set(REASONS)


def test_reason_text_refuses_other_languages_and_unknown_features():
    with pytest.raises(ValueError, match="lang must be 'ko' or 'en', got 'fr'"):
        REASONS["WEATHER"].text("fr")
    with pytest.raises(KeyError, match="unknown feature"):
        reason_of("not_a_feature")


def test_agreement_counts_rows_whose_top_reasons_name_a_hidden_cause():
    reasons = pd.DataFrame(
        {
            "reason_1": ["WEATHER", "STALLED", "PEAK_SEASON", "SELLER", "ADDRESS", "REMOTE_ROUTE"],
            "reason_2": ["ADDRESS", None, "HUB_BACKLOG", "LANE_DELAYS", "LANE_DELAYS", "SELLER"],
            "reason_3": [None, None, None, None, None, "ADDRESS"],
        }
    )
    causes = pd.Series(
        [
            {"ISLAND_LEG"},  # WEATHER names it: hit
            {"RECIPIENT"},  # STALLED does not: miss
            None,  # no hidden cause: skipped
            set(),  # empty: skipped
            {"STOPPAGE", "RECIPIENT"},  # either cause counts: hit
            {"ADDRESS"},  # only the third reason names it
        ]
    )
    assert agreement(reasons, causes) == pytest.approx(2 / 4)
    assert agreement(reasons, causes, top=3) == pytest.approx(3 / 4)
    assert agreement(reasons, causes, top=1) == pytest.approx(2 / 4)
    assert agreement(reasons, pd.Series([{"NOT_A_CAUSE"}] * 6)) == 0.0
    assert np.isnan(agreement(reasons, pd.Series([None] * 6)))


# --- Metrics --------------------------------------------------------------------------------


def test_ece_by_hand():
    y = np.array([0.0, 1.0, 1.0, 1.0])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    # Bin of 0.1: predicted 0.2 in all, observed 1 -> 0.8; bin of 0.9: 1.8 vs 2 -> 0.2.
    assert expected_calibration_error(y, p) == pytest.approx((0.8 + 0.2) / 4)
    assert expected_calibration_error(np.array([1.0]), np.array([1.0])) == 0.0
    assert np.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_ece_is_near_zero_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(5)
    p = rng.beta(1.0, 6.0, 100_000)  # skewed like a late rate
    y = (rng.uniform(size=p.size) < p).astype(float)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.full(p.size, y.mean())) < 0.01
    assert expected_calibration_error(y, np.clip(p * 2.5, 0, 1)) > 0.1
    assert expected_calibration_error(y, (p > 0.3).astype(float)) > 0.1


def test_risk_and_eta_metrics_by_hand():
    m = risk_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert m["risk_roc_auc"] == pytest.approx(0.75)
    assert m["risk_brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    one_class = risk_metrics(np.zeros(3), np.array([0.1, 0.2, 0.3]))
    assert np.isnan(one_class["risk_roc_auc"]) and np.isnan(one_class["risk_pr_auc"])
    assert one_class["risk_brier"] == pytest.approx((0.01 + 0.04 + 0.09) / 3)

    truth = np.array([1.0, 5.0, 10.0])
    quantiles = np.array([[0.0, 2.0, 4.0], [0.0, 4.0, 6.0], [2.0, 3.0, 8.0]])
    eta = eta_metrics(truth, quantiles)
    assert eta["eta_p50_mae_h"] == pytest.approx((1 + 1 + 7) / 3)
    assert eta["eta_p10_p90_coverage"] == pytest.approx(2 / 3)


WARNINGS = pd.DataFrame(
    [
        # parcel, late, hours to promise, risk
        ("a", True, 30.0, 0.2),
        ("a", True, 20.0, 0.6),  # flagged 20 h ahead: caught
        ("b", True, 14.0, 0.3),
        ("b", True, 6.0, 0.95),  # flagged, but only 6 h ahead: too late to count
        ("c", False, 40.0, 0.8),  # false alarm
        ("d", False, 12.0, 0.5),  # exactly 12 h ahead, exactly at the threshold: counts
        ("e", True, 11.99, 0.99),  # just under 12 h: does not count
    ],
    columns=["sid", "late", "to_promise", "risk"],
)


def _warning(frame: pd.DataFrame, threshold: float, **kwargs) -> dict[str, float]:
    return early_warning(
        frame["sid"].to_numpy(),
        frame["late"].to_numpy(),
        frame["to_promise"].to_numpy(),
        frame["risk"].to_numpy(),
        threshold,
        **kwargs,
    )


def test_early_warning_only_counts_flags_at_least_12h_before_the_promise():
    m = _warning(WARNINGS, 0.5)
    assert m["early_warning_flagged"] == 3.0  # a, c, d
    assert m["early_warning_recall_12h"] == pytest.approx(1 / 3)  # a of a, b, e
    assert m["early_warning_precision"] == pytest.approx(1 / 3)  # a of a, c, d
    any_time = _warning(WARNINGS, 0.5, lead_h=0.0)
    assert any_time["early_warning_flagged"] == 5.0
    assert any_time["early_warning_recall_12h"] == 1.0
    assert any_time["early_warning_precision"] == pytest.approx(3 / 5)


def test_early_warning_is_nan_without_late_or_flagged_parcels():
    on_time = WARNINGS.assign(late=False)
    assert np.isnan(_warning(on_time, 0.5)["early_warning_recall_12h"])
    none = _warning(WARNINGS, 1.01)
    assert none["early_warning_flagged"] == 0.0
    assert np.isnan(none["early_warning_precision"])
    assert none["early_warning_recall_12h"] == 0.0


def _scored_parcels(seed: int = 2, n: int = 4_000):
    rng = np.random.default_rng(seed)
    late = rng.uniform(size=n) < 0.2
    risk = np.clip(np.where(late, 0.6, 0.3) + rng.normal(0, 0.2, n), 0, 1)
    return np.arange(n).astype(str), late, np.full(n, 24.0), risk


GRID = np.round(np.arange(0.10, 0.91, 0.025), 3)


@pytest.mark.parametrize("min_precision", [0.5, 0.7, 0.8])
def test_choose_threshold_keeps_the_precision_floor_with_the_best_recall(min_precision):
    sid, late, hours, risk = _scored_parcels()
    threshold = choose_threshold(sid, late, hours, risk, min_precision)
    assert threshold in GRID
    chosen = early_warning(sid, late, hours, risk, threshold)
    assert chosen["early_warning_precision"] >= min_precision
    best_recall = max(
        m["early_warning_recall_12h"]
        for m in (early_warning(sid, late, hours, risk, float(t)) for t in GRID)
        if m["early_warning_precision"] >= min_precision
    )
    assert chosen["early_warning_recall_12h"] == best_recall


def test_choose_threshold_falls_back_to_best_f1_when_the_floor_is_out_of_reach():
    sid, late, hours, risk = _scored_parcels()
    threshold = choose_threshold(sid, late, hours, risk, min_precision=1.01)

    def f1(t: float) -> float:
        m = early_warning(sid, late, hours, risk, t)
        r, p = m["early_warning_recall_12h"], m["early_warning_precision"]
        return 0.0 if np.isnan(p) or r + p == 0 else 2 * r * p / (r + p)

    assert f1(threshold) == pytest.approx(max(f1(float(t)) for t in GRID))
    # No snapshot 12 h ahead: nothing can be flagged, the default stays.
    assert choose_threshold(sid, late, np.full(len(sid), 3.0), risk) == 0.5
