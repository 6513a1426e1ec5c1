"""Cross-shipment context: hub load, histories and weather, computed in batch as of a time.

Features of one parcel that depend on other parcels (how loaded its hubs are, how late its
lane has been) come from here. Every series is cumulative over time boundaries, and a
snapshot reads the last boundary at or before its `as_of`:

- hub load: hourly boundaries; a snapshot sees events before the last full hour <= as_of;
- daily series, each declared by the family that reads it (features/families.py): lane,
  seller and postcode histories, normal scan gaps, missed promises; a snapshot sees
  shipments and events completed (promises fallen due) before the start of its UTC day;
- weather: observations of completed local days and forecasts issued by the local day.

Training builds one context over the whole history and joins it point-in-time. Serving
builds it once as of "now" (`stallguard context --as-of T`) and reads its latest boundary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contract.tables import Tables
from features.address import POSTCODE_DAYS
from features.families import REGISTERED
from features.history import HISTORY_DAYS
from features.progress import GAP_DAYS
from features.series import DAY, HOUR, Context, DailySeries, HubLoad
from features.snapshots import seconds

__all__ = [
    "LOOKBACK_DAYS",
    "Context",
    "DailySeries",
    "HubLoad",
    "build_context",
    "known_at",
    "utc",
]

# The longest trailing window any family reads (postcode failed attempts): a context built
# from this many days before `as_of` equals one built from the whole history.
LOOKBACK_DAYS = max(HISTORY_DAYS, GAP_DAYS, POSTCODE_DAYS)

IN_EVENTS = ("HUB_IN", "TERMINAL_IN")
OUT_EVENTS = ("HUB_OUT", "DELIVERED")


def utc(when: pd.Timestamp | str) -> pd.Timestamp:
    """A timestamp in UTC (naive input is read as UTC, the contract's zone)."""
    stamp = pd.Timestamp(when)
    return stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")


def known_at(tables: Tables, as_of: pd.Timestamp) -> Tables:
    """Only what was known at `as_of`: later events, outcomes and weather are removed."""
    as_of = utc(as_of)
    ships = tables.shipments[tables.shipments["created_at"] <= as_of].copy()
    unknown = ~(ships["delivered_at"] <= as_of).fillna(False).to_numpy(dtype=bool)
    ships.loc[unknown, "delivered_at"] = pd.NaT
    ships["final_status"] = ships["final_status"].where(~unknown)
    events = tables.scan_events[tables.scan_events["event_time"] <= as_of]
    # The latest local day anywhere is at most as_of + 14 h; completed days are before it.
    today = (as_of + pd.Timedelta(hours=14)).tz_localize(None).normalize()
    wd = tables.weather_daily[tables.weather_daily["date"] < today]
    wf = tables.weather_forecast[tables.weather_forecast["issued_date"] <= today]
    return tables.replace(
        shipments=ships, scan_events=events, weather_daily=wd, weather_forecast=wf
    )


def build_context(tables: Tables, as_of: pd.Timestamp | None = None) -> Context:
    """Compute the context from `tables` (cut to what was known at `as_of` when given)."""
    if as_of is not None:
        as_of = utc(as_of)
        tables = known_at(tables, as_of)
    ships, events = tables.shipments, tables.scan_events
    days = _day_range(ships, events, as_of)
    return Context(
        as_of=None if as_of is None else pd.Timestamp(as_of),
        hub_load=_hub_load(events, tables.network, as_of),
        series={
            name: build(ships, events, days)
            for family in REGISTERED
            for name, build in family.series.items()
        },
        weather_daily=tables.weather_daily,
        weather_forecast=tables.weather_forecast,
        network=tables.network,
        locale=tables.locale,
    )


def _day_range(
    ships: pd.DataFrame, events: pd.DataFrame, as_of: pd.Timestamp | None
) -> tuple[int, int]:
    """(first, last) epoch day boundary the daily series cover."""
    times = [seconds(ships["created_at"]), seconds(events["event_time"])]
    stamps = np.concatenate([t[~np.isnan(t)] for t in times])
    if len(stamps) == 0:
        return 0, 1
    first = int(stamps.min() // DAY)
    last = int(stamps.max() // DAY) + 1
    if as_of is not None:
        last = int(seconds(pd.Series([as_of]))[0] // DAY)
    return first, max(last, first + 1)


def _hub_load(events: pd.DataFrame, network: pd.DataFrame, as_of: pd.Timestamp | None) -> HubLoad:
    locations = pd.Index(network["location_id"].astype("str"))
    capacity = network["daily_capacity"].to_numpy(dtype=float)
    ev = events.sort_values(["shipment_id", "event_time"], kind="stable")
    t = seconds(ev["event_time"])
    if len(t) == 0:
        return HubLoad(
            0,
            locations,
            capacity,
            {k: np.zeros((len(locations), 1)) for k in ("in", "out", "dwell", "dwell_n")},
        )
    first = int(np.nanmin(t) // HOUR)
    last = int(np.nanmax(t) // HOUR) + 1
    if as_of is not None:
        last = int(seconds(pd.Series([as_of]))[0] // HOUR)
    n_hours = max(last - first + 1, 1)
    loc = locations.get_indexer(ev["location_id"].astype("str"))
    kind = ev["event_type"].astype("str").to_numpy()
    is_in, is_out = np.isin(kind, IN_EVENTS), np.isin(kind, OUT_EVENTS)
    # Dwell of an out-scan: time since the parcel's latest in-scan.
    codes = pd.factorize(ev["shipment_id"])[0]
    last_in = np.maximum.accumulate(np.where(is_in, np.arange(len(t)), -1))
    has_in = (last_in >= 0) & (codes[np.maximum(last_in, 0)] == codes)
    dwell = np.where(is_out & has_in, (t - t[np.maximum(last_in, 0)]) / HOUR, np.nan)
    hour = (t // HOUR).astype(np.int64) - first + 1  # counted from the next boundary on
    ok = (loc >= 0) & (hour >= 1) & (hour < n_hours)
    cum = {}
    for name, mask, value in (
        ("in", is_in, 1.0),
        ("out", is_out, 1.0),
        ("dwell", is_out & ~np.isnan(dwell), np.nan_to_num(dwell)),
        ("dwell_n", is_out & ~np.isnan(dwell), 1.0),
    ):
        acc = np.zeros((len(locations), n_hours))
        sel = ok & mask
        np.add.at(acc, (loc[sel], hour[sel]), np.broadcast_to(value, len(t))[sel])
        cum[name] = np.cumsum(acc, axis=1)
    return HubLoad(first, locations, capacity, cum)
