"""Feature behaviour: directions that must hold, and odd input that must not break."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.catalog import CATEGORICAL_FEATURES, FEATURE_NAMES
from sources.synthetic import SimulationConfig, simulate

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def small():
    world = simulate(SimulationConfig(shipments=4_000, start=dt.date(2025, 7, 1), days=45, seed=9))
    ships = world.tables.shipments.sample(800, random_state=0)
    snaps = pd.DataFrame(
        {
            "shipment_id": ships["shipment_id"].to_numpy(),
            "as_of": (ships["created_at"] + pd.Timedelta(hours=20)).to_numpy(),
        }
    )
    return world.tables, snaps


def test_one_row_per_snapshot_in_order_with_the_contract_columns(small):
    tables, snaps = small
    shuffled = snaps.sample(frac=1.0, random_state=3).reset_index(drop=True)
    out = build_features(tables, shuffled)
    assert list(out.columns) == list(FEATURE_NAMES)
    assert len(out) == len(shuffled)
    for name in CATEGORICAL_FEATURES:
        assert isinstance(out[name].dtype, pd.CategoricalDtype)
    reference = build_features(tables, snaps).set_index(snaps["shipment_id"])
    pd.testing.assert_frame_equal(
        out.set_index(shuffled["shipment_id"]).loc[snaps["shipment_id"]],
        reference,
        check_categorical=False,
    )


def test_more_rain_at_the_destination_never_lowers_weather_severity(small):
    tables, snaps = small
    base = build_features(tables, snaps)["wx_dest_severity"].to_numpy()
    wetter = tables.replace(
        weather_daily=tables.weather_daily.assign(precip_mm=tables.weather_daily["precip_mm"] + 40),
        weather_forecast=tables.weather_forecast.assign(
            precip_mm=tables.weather_forecast["precip_mm"] + 40
        ),
    )
    wet = build_features(wetter, snaps)["wx_dest_severity"].to_numpy()
    known = ~np.isnan(base)
    assert known.mean() > 0.9
    assert (wet[known] >= base[known]).all()
    assert (wet[known] > base[known]).mean() > 0.9


def test_a_parcel_stalled_at_a_hub_shows_it(small):
    tables, snaps = small
    out = build_features(tables, snaps)
    later = build_features(tables, snaps.assign(as_of=snaps["as_of"] + pd.Timedelta(hours=30)))
    same_scan = (later["prog_n_events"] == out["prog_n_events"]) & (out["prog_stage"] < 7)
    assert same_scan.any()
    assert (
        later.loc[same_scan, "prog_hours_since_scan"] > out.loc[same_scan, "prog_hours_since_scan"]
    ).all()


def test_unknown_categories_missing_coordinates_no_events_and_no_history_are_normal(small):
    tables, _ = small
    ships = tables.shipments.tail(3).copy()  # late in the world: histories exist
    ships["shipment_id"] = ["NEW-1", "NEW-2", "NEW-3"]
    ships["dest_region"] = pd.Categorical(["Atlantis", "Seoul", None])
    ships["origin_region"] = pd.Categorical(["Seoul", "Nowhere", "Busan"])
    ships["seller_id"] = ["never-seen", None, "S00001"]
    ships.loc[:, ["dest_lat", "dest_lon"]] = np.nan
    ships["dest_address"] = [None, "garbage ###", "1600 Pennsylvania Ave"]
    ships["recipient_phone"] = [None, "abc", "+1 555 0100"]
    fresh = tables.replace(shipments=pd.concat([tables.shipments, ships], ignore_index=True))
    snaps = pd.DataFrame(
        {"shipment_id": ships["shipment_id"], "as_of": ships["created_at"] + pd.Timedelta(hours=1)}
    )
    out = build_features(fresh, snaps)  # no scan events at all for these parcels
    assert len(out) == 3
    assert (out["prog_n_events"] == 0).all()
    assert out["prog_last_event"].isna().all()
    assert np.isnan(out.loc[0, "route_distance_km"])
    assert out.loc[0, "route_dest_region"] == "Atlantis"
    assert not np.isnan(out.loc[0, "hist_lane_late_rate"]), (
        "an unseen lane falls back to the network"
    )


def test_unknown_shipment_in_snapshots_is_a_clear_error(small):
    tables, _ = small
    with pytest.raises(ValueError, match="NOPE"):
        build_features(
            tables,
            pd.DataFrame(
                {"shipment_id": ["NOPE"], "as_of": [pd.Timestamp("2025-07-10", tz="UTC")]}
            ),
        )


def test_a_stoppage_shows_in_the_destinations_missed_promises_within_days(world):
    """The missed-promise rate reads promises as they fall due: a stopped region's rate rises
    while the stoppage lasts, and nothing of the stoppage is visible before it starts."""
    ships = world.tables.shipments
    parcels = ships["dest_region"].astype("str").value_counts()
    stops = world.stoppages.assign(
        days=(world.stoppages["last_day"] - world.stoppages["first_day"]).dt.days,
        parcels=world.stoppages["region"].map(parcels),
    )
    stop = stops.sort_values(["days", "parcels"], ascending=False).iloc[0]  # long, busy
    region = stop["region"]
    heading = ships.loc[ships["dest_region"].astype("str") == region, "shipment_id"].head(20)
    first = pd.Timestamp(stop["first_day"]).tz_localize("Asia/Seoul").tz_convert("UTC")
    last = pd.Timestamp(stop["last_day"]).tz_localize("Asia/Seoul").tz_convert("UTC")

    def rate(at: pd.Timestamp) -> float:
        snaps = pd.DataFrame({"shipment_id": heading.to_numpy(), "as_of": at})
        return float(build_features(world.tables, snaps)["hist_dest_missed_rate"].mean())

    before = rate(first - pd.Timedelta(days=7))
    during = rate(min(first + pd.Timedelta(days=3), last + pd.Timedelta(days=1)))
    assert during > before + 0.1, (before, during)
