"""The weather generator, its forecasts, the real-file loader and the parameter derivation."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from contract.reference.korea import regions
from sources.synthetic.weather import (
    WEATHER_COLUMNS,
    derive_weather_params,
    generate_forecasts,
    generate_weather,
    load_weather_csv,
    load_weather_params,
)

pytestmark = pytest.mark.unit

REAL_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "weather_kr"
START = dt.date(2016, 1, 1)
DECADE = 3650
SEASON = {12: "DJF", 1: "DJF", 2: "DJF", 3: "MAM", 4: "MAM", 5: "MAM"}
SEASON |= {6: "JJA", 7: "JJA", 8: "JJA", 9: "SON", 10: "SON", 11: "SON"}
SNOW_CODES = [71, 73, 75, 77, 85, 86]  # Open-Meteo's WMO snow codes, as in the real file
RAIN_CODES = [0, 3, 51, 53, 55, 61, 63, 65, 80, 95]
CSV_COLUMNS = [
    "date",
    "city",
    "lat",
    "lon",
    "temp_max_c",
    "temp_min_c",
    "temp_avg_c",
    "humidity_pct",
    "precipitation_mm",
    "wmo_weather_code",
]


@pytest.fixture(scope="module")
def decade() -> pd.DataFrame:
    """Ten generated years, with month, season and wet-day columns added."""
    w = generate_weather(START, DECADE, np.random.default_rng(11))
    month = w["date"].dt.month
    return w.assign(month=month, season=month.map(SEASON), wet=w["precip_mm"] >= 0.1)


@pytest.fixture(scope="module")
def monthly() -> pd.DataFrame:
    return load_weather_params().monthly.assign(season=lambda m: m["month"].map(SEASON))


def _region(w: pd.DataFrame, name: str) -> pd.DataFrame:
    return w[w["region"] == name]


# --- generate_weather -------------------------------------------------------------------------
def test_columns_and_dtypes():
    w = generate_weather(dt.date(2025, 7, 1), 40, np.random.default_rng(0))
    assert list(w.columns) == WEATHER_COLUMNS
    assert w["date"].dtype == np.dtype("datetime64[us]")
    assert pd.api.types.is_string_dtype(w["region"])
    for col in ("precip_mm", "temp_min_c", "temp_max_c", "wind_max_ms", "weather_code"):
        assert w[col].dtype == np.float64, col
    assert w["snow"].dtype == bool
    assert w["date"].min() == pd.Timestamp("2025-07-01")
    assert w["date"].max() == pd.Timestamp("2025-08-09")


def test_every_region_every_day_and_no_gaps(decade):
    names = set(regions()["region"])
    assert len(names) == 30
    assert len(decade) == 30 * DECADE
    assert not decade.duplicated(["region", "date"]).any()
    assert set(decade["region"]) == names
    assert decade["date"].nunique() == DECADE
    assert (decade["date"].diff().dropna().dt.days.isin([0, 1])).all()
    cols = ["precip_mm", "temp_min_c", "temp_max_c", "wind_max_ms", "weather_code"]
    assert not decade[cols].isna().any().any()
    assert (decade["precip_mm"] >= 0).all()
    assert (decade["wind_max_ms"] > 0).all()


def test_same_seed_same_weather_different_seed_differs():
    a = generate_weather(START, 60, np.random.default_rng(5))
    b = generate_weather(START, 60, np.random.default_rng(5))
    c = generate_weather(START, 60, np.random.default_rng(6))
    pd.testing.assert_frame_equal(a, b)
    assert (a["precip_mm"] != c["precip_mm"]).mean() > 0.2
    assert (a["temp_max_c"] != c["temp_max_c"]).mean() > 0.8


def test_seasonal_wet_probability_and_amount_follow_the_params(decade, monthly):
    expected = monthly.assign(amount=monthly["wet_shape"] * monthly["wet_scale"])
    expected["wet_mm"] = expected["amount"] * expected["p_wet"]
    exp = expected.groupby(["region", "season"])[["p_wet", "wet_mm"]].agg(["mean", "sum"])
    exp_p = exp[("p_wet", "mean")]
    exp_amount = exp[("wet_mm", "sum")] / exp[("p_wet", "sum")]  # wet-day mean over the season
    got_p = decade.groupby(["region", "season"])["wet"].mean()
    got_amount = decade[decade["wet"]].groupby(["region", "season"])["precip_mm"].mean()

    p_err = (got_p - exp_p).reindex(exp_p.index)
    assert p_err.abs().max() < 0.08, p_err.abs().idxmax()
    assert p_err.groupby("season").mean().abs().max() < 0.04
    ratio = (got_amount / exp_amount).reindex(exp_amount.index)
    assert ratio.between(0.6, 1.6).all(), ratio[~ratio.between(0.6, 1.6)]
    assert ratio.groupby("season").mean().between(0.8, 1.25).all()


def test_seoul_summer_is_wetter_than_winter(decade):
    seoul = _region(decade, "Seoul")
    by_season = seoul.groupby("season").agg(p_wet=("wet", "mean"), total=("precip_mm", "sum"))
    assert by_season.loc["JJA", "p_wet"] > by_season.loc["DJF", "p_wet"] + 0.25
    assert by_season.loc["JJA", "total"] > 5 * by_season.loc["DJF", "total"]


def test_snow_falls_only_on_cold_wet_days_mostly_in_winter(decade):
    snow = decade[decade["snow"]]
    assert len(snow) > 1_000
    assert snow["wet"].all()
    # Snow falls on the coldest wet days: almost always below 5 °C at night, never in heat.
    assert (snow["temp_min_c"] < 5.0).mean() > 0.9
    assert snow["temp_max_c"].max() < 20.0
    assert snow["month"].isin([12, 1, 2]).mean() > 0.8
    assert not snow["month"].isin([6, 7, 8]).any()
    assert snow["weather_code"].isin([71, 73, 75]).all()


def test_snow_share_matches_what_the_params_imply(decade, monthly):
    implied = monthly.assign(p=monthly["p_wet"] * monthly["p_snow_given_wet"])
    per_day = decade[["region", "month"]].merge(implied[["region", "month", "p"]])
    ratio = decade.groupby("region")["snow"].mean() / per_day.groupby("region")["p"].mean()
    assert ratio.between(0.67, 1.5).all(), ratio.sort_values().head()


@pytest.mark.parametrize("name", ["Busan", "Jeju"])
def test_heavy_summer_rain_in_the_south_matches_the_params(decade, monthly, name):
    rng = np.random.default_rng(0)
    summer = monthly[(monthly["region"] == name) & (monthly["season"] == "JJA")]
    implied = np.mean(
        [
            m.p_wet * np.mean(rng.gamma(m.wet_shape, m.wet_scale, 200_000) >= 30)
            for m in summer.itertuples()
        ]
    )
    days = _region(decade, name)
    got = (days.loc[days["season"] == "JJA", "precip_mm"] >= 30).mean()
    assert implied > 0.03
    assert implied / 2 < got < implied * 2, (got, implied)
    heavy = days[days["precip_mm"] >= 30]
    assert heavy["season"].isin(["JJA", "SON"]).mean() > 0.6


def test_nearby_regions_share_wet_days_more_than_distant_ones(decade):
    wet = {
        name: _region(decade, name).set_index("date")["wet"] for name in ("Seoul", "Suwon", "Jeju")
    }
    near = (wet["Seoul"] == wet["Suwon"]).mean()
    far = (wet["Seoul"] == wet["Jeju"]).mean()
    assert near > 0.85
    assert near > far + 0.15


def test_daily_minimum_is_not_above_maximum(decade, monthly):
    assert (decade["temp_min_c"] <= decade["temp_max_c"]).all()
    seoul = _region(decade, "Seoul").groupby("month")["temp_max_c"].mean()
    want = monthly[monthly["region"] == "Seoul"].set_index("month")["tmax_mean"]
    # Ten years of AR(1) anomalies: month means wander by about 0.5 °C around the params.
    assert (seoul - want).abs().max() < 2.5
    assert abs((seoul - want).mean()) < 1.0
    assert seoul[8] - seoul[1] > 20


def test_islands_are_windier_and_codes_follow_the_measures(decade):
    wind = decade.groupby("region")["wind_max_ms"].mean()
    assert 1.4 < wind["Jeju"] / wind["Seoul"] < 1.8
    assert 1.4 < wind["Seogwipo"] / wind["Seoul"] < 1.8
    assert (decade.loc[~decade["wet"], "weather_code"] == 0).all()
    rain = decade[decade["wet"] & ~decade["snow"]]
    assert rain["weather_code"].isin([61, 63, 65, 95]).all()
    storms = decade[decade["weather_code"] == 95]
    assert (storms["precip_mm"] >= 30).all() and storms["month"].isin([6, 7, 8, 9]).all()


# --- generate_forecasts -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def observed(decade) -> pd.DataFrame:
    return decade.loc[decade["date"] < pd.Timestamp("2016-05-01"), WEATHER_COLUMNS]


@pytest.fixture(scope="module")
def forecasts(observed) -> pd.DataFrame:
    return generate_forecasts(observed, 5, np.random.default_rng(2))


def test_forecast_leads_and_dates(forecasts, observed):
    lead = (forecasts["target_date"] - forecasts["issued_date"]).dt.days
    assert (forecasts["issued_date"] <= forecasts["target_date"]).all()
    assert sorted(lead.unique()) == [0, 1, 2, 3, 4, 5]
    assert forecasts["target_date"].isin(observed["date"]).all()
    assert forecasts["issued_date"].isin(observed["date"]).all()
    days = observed["date"].nunique()
    counts = lead.value_counts()
    for k in range(6):
        assert counts[k] == 30 * (days - k), k
    assert not forecasts.duplicated(["region", "issued_date", "target_date"]).any()
    assert (forecasts["precip_mm"] >= 0).all()


def test_forecast_error_grows_with_lead(forecasts, observed):
    merged = forecasts.merge(
        observed,
        left_on=["region", "target_date"],
        right_on=["region", "date"],
        suffixes=("", "_o"),
    )
    merged["lead"] = (merged["target_date"] - merged["issued_date"]).dt.days
    mae = (merged["temp_max_c"] - merged["temp_max_c_o"]).abs().groupby(merged["lead"]).mean()
    assert mae[0] < 1.0
    assert mae[3] > 1.5 * mae[0]
    assert mae.is_monotonic_increasing
    agree = ((merged["precip_mm"] >= 0.1) == (merged["precip_mm_o"] >= 0.1)).groupby(merged["lead"])
    assert agree.mean()[0] > agree.mean()[5]


def test_forecasts_are_deterministic(observed):
    head = observed[observed["date"] < pd.Timestamp("2016-01-21")]
    a = generate_forecasts(head, 3, np.random.default_rng(9))
    b = generate_forecasts(head, 3, np.random.default_rng(9))
    pd.testing.assert_frame_equal(a, b)


# --- load_weather_csv -------------------------------------------------------------------------
def _write_csv(path: Path, days: int = 4, drop=None, columns=CSV_COLUMNS) -> pd.DataFrame:
    """A small file in the real weather_kr format: all 30 cities from 2024-01-01."""
    reg = regions()
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    rows = []
    codes = SNOW_CODES + RAIN_CODES
    for d, date in enumerate(dates):
        for r, city in enumerate(reg.itertuples()):
            k = d * len(reg) + r
            rows.append(
                {
                    "date": f"{date:%Y-%m-%d}",
                    "city": city.region,
                    "lat": city.lat,
                    "lon": city.lon,
                    "temp_max_c": round(5 + 0.1 * k, 1),
                    "temp_min_c": round(-3 + 0.1 * k, 1),
                    "temp_avg_c": round(1 + 0.1 * k, 1),
                    "humidity_pct": 60,
                    "precipitation_mm": round(0.3 * (k % 7), 1),
                    "wmo_weather_code": codes[k % len(codes)],
                }
            )
    frame = pd.DataFrame(rows)
    if drop is not None:
        frame = frame[~((frame["city"] == drop[0]) & (frame["date"] == drop[1]))]
    frame[list(columns)].to_csv(path, index=False)
    return frame


def test_load_weather_csv_maps_the_real_format(tmp_path):
    path = tmp_path / "kr_cities_daily.csv"
    raw = _write_csv(path)
    got = load_weather_csv(path, dt.date(2024, 1, 2), 2)
    assert list(got.columns) == WEATHER_COLUMNS
    assert got["date"].dtype == np.dtype("datetime64[us]")
    assert len(got) == 60
    assert set(got["date"]) == {pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")}
    assert got.equals(got.sort_values(["date", "region"], ignore_index=True))
    assert got["wind_max_ms"].isna().all(), "the file has no wind: missing, not zero"

    raw = raw.assign(date=pd.to_datetime(raw["date"])).rename(columns={"city": "region"})
    merged = got.merge(raw, on=["region", "date"], validate="one_to_one")
    assert len(merged) == 60
    assert (merged["precip_mm"] == merged["precipitation_mm"]).all()
    assert (merged["temp_min_c_x"] == merged["temp_min_c_y"]).all()
    assert (merged["temp_max_c_x"] == merged["temp_max_c_y"]).all()
    assert (merged["weather_code"] == merged["wmo_weather_code"]).all()
    assert (merged["snow"] == merged["wmo_weather_code"].isin(SNOW_CODES)).all()
    assert set(merged["wmo_weather_code"]) >= set(SNOW_CODES), "every snow code is exercised"
    assert merged["snow"].any() and not merged["snow"].all()


def test_load_weather_csv_names_missing_region_days(tmp_path):
    path = tmp_path / "gap.csv"
    _write_csv(path, drop=("Seoul", "2024-01-03"))
    assert len(load_weather_csv(path, dt.date(2024, 1, 1), 2)) == 60
    with pytest.raises(ValueError, match=r"1 region-days missing, e\.g\. Seoul 2024-01-03"):
        load_weather_csv(path, dt.date(2024, 1, 1), 4)
    with pytest.raises(ValueError, match="90 region-days missing"):
        load_weather_csv(path, dt.date(2024, 1, 4), 4)  # Jan 5-7 are not in the file


def test_load_weather_csv_rejects_missing_columns(tmp_path):
    path = tmp_path / "no_rain.csv"
    _write_csv(path, columns=[c for c in CSV_COLUMNS if c != "precipitation_mm"])
    with pytest.raises(ValueError, match=r"missing columns \['precipitation_mm'\]"):
        load_weather_csv(path, dt.date(2024, 1, 1), 2)


# --- derivation from the real file ------------------------------------------------------------
@pytest.fixture(scope="module")
def real_files() -> tuple[Path, Path]:
    daily = REAL_DIR / "kr_cities_daily_2016_2025.csv"
    asos = REAL_DIR / "kma_asos_seoul108_daily.csv"
    if not (daily.is_file() and asos.is_file()):
        pytest.skip(f"real weather data not available at {REAL_DIR}")
    return daily, asos


def test_derive_reproduces_the_committed_params(real_files):
    derived = derive_weather_params(*real_files)
    committed = load_weather_params()
    assert len(committed.monthly) == 30 * 12
    merged = committed.monthly.merge(
        derived.monthly, on=["region", "month"], suffixes=("", "_derived"), validate="one_to_one"
    )
    assert len(merged) == len(committed.monthly) == len(derived.monthly)
    for col in committed.monthly.columns.drop(["region", "month"]):
        np.testing.assert_allclose(
            merged[f"{col}_derived"], merged[col], rtol=1e-3, atol=1e-4, err_msg=col
        )
    assert set(derived.globals) == set(committed.globals)
    for key, value in committed.globals.items():
        assert derived.globals[key] == pytest.approx(value, rel=1e-3), key
    # The committed globals file is what load_weather_params returns.
    path = Path(__file__).resolve().parents[2] / "sources/synthetic/kr_weather_globals.json"
    assert json.loads(path.read_text()) == committed.globals
