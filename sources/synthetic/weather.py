"""Weather of the simulated world: a generator calibrated on real Korean data, or the real file.

The generator is a latent Gaussian field x[t, region]: AR(1) in time, correlated in space with
a correlation that decays with distance. A region is wet on day t when Phi(x) exceeds its
month's dry-day probability; the amount is the month's gamma quantile of how far past that
threshold x is, so wet spells, regional rain bands and heavy days come out together.
Temperatures are AR(1) anomalies around each region-month mean. Parameters are derived from
`shared/data/weather_kr/kr_cities_daily_2016_2025.csv` (and wind from the Seoul ASOS station)
by `python -m sources.synthetic.weather derive` and committed next to this module.
docs/weather.md explains the derivation and compares real and generated statistics.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from contract.reference.geo import haversine_km
from contract.reference.korea import regions

PARAMS_FILE = "kr_weather_params.csv"
GLOBALS_FILE = "kr_weather_globals.json"
WET_MM = 0.1
SNOW_CODES = (71, 73, 75, 77, 85, 86)
WEATHER_COLUMNS = [
    "region",
    "date",
    "precip_mm",
    "temp_min_c",
    "temp_max_c",
    "snow",
    "wind_max_ms",
    "weather_code",
]
ISLAND_WIND_FACTOR = 1.6
_QUANTILES = 2001  # resolution of the per region-month gamma quantile tables
_GAMMA_DRAWS = 20_000
_erf = np.frompyfunc(math.erf, 1, 1)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, vectorised."""
    return 0.5 * (1.0 + np.asarray(_erf(np.asarray(x, dtype=float) / math.sqrt(2.0)), dtype=float))


@dataclass(frozen=True)
class WeatherParams:
    """Calibrated generator parameters.

    Attributes:
        monthly: One row per (region, month): p_wet, wet_shape, wet_scale, p_snow_given_wet,
            tmax_mean, tmax_sd, tmin_mean, tmin_sd.
        globals: precip_ar, precip_corr_km, temp_ar, temp_corr_km, wind_shape and wind_scale
            (lists of 12, per month), heavy_rain_wind_per_mm.
    """

    monthly: pd.DataFrame
    globals: dict[str, Any]


# --- derivation from the real file ----------------------------------------------------------
def derive_weather_params(daily_csv: Path, asos_csv: Path | None = None) -> WeatherParams:
    """Fit the generator's parameters to the real daily file (and Seoul ASOS wind)."""
    real = pd.read_csv(daily_csv, parse_dates=["date"])
    real["month"] = real["date"].dt.month
    real["wet"] = real["precipitation_mm"] >= WET_MM
    real["snow"] = real["wmo_weather_code"].isin(SNOW_CODES)
    rows = []
    for (city, month), g in real.groupby(["city", "month"]):
        wet = g.loc[g["wet"], "precipitation_mm"]
        mean, var = wet.mean(), wet.var()
        rows.append(
            {
                "region": city,
                "month": month,
                "p_wet": g["wet"].mean(),
                # Method of moments: shape = mean^2 / var, scale = var / mean.
                "wet_shape": mean**2 / var,
                "wet_scale": var / mean,
                "p_snow_given_wet": g.loc[g["wet"], "snow"].mean(),
                "tmax_mean": g["temp_max_c"].mean(),
                "tmax_sd": g["temp_max_c"].std(),
                "tmin_mean": g["temp_min_c"].mean(),
                "tmin_sd": g["temp_min_c"].std(),
            }
        )
    monthly = pd.DataFrame(rows).round(4)
    glob: dict[str, Any] = {}
    glob.update(_dependence(real, "precipitation_mm", "precip"))
    real["tmax_anom"] = real.groupby(["city", "month"])["temp_max_c"].transform(
        lambda s: (s - s.mean()) / s.std()
    )
    glob.update(_dependence(real, "tmax_anom", "temp"))
    glob.update(_wind(asos_csv))
    return WeatherParams(monthly, glob)


def _normal_scores(values: pd.Series) -> np.ndarray:
    """Rank-based normal scores (ties, e.g. all the dry days, share their mid-rank)."""
    ranks = values.rank(method="average").to_numpy()
    inv = NormalDist().inv_cdf
    return np.array([inv(r / (len(values) + 1)) for r in ranks])


def _dependence(real: pd.DataFrame, column: str, name: str) -> dict[str, float]:
    """AR(1) coefficient and spatial correlation length of a variable's normal scores.

    Lag-1 autocorrelation is averaged over cities. Same-day correlation between cities is
    fitted as exp(-distance / L) by least squares on log-correlation through the origin.
    """
    wide = real.pivot_table(index="date", columns="city", values=column)
    z = wide.apply(_normal_scores)
    ar = float(np.mean([np.corrcoef(z[c][1:], z[c][:-1])[0, 1] for c in z.columns]))
    corr = np.corrcoef(z.to_numpy().T)
    reg = regions().set_index("region").loc[z.columns]
    d = _distances_km(reg["lat"].to_numpy(), reg["lon"].to_numpy())
    off = ~np.eye(len(d), dtype=bool) & (corr > 0.05)
    length = float(-(d[off] @ d[off]) / (d[off] @ np.log(corr[off])))
    return {f"{name}_ar": round(ar, 4), f"{name}_corr_km": round(length, 1)}


def _wind(asos_csv: Path | None) -> dict[str, Any]:
    """Monthly gamma fit of daily max wind at Seoul (2000-2020), or documented defaults."""
    if asos_csv is None:
        return {
            "wind_shape": [6.0] * 12,
            "wind_scale": [1.0] * 12,
            "heavy_rain_wind_per_mm": 0.05,
        }
    asos = pd.read_csv(asos_csv, encoding="utf-8-sig", parse_dates=["Date"])
    asos = asos[(asos["Date"].dt.year >= 2000) & asos["MaxWindSpeed"].notna()]
    monthly = asos.groupby(asos["Date"].dt.month)["MaxWindSpeed"].agg(["mean", "var"])
    precip = asos["Precipitation"].fillna(0.0)
    # Extra wind per mm of rain on wet days: typhoon and monsoon-front days are windy.
    wet = precip >= 10
    slope = (asos.loc[wet, "MaxWindSpeed"].mean() - asos.loc[~wet, "MaxWindSpeed"].mean()) / max(
        precip[wet].mean(), 1.0
    )
    return {
        "wind_shape": (monthly["mean"] ** 2 / monthly["var"]).round(3).tolist(),
        "wind_scale": (monthly["var"] / monthly["mean"]).round(3).tolist(),
        "heavy_rain_wind_per_mm": round(float(max(slope, 0.0)), 4),
    }


def write_params(params: WeatherParams, out_dir: Path) -> None:
    """Write the parameter table and globals as committed next to this module."""
    params.monthly.to_csv(out_dir / PARAMS_FILE, index=False)
    (out_dir / GLOBALS_FILE).write_text(json.dumps(params.globals, indent=2) + "\n")


@cache
def load_weather_params() -> WeatherParams:
    """The committed parameters."""
    pkg = resources.files(__package__)
    with pkg.joinpath(PARAMS_FILE).open("rb") as fh:
        monthly = pd.read_csv(fh)
    glob = json.loads(pkg.joinpath(GLOBALS_FILE).read_text())
    return WeatherParams(monthly, glob)


# --- generation ----------------------------------------------------------------------------
def _distances_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Great-circle distances between every pair of points."""
    return haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])


def _correlation_factor(length_km: float) -> np.ndarray:
    """Cholesky factor of exp(-distance / length) between the 30 regions."""
    reg = regions()
    d = _distances_km(reg["lat"].to_numpy(), reg["lon"].to_numpy())
    corr = np.exp(-d / length_km) + 1e-6 * np.eye(len(d))
    return np.linalg.cholesky(corr)


def _field(n_days: int, ar: float, length_km: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary standard-normal field [days, regions], AR(1) in time, correlated in space."""
    chol = _correlation_factor(length_km)
    shocks = rng.standard_normal((n_days, chol.shape[0])) @ chol.T
    x = np.empty_like(shocks)
    x[0] = shocks[0]
    keep = math.sqrt(1 - ar**2)
    for t in range(1, n_days):
        x[t] = ar * x[t - 1] + keep * shocks[t]
    return x


def _gamma_tables(monthly: pd.DataFrame) -> np.ndarray:
    """Quantile tables [region, month, q] of each wet-day gamma (fixed seed: part of params)."""
    rng = np.random.default_rng(20160101)
    draws = rng.gamma(
        monthly["wet_shape"].to_numpy()[:, None],
        monthly["wet_scale"].to_numpy()[:, None],
        (len(monthly), _GAMMA_DRAWS),
    )
    draws.sort(axis=1)
    at = np.rint(np.linspace(0, _GAMMA_DRAWS - 1, _QUANTILES)).astype(int)
    tables = np.zeros((monthly["region_idx"].max() + 1, 13, _QUANTILES))
    tables[monthly["region_idx"], monthly["month"]] = draws[:, at]
    return np.maximum(tables, WET_MM)


def weather_code(precip: np.ndarray, snow: np.ndarray, month: np.ndarray) -> np.ndarray:
    """WMO 4677 code from the day's measures (0 dry, 61-65 rain, 71-75 snow, 95 storms)."""
    rain_code = np.select([precip < 10, precip < 30], [61, 63], 65)
    storm = (precip >= 30) & np.isin(month, [6, 7, 8, 9])
    rain_code = np.where(storm, 95, rain_code)
    snow_code = np.select([precip < 2, precip < 8], [71, 73], 75)
    wet = precip >= WET_MM
    return np.where(wet, np.where(snow, snow_code, rain_code), 0).astype(float)


def generate_weather(
    start: dt.date, days: int, rng: np.random.Generator, params: WeatherParams | None = None
) -> pd.DataFrame:
    """Daily weather of all 30 regions for `days` days from `start` (canonical weather_daily)."""
    p = params or load_weather_params()
    reg = regions()
    n_reg = len(reg)
    monthly = p.monthly.merge(reg[["region"]].reset_index(names="region_idx"), on="region")
    dates = pd.date_range(start, periods=days, freq="D")
    month = dates.month.to_numpy()

    def grid(col: str) -> np.ndarray:
        table = np.zeros((n_reg, 13))
        table[monthly["region_idx"], monthly["month"]] = monthly[col]
        return table[:, month].T  # [days, regions]

    g = p.globals
    x = _field(days, float(g["precip_ar"]), float(g["precip_corr_km"]), rng)
    u = normal_cdf(x)
    p_wet = grid("p_wet")
    wet = u > 1 - p_wet
    excess = np.clip((u - (1 - p_wet)) / np.maximum(p_wet, 1e-9), 0, 1)
    tables = _gamma_tables(monthly)
    q = np.rint(excess * (_QUANTILES - 1)).astype(int)
    region_idx = np.broadcast_to(np.arange(n_reg), (days, n_reg))
    month_idx = np.broadcast_to(month[:, None], (days, n_reg))
    precip = np.where(wet, tables[region_idx, month_idx, q], 0.0).round(1)

    anom = _field(days, float(g["temp_ar"]), float(g["temp_corr_km"]), rng)
    tmax = grid("tmax_mean") + grid("tmax_sd") * anom
    tmin = grid("tmin_mean") + grid("tmin_sd") * anom
    tmin = np.minimum(tmin, tmax - 0.5)
    # Snow falls on the coldest wet days: with a standard-normal anomaly, Phi(anom) < p gives
    # exactly the fitted P(snow | wet) and puts it where it is cold.
    snow = wet & (normal_cdf(anom) < grid("p_snow_given_wet"))

    shape = np.asarray(g["wind_shape"], dtype=float)[month - 1][:, None]
    scale = np.asarray(g["wind_scale"], dtype=float)[month - 1][:, None]
    wind = rng.gamma(np.broadcast_to(shape, (days, n_reg)), np.broadcast_to(scale, (days, n_reg)))
    wind = wind + float(g["heavy_rain_wind_per_mm"]) * precip
    # The wind fit is inland Seoul; open-sea islands are markedly windier.
    wind = wind * np.where(reg["island"].to_numpy(), ISLAND_WIND_FACTOR, 1.0)

    frame = pd.DataFrame(
        {
            "region": np.tile(reg["region"].to_numpy(), days),
            "date": np.repeat(dates.to_numpy(), n_reg),
            "precip_mm": precip.ravel(),
            "temp_min_c": tmin.round(1).ravel(),
            "temp_max_c": tmax.round(1).ravel(),
            "snow": snow.ravel(),
            "wind_max_ms": wind.round(1).ravel(),
            "weather_code": weather_code(precip, snow, month_idx).ravel(),
        }
    )
    return frame.astype({"date": "datetime64[us]"})


def generate_forecasts(
    weather_daily: pd.DataFrame, horizon_days: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Forecasts issued each day for leads 0..horizon: the later observation plus noise.

    The noise grows with lead time: precipitation is scaled by lognormal noise, rain is missed
    or invented more often further ahead; temperatures and wind get additive/multiplicative
    noise. Target dates stay inside `weather_daily`.
    """
    obs = weather_daily.sort_values(["date", "region"], ignore_index=True)
    parts = []
    for lead in range(horizon_days + 1):
        f = obs.copy()
        f["target_date"] = f["date"]
        f["issued_date"] = f["date"] - pd.Timedelta(days=lead)
        f = f[f["issued_date"] >= obs["date"].min()].drop(columns="date")
        n = len(f)
        precip = f["precip_mm"].to_numpy() * rng.lognormal(0.0, 0.25 + 0.15 * lead, n)
        missed = (precip > 0) & (rng.random(n) < 0.05 + 0.05 * lead)
        invented = (precip == 0) & (rng.random(n) < 0.03 + 0.03 * lead)
        precip = np.where(missed, 0.0, precip)
        precip = np.where(invented, rng.gamma(0.8, 3.0 * (1 + lead / 2), n), precip).round(1)
        temp_noise = rng.normal(0.0, 1.0 + 0.5 * lead, n)
        f["precip_mm"] = precip
        f["temp_min_c"] = (f["temp_min_c"] + temp_noise).round(1)
        f["temp_max_c"] = (f["temp_max_c"] + temp_noise).round(1)
        f["wind_max_ms"] = (f["wind_max_ms"] * rng.lognormal(0.0, 0.1 + 0.08 * lead, n)).round(1)
        f["snow"] = (precip >= WET_MM) & (f["snow"].to_numpy() | (f["temp_max_c"] < 0).to_numpy())
        month = f["target_date"].dt.month.to_numpy()
        f["weather_code"] = weather_code(precip, f["snow"].to_numpy(), month)
        parts.append(f)
    out = pd.concat(parts, ignore_index=True)
    cols = ["region", "issued_date", "target_date", *WEATHER_COLUMNS[2:]]
    return out[cols].sort_values(["issued_date", "target_date", "region"], ignore_index=True)


# --- the real file -------------------------------------------------------------------------
def load_weather_csv(path: Path, start: dt.date, days: int) -> pd.DataFrame:
    """The real daily file (weather_kr format) as weather_daily for [start, start + days).

    Raises:
        ValueError: The file lacks columns, or does not cover every region on every day.
    """
    needed = {"date", "city", "temp_max_c", "temp_min_c", "precipitation_mm", "wmo_weather_code"}
    header = set(pd.read_csv(path, nrows=0).columns)
    if missing := needed - header:
        raise ValueError(f"{path}: missing columns {sorted(missing)} (weather_kr format expected)")
    real = pd.read_csv(path, usecols=sorted(needed), parse_dates=["date"])
    dates = pd.date_range(start, periods=days, freq="D")
    names = regions()["region"].tolist()
    real = real[real["date"].isin(dates) & real["city"].isin(names)]
    have = pd.MultiIndex.from_frame(real[["city", "date"]])
    want = pd.MultiIndex.from_product([names, dates], names=["city", "date"])
    gaps = want.difference(have)
    if len(gaps):
        first = gaps[:3].map(lambda t: f"{t[0]} {t[1]:%Y-%m-%d}").tolist()
        raise ValueError(
            f"{path} does not cover {start} .. {dates[-1]:%Y-%m-%d} for all 30 regions: "
            f"{len(gaps)} region-days missing, e.g. {', '.join(first)}"
        )
    code = real["wmo_weather_code"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "region": real["city"].to_numpy(),
            "date": real["date"].to_numpy(),
            "precip_mm": real["precipitation_mm"].fillna(0.0).to_numpy(),
            "temp_min_c": real["temp_min_c"].to_numpy(dtype=float),
            "temp_max_c": real["temp_max_c"].to_numpy(dtype=float),
            "snow": np.isin(code, SNOW_CODES),
            "wind_max_ms": np.nan,
            "weather_code": code,
        }
    )
    return out.sort_values(["date", "region"], ignore_index=True).astype({"date": "datetime64[us]"})


def main() -> None:
    """`python -m sources.synthetic.weather derive`: regenerate the committed params."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("command", choices=["derive"])
    parser.add_argument("--daily", type=Path, required=True, help="kr_cities_daily_2016_2025.csv")
    parser.add_argument("--asos", type=Path, help="kma_asos_seoul108_daily.csv (wind)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    write_params(derive_weather_params(args.daily, args.asos), args.out)
    print(f"wrote {args.out / PARAMS_FILE} and {args.out / GLOBALS_FILE}")


if __name__ == "__main__":
    main()
