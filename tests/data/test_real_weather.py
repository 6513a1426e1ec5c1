"""`--weather-csv`: the simulator runs on the real Korean daily weather when it is present."""

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from sources.synthetic import SimulationConfig, simulate
from sources.synthetic.summary import known_late

pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_world_on_real_weather_uses_the_file_and_stays_calibrated(shared_data):
    path = shared_data / "weather_kr" / "kr_cities_daily_2016_2025.csv"
    config = SimulationConfig(
        shipments=20_000, start=dt.date(2024, 7, 1), days=120, seed=2, weather_csv=path
    )
    world = simulate(config)
    real = pd.read_csv(path, parse_dates=["date"])
    real = real[(real["date"] >= "2024-07-01") & (real["date"] < "2024-10-29")]
    got = world.tables.weather_daily.astype({"region": str})
    merged = got.merge(real, left_on=["region", "date"], right_on=["city", "date"])
    assert len(merged) == len(got) == 30 * 120
    assert (merged["precip_mm"] == merged["precipitation_mm"]).all()
    assert got["wind_max_ms"].isna().all(), "the file has no wind: missing, not zero"
    late = known_late(world.tables.shipments, world.end).dropna()
    assert 0.04 <= late.astype(float).mean() <= 0.15


def test_a_period_the_file_does_not_cover_is_a_clear_error(shared_data):
    path = shared_data / "weather_kr" / "kr_cities_daily_2016_2025.csv"
    config = dataclasses.replace(
        SimulationConfig(shipments=100, days=10, start=dt.date(2030, 1, 1)), weather_csv=path
    )
    with pytest.raises(ValueError, match="region-days missing"):
        simulate(config)
