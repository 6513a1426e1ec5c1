"""The foresight oracle's extra columns: what a perfect observer could know at `as_of`.

The hindsight oracle (training/baselines.py) sees which hidden causes touched a parcel: the
random draws of its journey as they happened, which nobody could know in advance, so its
AUC is close to 1. The foresight oracle is the same learner given every hidden *state* as it
stood at `as_of`, but none of the draws:

- the parcel's true address or contact defect (the model only sees the text's symptoms);
- whether its seller is one who often hands over late (the model sees the seller's history);
- the stoppage calendar: stopped days ahead at the origin (before pickup) and the
  destination (up to the promise);
- perfect weather forecasts: the weather that will actually fall at the destination and
  the origin on the days ahead (the model sees noisy forecasts).

It bounds what better data about today's world could buy; the gap to it is what the model
could still learn. Synthetic worlds only: the simulator writes these states to `hidden/`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.tables import Tables
from features.snapshots import seconds
from sources.synthetic.world import HiddenStates

LOOKAHEAD_DAYS = 3  # perfect forecasts for today and the next two local days
MAX_PROMISE_DAYS = 10  # days scanned up to the promise (promises are a few days away)


def foresight_columns(
    tables: Tables, snapshots: pd.DataFrame, states: HiddenStates
) -> pd.DataFrame:
    """One row per snapshot: the hidden states knowable at its `as_of` (numeric columns)."""
    ships = tables.shipments.set_index("shipment_id")
    ids = snapshots["shipment_id"]
    dest = ids.map(ships["dest_region"].astype("str")).to_numpy(dtype=object)
    origin = ids.map(ships["origin_region"].astype("str")).to_numpy(dtype=object)
    offset = tables.locale.utc_offset_h * 3600
    today = np.floor((seconds(snapshots["as_of"]) + offset) / 86400).astype(np.int64)
    promised_s = seconds(ids.map(ships["promised_at"]).reset_index(drop=True))
    promise_day = np.floor((promised_s + offset) / 86400)
    promise_day = np.where(np.isnan(promise_day), today, promise_day)
    promise_day = np.clip(promise_day, today, today + MAX_PROMISE_DAYS)
    promise_day = promise_day.astype(np.int64)

    out: dict[str, np.ndarray] = {}
    defect = ids.map(states.defects.set_index("shipment_id")["defect"]).fillna("NONE")
    for kind in sorted(states.defects["defect"].unique()):
        out[f"fs_defect_{kind.lower()}"] = (defect == kind).to_numpy(dtype=float)
    slow = states.sellers.set_index("seller_id")["slow"].astype(float)
    out["fs_slow_seller"] = ids.map(ships["seller_id"]).map(slow).to_numpy(dtype=float)

    weather = _WeatherGrid(tables.weather_daily)
    at_dest, at_origin = weather.rows(dest), weather.rows(origin)
    for k in range(LOOKAHEAD_DAYS):
        out[f"fs_dest_precip_d{k}"] = weather.take("precip_mm", at_dest, today + k)
        out[f"fs_dest_snow_d{k}"] = weather.take("snow", at_dest, today + k)
        out[f"fs_origin_precip_d{k}"] = weather.take("precip_mm", at_origin, today + k)
    out["fs_dest_wind_d0"] = weather.take("wind_max_ms", at_dest, today)
    days = range(MAX_PROMISE_DAYS + 1)
    ahead = [weather.take("precip_mm", at_dest, today + k) for k in days]
    snow = [weather.take("snow", at_dest, today + k) for k in days]
    before_promise = np.arange(MAX_PROMISE_DAYS + 1)[:, None] <= (promise_day - today)[None, :]
    out["fs_dest_precip_max_to_promise"] = np.nanmax(
        np.where(before_promise, np.vstack(ahead), 0.0), axis=0
    )
    out["fs_dest_snow_to_promise"] = np.nanmax(
        np.where(before_promise, np.vstack(snow), 0.0), axis=0
    )

    stopped = _StoppageCalendar(states.stoppages)
    out["fs_stop_origin_days_ahead"] = stopped.days(origin, today, today + LOOKAHEAD_DAYS)
    out["fs_stop_dest_days_to_promise"] = stopped.days(dest, today, promise_day)
    out["fs_stop_dest_today"] = stopped.days(dest, today, today)
    return pd.DataFrame(out, index=range(len(snapshots)))


class _WeatherGrid:
    """Actual daily weather by (region, local day number)."""

    def __init__(self, weather: pd.DataFrame) -> None:
        days = (weather["date"].to_numpy(dtype="datetime64[D]").astype(np.int64)).astype(np.int64)
        self.first = int(days.min()) if len(days) else 0
        self.regions = pd.Index(weather["region"].astype("str").unique())
        shape = (len(self.regions), (int(days.max()) - self.first + 1) if len(days) else 0)
        rows = self.regions.get_indexer(weather["region"].astype("str"))
        self.grids = {}
        for name in ("precip_mm", "snow", "wind_max_ms"):
            grid = np.full(shape, np.nan)
            grid[rows, days - self.first] = weather[name].to_numpy(dtype=float, na_value=np.nan)
            self.grids[name] = grid

    def rows(self, region: np.ndarray) -> np.ndarray:
        """Grid row of each region (-1: no weather there)."""
        return self.regions.get_indexer(pd.Index(region, dtype=object))

    def take(self, name: str, row: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The measure at (row, local day) for each snapshot; NaN outside the grid."""
        grid = self.grids[name]
        col = day - self.first
        ok = (row >= 0) & (col >= 0) & (col < grid.shape[1])
        return np.where(ok, grid[np.maximum(row, 0), np.clip(col, 0, grid.shape[1] - 1)], np.nan)


class _StoppageCalendar:
    """Stopped local days per region."""

    def __init__(self, stoppages: pd.DataFrame) -> None:
        self.spans: dict[str, list[tuple[int, int]]] = {}
        first = stoppages["first_day"].to_numpy(dtype="datetime64[D]").astype(np.int64)
        last = stoppages["last_day"].to_numpy(dtype="datetime64[D]").astype(np.int64)
        for region, a, b in zip(stoppages["region"].astype("str"), first, last, strict=True):
            self.spans.setdefault(region, []).append((int(a), int(b)))

    def days(self, region: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Stopped days of each row's region within [start, end] (inclusive)."""
        out = np.zeros(len(region))
        codes, names = pd.factorize(pd.Series(region, dtype=object))
        for name, spans in self.spans.items():
            found = np.flatnonzero(names == name)
            if not len(found):
                continue
            mine = codes == found[0]
            for a, b in spans:
                overlap = np.minimum(end[mine], b) - np.maximum(start[mine], a) + 1
                out[mine] += np.maximum(overlap, 0)
        return out
