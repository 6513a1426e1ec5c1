"""Weather family: rain, snow and wind at the origin, current location and destination.

Observations count only for local days completed by as_of (a day's total is not known before
the day ends). Forecasts count when issued on or before the local day of as_of, for the days
from today to the promised day. Sources without forecasts give NaN, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from contract.tables import Tables
from features.family import FORECAST, OBS, Family, feature
from features.route import network_index
from features.series import Context
from features.snapshots import Columns, Snapshots, map_values

NAME = "weather"

HEAVY_RAIN_MM, STRONG_WIND_MS = 30.0, 14.0
_EPOCH_DAY = np.datetime64("1970-01-01", "D")


def _days(dates: pd.Series) -> np.ndarray:
    return (dates.to_numpy(dtype="datetime64[D]") - _EPOCH_DAY).astype(np.int64)


@dataclass(frozen=True)
class _Grid:
    """Dense [region, day(, lead)] arrays of one weather table."""

    regions: pd.Index
    first_day: int
    arrays: dict[str, np.ndarray]

    @cached_property
    def positions(self) -> dict[str, int]:
        """Row of each region; once per grid, not per call (regions are Arrow-backed text)."""
        return {k: i for i, k in enumerate(self.regions)}

    def index(self, region: np.ndarray) -> np.ndarray:
        """Row of each region; -1 when the table does not cover it."""
        return np.asarray(map_values(region, self.positions, -1), dtype=np.int64)

    def take(self, name: str, region: np.ndarray, day: np.ndarray, *lead: np.ndarray) -> np.ndarray:
        arr = self.arrays[name]
        d = day - self.first_day
        ok = (region >= 0) & (d >= 0) & (d < arr.shape[1])
        idx = (np.maximum(region, 0), np.clip(d, 0, arr.shape[1] - 1), *lead)
        return np.where(ok, arr[idx], np.nan)


def _observed(weather: pd.DataFrame) -> _Grid | None:
    if weather.empty:
        return None
    regions = pd.Index(weather["region"].astype("str").unique())
    day = _days(weather["date"])
    first = int(day.min())
    shape = (len(regions), int(day.max()) - first + 1)
    r = regions.get_indexer(weather["region"].astype("str"))
    values = {}
    for col in ("precip_mm", "snow", "wind_max_ms"):
        arr = np.full(shape, np.nan)
        arr[r, day - first] = weather[col].to_numpy(dtype=float)
        values[col] = arr
    return _Grid(regions, first, values)


def _forecasts(forecast: pd.DataFrame) -> _Grid | None:
    if forecast.empty:
        return None
    regions = pd.Index(forecast["region"].astype("str").unique())
    issued = _days(forecast["issued_date"])
    lead = _days(forecast["target_date"]) - issued
    first = int(issued.min())
    shape = (len(regions), int(issued.max()) - first + 1, int(lead.max()) + 1)
    r = regions.get_indexer(forecast["region"].astype("str"))
    values = {}
    for col in ("precip_mm", "snow", "wind_max_ms"):
        arr = np.full(shape, np.nan)
        arr[r, issued - first, lead] = forecast[col].to_numpy(dtype=float)
        values[col] = arr
    return _Grid(regions, first, values)


def _fc_max(
    grid: _Grid, name: str, region: np.ndarray, today: np.ndarray, horizon: np.ndarray
) -> np.ndarray:
    """Max forecast over leads 0..horizon from today's issue (yesterday's if today has none)."""
    arr = grid.arrays[name]
    n_leads = arr.shape[2]
    out = np.full(len(today), np.nan)
    for back in (0, 1):  # today's issue first, else yesterday's (one lead further)
        d = today - back - grid.first_day
        ok = (region >= 0) & (d >= 0) & (d < arr.shape[1])
        rows = arr[np.maximum(region, 0), np.clip(d, 0, arr.shape[1] - 1)]  # [n, leads]
        lead = np.arange(n_leads)[None, :]
        wanted = ok[:, None] & (lead >= back) & (lead <= horizon[:, None] + back)
        masked = np.where(wanted, rows, -np.inf)
        best = masked.max(axis=1) if n_leads else np.full(len(today), -np.inf)
        out = np.where(np.isnan(out) & np.isfinite(best), best, out)
    return out


def weather_features(snap: Snapshots, context: Context, on_path: dict[str, np.ndarray]) -> Columns:
    """Weather columns for every snapshot.

    Args:
        snap: The snapshots.
        context: Weather tables (observations and forecasts) as of the snapshots.
        on_path: Regions along the way besides origin and destination: `current` (where the
            last scan was) and `hub` (the destination hub the line-haul runs to).
    """
    obs = context.memo("weather.observed", lambda: _observed(context.weather_daily))
    fc = context.memo("weather.forecast", lambda: _forecasts(context.weather_forecast))
    n = len(snap)
    nan = np.full(n, np.nan)
    out: Columns = {}
    dest, origin = (
        np.asarray(snap.column("dest_region"), dtype=object),
        np.asarray(snap.column("origin_region"), dtype=object),
    )
    today = snap.local_day()
    if obs is not None:
        d = obs.index(dest)
        rain = np.stack([obs.take("precip_mm", d, today - k) for k in (1, 2, 3)])
        seen = ~np.isnan(rain).all(axis=0)
        out["wx_dest_precip_1d"] = rain[0]
        out["wx_dest_precip_3d"] = np.where(seen, np.nansum(np.nan_to_num(rain), axis=0), np.nan)
        snow = np.stack([obs.take("snow", d, today - k) for k in (1, 2, 3)])
        out["wx_dest_snow_3d"] = np.where(seen, np.nan_to_num(snow).max(axis=0), np.nan)
        out["wx_origin_precip_1d"] = obs.take("precip_mm", obs.index(origin), today - 1)
        for place, region in on_path.items():
            out[f"wx_{place}_precip_1d"] = obs.take("precip_mm", obs.index(region), today - 1)
    else:
        for col in ("wx_dest_precip_1d", "wx_dest_precip_3d", "wx_dest_snow_3d"):
            out[col] = nan
        for place in ("origin", *on_path):
            out[f"wx_{place}_precip_1d"] = nan
    if fc is not None:
        promised_day = np.floor((snap.promised_s + snap.local_offset_h * 3600) / 86400)
        horizon = np.clip(promised_day - today, 0, None).astype(np.int64)
        d = fc.index(dest)
        out["wx_dest_fc_precip_max"] = _fc_max(fc, "precip_mm", d, today, horizon)
        out["wx_dest_fc_snow"] = _fc_max(fc, "snow", d, today, horizon)
        out["wx_dest_fc_wind_max"] = _fc_max(fc, "wind_max_ms", d, today, horizon)
        for place, region in on_path.items():
            out[f"wx_{place}_fc_precip_today"] = _fc_max(
                fc, "precip_mm", fc.index(region), today, np.zeros(n, dtype=np.int64)
            )
    else:
        for col in ("wx_dest_fc_precip_max", "wx_dest_fc_snow", "wx_dest_fc_wind_max"):
            out[col] = nan
        for place in on_path:
            out[f"wx_{place}_fc_precip_today"] = nan
    out["wx_dest_severity"] = severity(
        np.fmax(out["wx_dest_fc_precip_max"], out["wx_dest_precip_1d"]),
        np.fmax(out["wx_dest_fc_snow"], out["wx_dest_snow_3d"]),
        out["wx_dest_fc_wind_max"],
    )
    return out


def severity(precip_mm: np.ndarray, snow: np.ndarray, wind_ms: np.ndarray) -> np.ndarray:
    """Monotone weather severity: more rain, snow or wind never lowers it (NaN if all unknown)."""
    parts = np.stack([precip_mm / HEAVY_RAIN_MM, snow, wind_ms / STRONG_WIND_MS])
    return np.where(np.isnan(parts).all(axis=0), np.nan, np.nansum(parts, axis=0))


def _compute(snap: Snapshots, tables: Tables, context: Context, done: Columns) -> Columns:
    index = network_index(tables, context)
    on_path = {
        "current": map_values(done["prog_last_location"], index.location_region, None),
        "hub": map_values(done["_dest_hub"], index.location_region, None),
    }
    return weather_features(snap, context, on_path)


FEATURES = (
    feature("wx_dest_precip_1d", NAME, "Destination rain on the last completed day (mm).", OBS),
    feature("wx_dest_precip_3d", NAME, "Destination rain over the last 3 completed days.", OBS),
    feature("wx_dest_snow_3d", NAME, "Snow at the destination in the last 3 completed days.", OBS),
    feature("wx_origin_precip_1d", NAME, "Origin rain on the last completed day.", OBS),
    feature("wx_current_precip_1d", NAME, "Rain at the current location's region.", OBS),
    feature("wx_hub_precip_1d", NAME, "Rain at the destination hub's region (line-haul).", OBS),
    feature(
        "wx_dest_fc_precip_max",
        NAME,
        "Max forecast daily rain at the destination, today to the promised day.",
        FORECAST,
    ),
    feature(
        "wx_dest_fc_snow", NAME, "Snow forecast at the destination before the promise.", FORECAST
    ),
    feature(
        "wx_dest_fc_wind_max",
        NAME,
        "Max forecast wind at the destination before the promise.",
        FORECAST,
    ),
    feature(
        "wx_hub_fc_precip_today",
        NAME,
        "Forecast rain today at the destination hub's region.",
        FORECAST,
    ),
    feature(
        "wx_current_fc_precip_today", NAME, "Forecast rain today at the current location.", FORECAST
    ),
    feature(
        "wx_dest_severity",
        NAME,
        "Weather severity at the destination (rain/30 mm + snow + wind/14 m/s).",
        FORECAST,
    ),
)

FAMILY = Family(NAME, "WEATHER", FEATURES, _compute)
