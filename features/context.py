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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contract.tables import Tables
from features.address import POSTCODE_DAYS
from features.families import REGISTERED
from features.history import HISTORY_DAYS
from features.progress import GAP_DAYS
from features.series import DAY, HOUR, Context, DailySeries, HubLoad
from features.snapshots import US_PER_S, by_parcel_and_time, positions_in, seconds, texts_of

__all__ = [
    "LOOKBACK_DAYS",
    "Bounds",
    "Context",
    "DailySeries",
    "HubLoad",
    "Span",
    "build_context",
    "known_at",
    "merge_contexts",
    "refresh_context",
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


@dataclass(frozen=True)
class Bounds:
    """Earliest and latest times in some tables, in epoch microseconds (None: none).

    A reduction: the bounds of the union of tables are `combine` of theirs, so partitions of
    one data set agree on the day and hour boundaries their contexts cover (`Span`).
    Microseconds, the contract's precision: the latest scan read back is that scan's time.
    """

    first: int | None  # creation or scan
    last: int | None
    first_event: int | None
    last_event: int | None

    @classmethod
    def of(cls, ships: pd.DataFrame, events: pd.DataFrame) -> Bounds:
        """The bounds of one set of shipments and their scans."""
        created, scanned = _micros(ships["created_at"]), _micros(events["event_time"])
        both = np.concatenate([created, scanned])
        return cls(
            int(both.min()) if len(both) else None,
            int(both.max()) if len(both) else None,
            int(scanned.min()) if len(scanned) else None,
            int(scanned.max()) if len(scanned) else None,
        )

    @classmethod
    def known_at(cls, tables: Tables, as_of: pd.Timestamp | None) -> Bounds:
        """The bounds of what was known of `tables` at `as_of` (None: everything)."""
        known = known_at(tables, as_of) if as_of is not None else tables
        return cls.of(known.shipments, known.scan_events)

    def combine(self, other: Bounds) -> Bounds:
        """The bounds of both sets."""

        def pick(a: int | None, b: int | None, best: Callable[[int, int], int]) -> int | None:
            return a if b is None else b if a is None else best(a, b)

        return Bounds(
            pick(self.first, other.first, min),
            pick(self.last, other.last, max),
            pick(self.first_event, other.first_event, min),
            pick(self.last_event, other.last_event, max),
        )

    @staticmethod
    def time(micros: int | None) -> pd.Timestamp:
        """A bound as a UTC timestamp (NaT: none)."""
        return pd.NaT if micros is None else pd.Timestamp(micros, unit="us", tz="UTC")


def _micros(times: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(times, utc=True).to_numpy(dtype="datetime64[us]")
    return stamps[~np.isnat(stamps)].view("int64")


@dataclass(frozen=True)
class Span:
    """The day boundaries the daily series cover and the hours the hub flows cover."""

    days: tuple[int, int]  # (first, last) epoch day
    hours: tuple[int, int] | None  # (first, last) epoch hour; None: no scans at all

    @classmethod
    def of(cls, bounds: Bounds, as_of: pd.Timestamp | None) -> Span:
        """The span of data with these bounds, cut at `as_of` (UTC) when given."""
        cut = None if as_of is None else float(seconds(pd.Series([utc(as_of)]))[0])
        if bounds.first is None or bounds.last is None:
            days = (0, 1)
        else:
            first = int(bounds.first / US_PER_S // DAY)
            last = int(bounds.last / US_PER_S // DAY) + 1 if cut is None else int(cut // DAY)
            days = (first, max(last, first + 1))
        if bounds.first_event is None or bounds.last_event is None:
            return cls(days, None)
        first_hour = int(bounds.first_event / US_PER_S // HOUR)
        last_hour = (
            int(bounds.last_event / US_PER_S // HOUR) + 1 if cut is None else int(cut // HOUR)
        )
        return cls(days, (first_hour, last_hour))


def build_context(
    tables: Tables, as_of: pd.Timestamp | None = None, span: Span | None = None
) -> Context:
    """Compute the context from `tables` (cut to what was known at `as_of` when given).

    Args:
        tables: The data; `known_at(as_of)` is applied here.
        as_of: When the context is as of (None: over the whole history).
        span: Boundaries to cover; default: those of `tables` (partitions of a larger data
            set pass the whole set's, so that `merge_contexts` can add them up).
    """
    if as_of is not None:
        as_of = utc(as_of)
        tables = known_at(tables, as_of)
    span = (
        span
        if span is not None
        else Span.of(Bounds.of(tables.shipments, tables.scan_events), as_of)
    )
    hubs = _hub_load(tables.scan_events, tables.network, span.hours)
    return _context(tables, as_of, hubs, _series(tables, span))


def refresh_context(
    previous: Context, tables: Tables, as_of: pd.Timestamp, *, series: bool, hub_load: bool
) -> Context:
    """`build_context(tables, as_of)`, rebuilding only the parts asked for.

    The others are taken from `previous`: for a caller that knows they would come out the
    same. A daily series read as of a time reads the boundary at the start of its UTC day,
    made of what happened before it; the hub load, the last full hour. So a context as of a
    later time of the same day (hour), from data that changed only after its start, has the
    same series (hub load) where features read them (serving/watch/context_keeper.py).
    """
    as_of = utc(as_of)
    known = known_at(tables, as_of)
    span = Span.of(Bounds.of(known.shipments, known.scan_events), as_of)
    return _context(
        known,
        as_of,
        _hub_load(known.scan_events, known.network, span.hours) if hub_load else previous.hub_load,
        _series(known, span) if series else previous.series,
    )


def _series(tables: Tables, span: Span) -> dict[str, DailySeries]:
    """Every daily series the registered families declare, over `span`'s days."""
    return {
        name: build(tables.shipments, tables.scan_events, span.days)
        for family in REGISTERED
        for name, build in family.series.items()
    }


def _context(
    known: Tables,
    as_of: pd.Timestamp | None,
    hub_load: HubLoad,
    series: dict[str, DailySeries],
) -> Context:
    """A context of these parts, with `known`'s weather, network and locale."""
    return Context(
        as_of=None if as_of is None else pd.Timestamp(as_of),
        hub_load=hub_load,
        series=series,
        weather_daily=known.weather_daily,
        weather_forecast=known.weather_forecast,
        network=known.network,
        locale=known.locale,
    )


def merge_contexts(parts: list[Context]) -> Context:
    """The context of the union of disjoint sets of shipments, from each set's context.

    The parts must be built over one `Span`, as of the same time, with the same small
    tables (weather, network, locale): every cross-shipment aggregate is a sum over
    shipments, so the union's is the sum of the parts' (up to float rounding).
    """
    if not parts:
        raise ValueError("no contexts to merge")
    head = parts[0]
    if any(p.as_of != head.as_of for p in parts):
        raise ValueError("contexts as of different times cannot merge")
    return Context(
        as_of=head.as_of,
        hub_load=HubLoad.merge([p.hub_load for p in parts]),
        series={name: DailySeries.merge([p.series[name] for p in parts]) for name in head.series},
        weather_daily=head.weather_daily,
        weather_forecast=head.weather_forecast,
        network=head.network,
        locale=head.locale,
    )


def _hub_load(
    events: pd.DataFrame, network: pd.DataFrame, hours: tuple[int, int] | None
) -> HubLoad:
    locations = pd.Index(network["location_id"].astype("str"))
    capacity = network["daily_capacity"].to_numpy(dtype=float)
    if hours is None:
        return HubLoad(
            0,
            locations,
            capacity,
            {k: np.zeros((len(locations), 1)) for k in ("in", "out", "dwell", "dwell_n")},
        )
    ev, codes = by_parcel_and_time(events, ("event_time", "location_id", "event_type"))
    t = seconds(ev["event_time"])
    first, last = hours
    n_hours = max(last - first + 1, 1)
    loc = positions_in(ev["location_id"], locations)
    kind = texts_of(ev["event_type"])
    is_in, is_out = np.isin(kind, IN_EVENTS), np.isin(kind, OUT_EVENTS)
    # Dwell of an out-scan: time since the parcel's latest in-scan.
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
