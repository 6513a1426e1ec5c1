"""The default world's delays come from real causes at realistic strengths (docs/simulator.md)."""

import pandas as pd
import pytest

from sources.synthetic.calendar import WorldCalendar
from sources.synthetic.summary import known_late
from sources.synthetic.world import KST_OFFSET

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def parcels(world) -> pd.DataFrame:
    """Shipments with known outcomes, their late flag, local promised day and hidden defect."""
    ships = world.tables.shipments.copy()
    ships["late"] = known_late(ships, world.end)
    ships = ships[ships["late"].notna()].copy()
    ships["late"] = ships["late"].astype(bool)
    ships["promised_day"] = (ships["promised_at"] + KST_OFFSET).dt.tz_localize(None).dt.normalize()
    ships["created_day"] = (ships["created_at"] + KST_OFFSET).dt.tz_localize(None).dt.normalize()
    hidden = world.hidden_causes
    defect = hidden[hidden["cause"] == "ADDRESS"].set_index("shipment_id")["detail"].astype(str)
    ships["defect"] = ships["shipment_id"].map(defect).fillna("NONE")
    return ships


def test_overall_late_rate_is_between_5_and_12_percent(parcels):
    assert 0.05 <= parcels["late"].mean() <= 0.12


def test_heavy_rain_on_the_delivery_day_at_least_doubles_lateness(world, parcels):
    weather = world.tables.weather_daily.rename(
        columns={"region": "dest_region", "date": "promised_day"}
    )
    weather["dest_region"] = weather["dest_region"].astype(str)
    joined = parcels.assign(dest_region=parcels["dest_region"].astype(str)).merge(
        weather[["dest_region", "promised_day", "precip_mm"]], on=["dest_region", "promised_day"]
    )
    wet = joined.loc[joined["precip_mm"] >= 30, "late"]
    dry = joined.loc[joined["precip_mm"] < 1, "late"]
    assert len(wet) > 200
    assert wet.mean() >= 2 * dry.mean()


def test_address_defects_make_first_attempt_failure_5x_more_frequent(world, parcels):
    ev = world.tables.scan_events
    attempts = ev[ev["event_type"].isin(["DELIVERED", "DELIVERY_FAILED"])]
    first = attempts.groupby("shipment_id", sort=False)["event_type"].first() == "DELIVERY_FAILED"
    defect = (
        parcels.set_index("shipment_id")["defect"].reindex(first.index).fillna("NONE") != "NONE"
    )
    with_defect, clean = first[defect].mean(), first[~defect].mean()
    assert defect.sum() > 500
    assert with_defect >= 5 * clean


def test_peak_weeks_are_at_least_twice_as_late_as_off_peak(world_config, parcels):
    config = world_config
    cal = WorldCalendar(config.start, config.days, config.demand)
    season = cal.peak_season(config.operations.post_holiday_surge_days)
    peak_days = {pd.Timestamp(d) for d, p in zip(cal.dates, season, strict=True) if p}
    on_peak = parcels["created_day"].isin(peak_days)
    assert on_peak.sum() > 1000
    assert parcels.loc[on_peak, "late"].mean() >= 2 * parcels.loc[~on_peak, "late"].mean()


def test_more_than_half_of_parcels_due_in_a_stopped_region_are_late(world, parcels):
    assert not world.stoppages.empty
    for stop in world.stoppages.itertuples():
        due = parcels[
            (parcels["dest_region"].astype(str) == stop.region)
            & parcels["promised_day"].between(stop.first_day, stop.last_day)
        ]
        if len(due) >= 20:
            assert due["late"].mean() > 0.5, stop


def test_islands_are_later_than_the_mainland(parcels):
    island = parcels["dest_region"].astype(str).isin(["Jeju", "Seogwipo"])
    assert island.sum() > 300
    assert parcels.loc[island, "late"].mean() > parcels.loc[~island, "late"].mean()
