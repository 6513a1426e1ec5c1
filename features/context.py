"""Cross-shipment context: hub load, histories and weather, computed in batch as of a time.

Features of one parcel that depend on other parcels (how loaded its hubs are, how late its
lane has been) come from here. Every series is cumulative over time boundaries, and a
snapshot reads the last boundary at or before its `as_of`:

- hub load: hourly boundaries; a snapshot sees events before the last full hour <= as_of;
- histories (lane, seller, postcode, normal scan gaps, missed promises): UTC-day boundaries; a
  snapshot sees shipments and events completed (promises fallen due) before the start of its
  UTC day;
- weather: observations of completed local days and forecasts issued by the local day.

Training builds one context over the whole history and joins it point-in-time. Serving
builds it once as of "now" (`stallguard context --as-of T`) and reads its latest boundary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from features.snapshots import seconds
from features.tables import Tables

T = TypeVar("T")
HOUR, DAY = 3600, 86400
HISTORY_DAYS = 28  # trailing window of lane and seller histories
POSTCODE_DAYS = 90  # failed-attempt history per postcode area needs a longer window
DUE_DAYS = 2  # missed promises: a short window, so a stoppage or storm shows within a day
TRANSIT_BIN_H, TRANSIT_BINS = 4, 60  # lane transit-time histogram: 4 h bins up to 240 h
GAP_BIN_H, GAP_BINS = 1, 120  # scan-gap histogram: 1 h bins up to 120 h
SERIES = ("lane", "seller", "postcode", "gaps", "due")  # the daily series a context holds
IN_EVENTS = ("HUB_IN", "TERMINAL_IN")
OUT_EVENTS = ("HUB_OUT", "DELIVERED")


@dataclass(frozen=True)
class DailySeries:
    """Trailing-window sums per (UTC day boundary, key), dense.

    Attributes:
        first_day: Epoch day of boundary 0 (sums cover days strictly before a boundary).
        keys: Key of each column.
        sums: name -> array [boundaries, keys] (or [boundaries, keys, bins]).
    """

    first_day: int
    keys: pd.Index
    sums: dict[str, np.ndarray]

    def rows(self, day: np.ndarray) -> np.ndarray:
        """Boundary row for snapshots on `day` (clamped: later days read the latest)."""
        n = next(iter(self.sums.values())).shape[0]
        return np.clip(day - self.first_day, 0, n - 1)


@dataclass(frozen=True)
class HubLoad:
    """Hourly cumulative flows per location: in, out, dwell of what left."""

    first_hour: int
    locations: pd.Index
    capacity: np.ndarray
    cum: dict[str, np.ndarray]  # name -> [locations, boundaries]


@dataclass(frozen=True)
class Context:
    """Everything cross-shipment a feature may read, as of `as_of` (None: whole history)."""

    as_of: pd.Timestamp | None
    hub_load: HubLoad
    lane: DailySeries
    seller: DailySeries
    postcode: DailySeries
    gaps: DailySeries
    due: DailySeries
    weather_daily: pd.DataFrame
    weather_forecast: pd.DataFrame
    network: pd.DataFrame
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Derived lookup tables, computed once per context (serving reuses one context)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def write(self, path: str | Path) -> Path:
        """Persist as an .npz of arrays plus Parquet tables, for serving."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, object] = {"as_of": None if self.as_of is None else self.as_of.isoformat()}
        for name in SERIES:
            series: DailySeries = getattr(self, name)
            meta[f"{name}.first_day"] = series.first_day
            meta[f"{name}.keys"] = series.keys.astype("str").tolist()
            for k, v in series.sums.items():
                arrays[f"{name}.{k}"] = v
        hub = self.hub_load
        meta["hub.first_hour"] = hub.first_hour
        meta["hub.locations"] = hub.locations.astype("str").tolist()
        arrays["hub.capacity"] = hub.capacity
        for k, v in hub.cum.items():
            arrays[f"hub.{k}"] = v
        np.savez_compressed(root / "context.npz", **arrays)  # type: ignore[arg-type]
        (root / "context.json").write_text(json.dumps(meta))
        self.weather_daily.to_parquet(root / "weather_daily.parquet", index=False)
        self.weather_forecast.to_parquet(root / "weather_forecast.parquet", index=False)
        self.network.to_parquet(root / "network.parquet", index=False)
        return root

    @classmethod
    def read(cls, path: str | Path) -> Context:
        """Read a context written by `write`."""
        root = Path(path)
        if not (root / "context.json").exists():
            raise FileNotFoundError(f"no context at {root} (build one: stallguard context)")
        meta = json.loads((root / "context.json").read_text())
        arrays = dict(np.load(root / "context.npz"))

        def series(name: str) -> DailySeries:
            prefix = f"{name}."
            sums = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            return DailySeries(meta[f"{name}.first_day"], pd.Index(meta[f"{name}.keys"]), sums)

        hub_cum = {
            k[4:]: v for k, v in arrays.items() if k.startswith("hub.") and k != "hub.capacity"
        }
        return cls(
            as_of=None if meta["as_of"] is None else pd.Timestamp(meta["as_of"]),
            hub_load=HubLoad(
                meta["hub.first_hour"],
                pd.Index(meta["hub.locations"]),
                arrays["hub.capacity"],
                hub_cum,
            ),
            lane=series("lane"),
            seller=series("seller"),
            postcode=series("postcode"),
            gaps=series("gaps"),
            due=series("due"),
            weather_daily=pd.read_parquet(root / "weather_daily.parquet"),
            weather_forecast=pd.read_parquet(root / "weather_forecast.parquet"),
            network=pd.read_parquet(root / "network.parquet"),
        )


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
        lane=_lane_history(ships, days),
        seller=_seller_history(ships, events, days),
        postcode=_postcode_history(ships, events, days),
        gaps=_gap_history(events, days),
        due=_due_history(ships, days),
        weather_daily=tables.weather_daily,
        weather_forecast=tables.weather_forecast,
        network=tables.network,
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


def _windowed(
    day: np.ndarray,
    key: np.ndarray,
    n_keys: int,
    days: tuple[int, int],
    window: int,
    values: dict[str, np.ndarray],
    bins: tuple[np.ndarray, int] | None = None,
) -> dict[str, np.ndarray]:
    """Trailing-window sums at each day boundary b: the sum over days in [b - window, b).

    With `bins` (bin of each row, number of bins) the sums are histograms per key.
    """
    first, last = days
    n_rows = last - first + 1
    keep = (day >= first) & (day < last) & (key >= 0)
    # Row d + 1 - first holds day d, so the cumulative sum at row r covers days before r.
    index: tuple[np.ndarray, ...] = (day[keep] - first + 1, key[keep])
    shape: tuple[int, ...] = (n_rows, n_keys)
    if bins is not None:
        index = (*index, bins[0][keep])
        shape = (*shape, bins[1])
    out = {}
    for name, v in values.items():
        acc = np.zeros(shape)
        np.add.at(acc, index, v[keep])
        cum = np.cumsum(acc, axis=0)
        lagged = np.concatenate([np.zeros((window, *shape[1:])), cum])[:n_rows]
        out[name] = (cum - lagged).astype(np.float32)
    return out


def _lane_history(ships: pd.DataFrame, days: tuple[int, int]) -> DailySeries:
    done = ships[ships["delivered_at"].notna()]
    lane = (
        done["origin_region"].astype("str") + ">" + done["dest_region"].astype("str")
    ).to_numpy()
    keys = pd.Index(np.unique(np.append(lane.astype(str), "*")))
    delivered = seconds(done["delivered_at"])
    day = np.floor(delivered / DAY).astype(np.int64)
    late = (delivered > seconds(done["promised_at"])).astype(float)
    transit_h = (delivered - seconds(done["created_at"])) / HOUR
    bins = np.clip(transit_h // TRANSIT_BIN_H, 0, TRANSIT_BINS - 1).astype(np.int64)
    ones = np.ones(len(done))
    col = keys.get_indexer(lane)
    star = np.full(len(done), keys.get_loc("*"))
    both_day, both_key = np.concatenate([day, day]), np.concatenate([col, star])
    sums = _windowed(
        both_day,
        both_key,
        len(keys),
        days,
        HISTORY_DAYS,
        {"n": np.tile(ones, 2), "late": np.tile(late, 2)},
    )
    sums.update(
        _windowed(
            both_day,
            both_key,
            len(keys),
            days,
            HISTORY_DAYS,
            {"hist": np.tile(ones, 2)},
            bins=(np.tile(bins, 2), TRANSIT_BINS),
        )
    )
    return DailySeries(days[0], keys, sums)


def _seller_history(
    ships: pd.DataFrame, events: pd.DataFrame, days: tuple[int, int]
) -> DailySeries:
    picked = events[events["event_type"] == "PICKED_UP"].drop_duplicates("shipment_id")
    created = picked["shipment_id"].map(ships.set_index("shipment_id")["created_at"])
    seller = picked["shipment_id"].map(ships.set_index("shipment_id")["seller_id"]).astype("str")
    handover_h = (seconds(picked["event_time"]) - seconds(created)) / HOUR
    keys = pd.Index(np.unique(np.append(seller.to_numpy().astype(str), "*")))
    day = np.floor(seconds(picked["event_time"]) / DAY).astype(np.int64)
    ok = ~np.isnan(handover_h)
    col = keys.get_indexer(seller.to_numpy())
    star = np.full(len(col), keys.get_loc("*"))
    sums = _windowed(
        np.concatenate([day[ok], day[ok]]),
        np.concatenate([col[ok], star[ok]]),
        len(keys),
        days,
        HISTORY_DAYS,
        {"n": np.ones(2 * ok.sum()), "handover_h": np.tile(handover_h[ok], 2)},
    )
    return DailySeries(days[0], keys, sums)


def postcode_area(postcodes: pd.Series | np.ndarray) -> np.ndarray:
    """First three digits of a postcode: the district-level area (thin data pools there)."""
    return np.array(
        [p[:3] if isinstance(p, str) and p else "?" for p in np.asarray(postcodes, dtype=object)],
        dtype=object,
    )


def _postcode_history(
    ships: pd.DataFrame, events: pd.DataFrame, days: tuple[int, int]
) -> DailySeries:
    attempts = events[events["event_type"].isin(["DELIVERED", "DELIVERY_FAILED"])]
    by_id = pd.Series(postcode_area(ships["dest_postcode"]), index=ships["shipment_id"].to_numpy())
    area = attempts["shipment_id"].map(by_id)
    keys = pd.Index(np.unique(np.append(area.astype("str").to_numpy(), "*")))
    day = np.floor(seconds(attempts["event_time"]) / DAY).astype(np.int64)
    failed = (attempts["event_type"] == "DELIVERY_FAILED").to_numpy(dtype=float)
    col = keys.get_indexer(area.astype("str").to_numpy())
    star = np.full(len(col), keys.get_loc("*"))
    sums = _windowed(
        np.concatenate([day, day]),
        np.concatenate([col, star]),
        len(keys),
        days,
        POSTCODE_DAYS,
        {"attempts": np.ones(2 * len(day)), "failed": np.tile(failed, 2)},
    )
    return DailySeries(days[0], keys, sums)


def _due_history(ships: pd.DataFrame, days: tuple[int, int]) -> DailySeries:
    """Promises that fell due per UTC day, and how many were missed, by destination and origin.

    A promise's fate is known the moment it falls due (delivered by then or not), so this
    follows a stoppage or a storm a day after it starts, where lane histories wait for the
    late parcels to be delivered. Keys: `d:<dest region>`, `o:<origin region>` and `*`.
    """
    due = ships[ships["final_status"].astype("str") != "CANCELED"]
    promised = seconds(due["promised_at"])
    delivered = seconds(due["delivered_at"])
    missed = ~(delivered <= promised)  # not delivered (yet) by the promise: missed
    day = np.floor(promised / DAY).astype(np.int64)
    # An unknown region pools under "?", a key no snapshot reads (it takes the prior).
    dest = ("d:" + due["dest_region"].astype("str").fillna("?")).to_numpy(dtype=object)
    origin = ("o:" + due["origin_region"].astype("str").fillna("?")).to_numpy(dtype=object)
    keys = pd.Index(np.unique(np.concatenate([dest, origin, ["*"]])))
    star = np.full(len(due), keys.get_loc("*"))
    sums = _windowed(
        np.tile(day, 3),
        np.concatenate([keys.get_indexer(dest), keys.get_indexer(origin), star]),
        len(keys),
        days,
        DUE_DAYS,
        {"n": np.ones(3 * len(due)), "missed": np.tile(missed.astype(float), 3)},
    )
    return DailySeries(days[0], keys, sums)


def _gap_history(events: pd.DataFrame, days: tuple[int, int]) -> DailySeries:
    """Histogram of hours from each scan type to the parcel's next scan, by day the gap closed."""
    ev = events.sort_values(["shipment_id", "event_time"], kind="stable")
    same = ev["shipment_id"].to_numpy()[1:] == ev["shipment_id"].to_numpy()[:-1]
    t = seconds(ev["event_time"])
    kind = ev["event_type"].astype("str").to_numpy()[:-1][same]
    gap_h = ((t[1:] - t[:-1]) / HOUR)[same]
    closed_day = np.floor(t[1:][same] / DAY).astype(np.int64)
    keys = pd.Index(np.unique(kind)) if len(kind) else pd.Index(["CREATED"])
    bins = np.clip(gap_h // GAP_BIN_H, 0, GAP_BINS - 1).astype(np.int64)
    sums = _windowed(
        closed_day,
        keys.get_indexer(kind),
        len(keys),
        days,
        HISTORY_DAYS,
        {"gaps": np.ones(len(kind))},
        bins=(bins, GAP_BINS),
    )
    return DailySeries(days[0], keys, sums)


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
