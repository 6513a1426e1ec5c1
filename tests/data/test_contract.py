"""A simulated world honours the data contract and tells a coherent story per parcel."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from contract.schema import TABLES
from contract.validation import validate
from sources.synthetic.world import KST_OFFSET

pytestmark = pytest.mark.data


def test_every_table_is_valid_and_canonical(world):
    result = validate(world.tables)
    assert result.ok, result.summary()
    for name, frame in world.tables.items():
        assert list(frame.columns) == TABLES[name].column_names
        pd.testing.assert_frame_equal(getattr(result.tables, name), frame, check_categorical=False)


def test_hidden_causes_are_not_part_of_the_tables(world):
    names = {f.name for f in dataclasses.fields(world.tables)}
    assert names == {*TABLES, "locale"}
    assert "hidden_causes" not in names
    assert not world.hidden_causes.empty
    assert world.tables.locale.name == "kr" and world.tables.locale.holiday_country == "KR"


def test_every_parcel_starts_with_created_then_picked_up(world):
    ev = world.tables.scan_events
    first = ev.groupby("shipment_id", sort=False)["event_type"].first()
    assert (first == "CREATED").all()
    assert ev["shipment_id"].nunique() == len(world.tables.shipments)
    times = ev["event_time"].to_numpy()
    same = ev["shipment_id"].to_numpy()[1:] == ev["shipment_id"].to_numpy()[:-1]
    assert (times[1:][same] >= times[:-1][same]).all(), "events of a parcel are in time order"


def test_delivered_parcels_end_with_their_delivery_event(world):
    ships = world.tables.shipments.set_index("shipment_id")
    ev = world.tables.scan_events
    last = ev.groupby("shipment_id", sort=False).tail(1).set_index("shipment_id")
    delivered = ships["final_status"] == "DELIVERED"
    assert delivered.mean() > 0.9
    ended = last.loc[delivered[delivered].index]
    assert (ended["event_type"] == "DELIVERED").all()
    assert (ended["event_time"] == ships.loc[ended.index, "delivered_at"]).all()


def test_world_ends_mid_journey(world):
    ships = world.tables.shipments
    in_flight = ships["final_status"].isna()
    assert in_flight.sum() > 100, "parcels created in the last days are still moving"
    assert ships.loc[in_flight, "delivered_at"].isna().all()
    assert (world.tables.scan_events["event_time"] <= world.end).all()
    assert (ships["created_at"] < world.end).all()
    last_local_day = (world.end + KST_OFFSET - pd.Timedelta(days=1)).tz_localize(None).normalize()
    assert world.tables.weather_daily["date"].max() == last_local_day


def test_weather_and_forecasts_cover_every_region_and_day(world):
    wd = world.tables.weather_daily
    days = wd["date"].nunique()
    assert wd["region"].nunique() == 30
    assert len(wd) == 30 * days == 30 * 180
    fc = world.tables.weather_forecast
    assert (fc["issued_date"] <= fc["target_date"]).all()
    assert fc["issued_date"].max() <= wd["date"].max()
    assert (fc["target_date"] > wd["date"].max()).any(), "forecasts reach past the world's end"


def test_addresses_look_korean_and_postcodes_have_five_digits(world):
    ships = world.tables.shipments
    assert ships["dest_postcode"].str.fullmatch(r"\d{5}").all()
    assert ships["dest_address"].str.contains(r"(?:시|도) ").mean() > 0.95
    phones = ships["recipient_phone"].dropna()
    assert phones.str.fullmatch(r"010-\d{4}-\d{4}").mean() > 0.95


def test_network_capacity_is_known_for_every_location(world):
    net = world.tables.network
    assert (net["daily_capacity"] > 0).all()
    assert set(net.loc[net["kind"] == "TERMINAL", "region"]) == set(
        world.tables.weather_daily["region"]
    )
    used = set(world.tables.scan_events["location_id"].dropna().unique())
    assert used <= set(net["location_id"])


def test_hidden_causes_reference_real_shipments(world):
    ids = set(world.tables.shipments["shipment_id"])
    assert set(world.hidden_causes["shipment_id"]) <= ids
    assert (world.hidden_causes["delay_h"] >= 0).all()
    assert np.isin(
        world.hidden_causes["cause"].astype(str),
        ["SELLER", "STOPPAGE", "HUB_BACKLOG", "WEATHER", "ISLAND_LEG", "ADDRESS", "RECIPIENT"],
    ).all()
