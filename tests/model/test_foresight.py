"""The foresight oracle: the learner given the hidden states knowable at as_of, not the draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.foresight import foresight_columns

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def snapshots(small_data):
    from training.dataset import sample_snapshots

    snaps = sample_snapshots(small_data.tables, small_data.now)
    return snaps.sample(5_000, random_state=0).reset_index(drop=True)


def test_foresight_columns_are_the_true_hidden_states(small_data, snapshots):
    states = small_data.hidden_states
    assert states is not None, "the simulator writes its hidden states"
    columns = foresight_columns(small_data.tables, snapshots, states)
    assert len(columns) == len(snapshots)
    ships = small_data.tables.shipments.set_index("shipment_id")

    slow = states.sellers.set_index("seller_id")["slow"]
    truth = snapshots["shipment_id"].map(ships["seller_id"]).map(slow).astype(float)
    np.testing.assert_array_equal(columns["fs_slow_seller"].to_numpy(), truth.to_numpy())

    defect = snapshots["shipment_id"].map(states.defects.set_index("shipment_id")["defect"])
    one_hot = columns.filter(like="fs_defect_")
    assert (one_hot.sum(axis=1) == defect.notna()).all(), "a defect flag for defective parcels"
    assert defect.notna().any() and defect.isna().any()
    for kind in states.defects["defect"].unique():
        expected = (defect.fillna("NONE") == kind).to_numpy(dtype=float)
        np.testing.assert_array_equal(columns[f"fs_defect_{kind.lower()}"], expected)


def test_perfect_forecasts_read_the_weather_that_actually_fell(small_data, snapshots):
    columns = foresight_columns(small_data.tables, snapshots, small_data.hidden_states)
    ships = small_data.tables.shipments.set_index("shipment_id")
    weather = small_data.tables.weather_daily
    observed = weather.set_index([weather["region"].astype("str"), weather["date"]])["precip_mm"]
    local = snapshots["as_of"].dt.tz_convert("Asia/Seoul").dt.tz_localize(None).dt.normalize()
    dest = snapshots["shipment_id"].map(ships["dest_region"].astype("str"))
    for k in (0, 2):
        keys = list(zip(dest, (local + pd.Timedelta(days=k)).astype("datetime64[us]"), strict=True))
        truth = observed.reindex(keys).to_numpy(dtype=float)
        np.testing.assert_allclose(columns[f"fs_dest_precip_d{k}"], truth, equal_nan=True)


def test_the_stoppage_calendar_marks_parcels_heading_into_a_stoppage(small_data):
    states = small_data.hidden_states
    stop = states.stoppages.iloc[0]
    ships = small_data.tables.shipments
    into = ships[ships["dest_region"].astype("str") == stop["region"]].head(50)
    as_of = pd.Timestamp(stop["first_day"]).tz_localize("Asia/Seoul").tz_convert("UTC")
    snaps = pd.DataFrame(
        {"shipment_id": into["shipment_id"].to_numpy(), "as_of": as_of + pd.Timedelta(hours=12)}
    )
    columns = foresight_columns(small_data.tables, snaps, states)
    assert (columns["fs_stop_dest_today"] == 1).all()
    elsewhere = snaps.assign(as_of=as_of - pd.Timedelta(days=30))
    before = foresight_columns(small_data.tables, elsewhere, states)
    assert (before["fs_stop_dest_today"] == 0).all()


def test_training_logs_both_oracles(trained):
    metrics = trained.evaluation.metrics
    foresight = metrics["foresight_oracle_risk_roc_auc"]
    hindsight = metrics["hindsight_oracle_risk_roc_auc"]
    assert 0.5 < foresight <= 1 and 0.5 < hindsight <= 1
    # Knowing the causes as they happened is worth more than knowing the states in advance.
    assert hindsight > foresight
    assert "oracle_risk_roc_auc" not in metrics, "the hindsight oracle is named as such"
