"""The monitoring building blocks: label-free estimates, drift profiles, outcome labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from serving.monitoring.drift import family_drift, feature_drift, scope_of
from serving.monitoring.estimate import expected_brier, expected_late_rate, expected_roc_auc
from serving.monitoring.quality import alert_quality, with_outcomes
from training.reference import RISK, Profile, Reference, psi

pytestmark = pytest.mark.unit
UTC = "UTC"


def test_expected_figures_match_outcomes_drawn_from_calibrated_risks():
    rng = np.random.default_rng(0)
    p = rng.beta(0.6, 4.0, 200_000)
    y = rng.random(len(p)) < p
    assert expected_late_rate(p) == pytest.approx(y.mean(), abs=0.003)
    assert expected_brier(p) == pytest.approx(brier_score_loss(y, p), abs=0.003)
    assert expected_roc_auc(p) == pytest.approx(roc_auc_score(y, p), abs=0.005)


def test_expected_auc_edge_cases():
    assert expected_roc_auc(np.full(100, 0.3)) == pytest.approx(0.5)
    assert np.isnan(expected_roc_auc(np.zeros(10)))
    assert np.isnan(expected_roc_auc(np.array([])))
    # Risks that separate perfectly: near certainty on both sides.
    assert expected_roc_auc(np.r_[np.full(50, 0.999), np.full(50, 0.001)]) > 0.99


def test_profile_psi_is_small_on_the_same_distribution_and_large_on_a_shift():
    rng = np.random.default_rng(1)
    reference = Profile.fit("x", rng.normal(size=20_000), "numeric")
    same = reference.counts(rng.normal(size=5_000))
    shifted = reference.counts(rng.normal(2.0, 1.0, size=5_000))
    shares = np.asarray(reference.shares)
    assert psi(shares, same[: len(shares)]) < 0.02
    assert psi(shares, shifted[: len(shares)]) > 1.0
    # Far beyond the range: half the 0.5-99.5% span past it (about 4 sigma).
    assert reference.outside(same) < 0.001
    far = reference.counts(np.r_[rng.normal(size=900), np.full(100, 10.0)])
    assert reference.outside(far) == pytest.approx(0.1)


def test_numeric_profiles_count_float_arrays_as_they_count_mixed_values():
    # A pass hands over float columns (read as they are); other input is parsed to numbers.
    rng = np.random.default_rng(3)
    values = rng.normal(size=2_000) * 10
    values[::9] = np.nan
    profile = Profile.fit("x", values, "numeric")
    as_objects = values.astype(object)
    as_objects[::13] = "not a number"
    floats = values.copy()
    floats[::13] = np.nan
    assert profile.counts(floats).tolist() == profile.counts(as_objects).tolist()
    assert profile == Profile.fit("x", values.astype(object), "numeric")


def test_profile_bins_categories_missing_and_unseen_values():
    profile = Profile.fit("c", np.array(["a", "a", "b", None], dtype=object), "category")
    assert profile.edges == ("a", "b")
    # a, b, other, missing
    assert profile.shares == pytest.approx((0.5, 0.25, 0.0, 0.25))
    counts = profile.counts(np.array(["b", "zzz", None, None], dtype=object))
    assert counts.tolist() == [0, 1, 1, 2]
    assert np.isnan(profile.outside(counts))


def test_reference_round_trips_through_json(tmp_path):
    rng = np.random.default_rng(2)
    features = pd.DataFrame(
        {
            "hub_current_on_hand_ratio": rng.random(500),
            "prog_last_event": rng.choice(["HUB_IN", "HUB_OUT"], 500),
        }
    )
    snaps = pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=500, freq="h", tz=UTC)})
    reference = Reference.fit(features, rng.random(500), snaps)
    reference.write(tmp_path)
    again = Reference.read(tmp_path)
    assert again == reference
    assert Reference.read(tmp_path / "nothing-here") is None


def test_drift_scores_context_features_by_values_far_out_and_never_flags_the_clock():
    rng = np.random.default_rng(3)
    n = 4_000
    features = pd.DataFrame(
        {
            "hub_current_on_hand_ratio": rng.uniform(0, 0.7, n),
            "prog_hours_since_scan": rng.exponential(5, n),
            "cal_hour": rng.integers(0, 24, n).astype(float),
        }
    )
    snaps = pd.DataFrame({"as_of": pd.date_range("2025-01-01", periods=n, freq="h", tz=UTC)})
    reference = Reference.fit(features, rng.random(n), snaps)
    # A backlog: a fifth of the parcels sit where the on-hand ratio is 2; every pass at 3 AM.
    on_hand = np.r_[rng.uniform(0, 0.7, 800), np.full(200, 2.0)]
    columns = {
        "hub_current_on_hand_ratio": on_hand,
        "prog_hours_since_scan": rng.exponential(5, 1000),
        "cal_hour": np.full(1000, 3.0),
    }
    counts = reference.counts(columns, rng.random(1000))
    found = feature_drift(reference, [(pd.Timestamp("2025-02-01", tz=UTC), "m", counts)])
    row = found.set_index("feature")
    assert row.loc["hub_current_on_hand_ratio", "scope"] == "context"
    assert row.loc["hub_current_on_hand_ratio", "outside"] == pytest.approx(0.2)
    assert row.loc["hub_current_on_hand_ratio", "level"] == "significant"
    assert row.loc["prog_hours_since_scan", "level"] == "stable"
    assert row.loc["cal_hour", "psi"] > 1  # the clock moved...
    families = family_drift(found).set_index("family")
    assert "calendar" not in families.index  # ...and that is not drift
    assert families.loc["hub_load", "score"] >= 1
    assert scope_of(RISK) == "parcel" and scope_of("cal_weekday") == "clock"


def _log(rows: list[tuple]) -> pd.DataFrame:
    columns = ["shipment_id", "as_of", "promised_at", "delivered_at", "final_status", "risk"]
    frame = pd.DataFrame(rows, columns=columns)
    for name in ("as_of", "promised_at", "delivered_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def test_outcomes_are_labelled_as_known_at_now():
    now = "2025-03-10 12:00"
    log = _log(
        [
            ("on-time", "2025-03-08", "2025-03-09", "2025-03-08 20:00", "DELIVERED", 0.1),
            ("late", "2025-03-08", "2025-03-09", "2025-03-09 20:00", "DELIVERED", 0.6),
            ("returned", "2025-03-08", "2025-03-12", None, "RETURNED", 0.5),
            ("overdue", "2025-03-08", "2025-03-10", None, None, 0.9),
            ("waiting", "2025-03-09", "2025-03-11", None, None, 0.2),
            ("later", "2025-03-09", "2025-03-11", "2025-03-10 18:00", "DELIVERED", 0.2),
        ]
    )
    out = with_outcomes(log, pd.Timestamp(now, tz=UTC), "Asia/Seoul").set_index("shipment_id")
    assert out["known"].to_dict() == {
        "on-time": True,
        "late": True,
        "returned": True,
        "overdue": True,
        "waiting": False,
        "later": False,  # delivered after monitoring's now: not known yet
    }
    assert out.loc[["on-time", "late", "returned", "overdue"], "late"].tolist() == [0, 1, 1, 1]
    assert out.loc[["waiting", "later"], "late"].isna().all()
    assert str(out.loc["late", "day"]) == "2025-03-08"  # 09:00 KST


def test_alert_quality_counts_precision_recall_and_lead():
    promised = pd.Timestamp("2025-03-10 12:00", tz=UTC)
    parcels = pd.DataFrame(
        {
            "shipment_id": ["a", "b", "c", "d", "e"],
            "promise_day": ["2025-03-10"] * 5,
            "known": [True, True, True, True, False],
            "late": [1.0, 1.0, 0.0, 1.0, np.nan],
            "alerted": [True, True, True, False, True],
            "lead_h": [20.0, 4.0, 30.0, np.nan, 10.0],
            "promised_at": [promised] * 5,
        }
    )
    row = alert_quality(parcels, ["promise_day"]).iloc[0]
    assert (row["parcels"], row["late"], row["alerted"]) == (4, 3, 3)
    assert row["precision"] == pytest.approx(2 / 3)
    assert row["recall"] == pytest.approx(2 / 3)
    assert row["recall_12h"] == pytest.approx(1 / 3)
    assert row["lead_h_median"] == pytest.approx(12.0)


def test_pass_snapshots_follow_deliveries_and_returns(small_data):
    from training.scoring import pass_snapshots

    tables = small_data.tables
    end = small_data.now - pd.Timedelta(days=10)
    snaps = pass_snapshots(tables, end, days=3, every_hours=6)
    ships = tables.shipments.set_index("shipment_id")
    last = tables.scan_events.groupby("shipment_id")["event_time"].max()
    joined = snaps.join(ships, on="shipment_id")
    assert (joined["created_at"] <= joined["as_of"]).all()
    assert not (joined["delivered_at"] <= joined["as_of"]).any()
    returned = joined["final_status"] == "RETURNED"
    assert not (
        joined.loc[returned, "shipment_id"].map(last) <= joined.loc[returned, "as_of"]
    ).any()
    assert snaps["as_of"].nunique() == 12
    sampled = pass_snapshots(tables, end, days=3, every_hours=6, share=0.25)
    assert 0.15 * len(snaps) < len(sampled) < 0.35 * len(snaps)


def test_a_store_without_passes_summarizes_to_nothing(tmp_path):
    from serving.alerts import AlertStore
    from serving.monitoring.summary import summarize
    from serving.watch.store import StateStore

    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    outbox = AlertStore(f"sqlite:///{tmp_path / 'outbox.db'}")
    out = summarize(state, outbox, None, 0.4, "m/1", {}, "Asia/Seoul").out()
    assert out.as_of is None and out.daily == [] and out.findings == []
    assert out.in_flight.parcels == 0 and out.in_flight.estimated_late_rate is None
