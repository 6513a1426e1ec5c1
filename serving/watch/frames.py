"""The store's rows as the canonical tables a pass reads, from SQL or from the mirror.

`read_*` turn query results into canonical frames; `cut_tables` keeps what a pass at a time
may know: parcels created by then and within `HORIZON` or still open, their scans up to
then, outcomes known by then. The store's own read and the watcher's mirror both end here,
so they cannot disagree on what a pass sees.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from contract.locale import Locale
from contract.schema import (
    ADDRESS_QUALITY_COLUMNS,
    NETWORK,
    SCAN_EVENTS,
    SHIPMENTS,
    WEATHER_DAILY,
    WEATHER_FORECAST,
)
from contract.tables import Tables, conform
from features.context import LOOKBACK_DAYS
from features.snapshots import parcel_time_order
from serving.database import db_time
from serving.watch.schema import network, scan_events, shipments, weather_daily, weather_forecast

# How far back a pass reads: the context's longest window, plus a week for the parcels in
# flight when it starts.
HORIZON = pd.Timedelta(days=LOOKBACK_DAYS + 7)
SHIP_COLUMNS = [
    *(c.name for c in SHIPMENTS.columns if c.name not in ("dest_address", "recipient_phone")),
    *ADDRESS_QUALITY_COLUMNS,
]
EVENT_COLUMNS = [c.name for c in SCAN_EVENTS.columns]


def read_ships(conn: Connection, where: sa.ColumnElement[bool]) -> pd.DataFrame:
    """Shipments matching `where`: contract columns (no address text), address features."""
    ships = pd.read_sql(sa.select(*(shipments.c[c] for c in SHIP_COLUMNS)).where(where), conn)
    quality = ships[list(ADDRESS_QUALITY_COLUMNS)].astype(float).reset_index(drop=True)
    out = conform(ships.assign(dest_address=None, recipient_phone=None), SHIPMENTS)
    return pd.concat([out, quality], axis=1)


def read_events(
    conn: Connection, where: sa.ColumnElement[bool], join: bool = False
) -> pd.DataFrame:
    """Scans matching `where` (`join`: which may name the shipment's columns)."""
    query = sa.select(*(scan_events.c[c] for c in EVENT_COLUMNS))
    if join:
        query = query.join(shipments, shipments.c.shipment_id == scan_events.c.shipment_id)
    return conform(pd.read_sql(query.where(where), conn), SCAN_EVENTS)


def read_small_tables(conn: Connection, when: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Weather since `HORIZON` before `when`, and the network (a few thousand rows)."""
    since = db_time(when - HORIZON).date()
    daily = pd.read_sql(sa.select(weather_daily).where(weather_daily.c.date >= since), conn)
    forecast = pd.read_sql(
        sa.select(weather_forecast).where(weather_forecast.c.issued_date >= since), conn
    )
    return {
        "weather_daily": conform(daily, WEATHER_DAILY),
        "weather_forecast": conform(forecast, WEATHER_FORECAST),
        "network": conform(pd.read_sql(sa.select(network), conn), NETWORK),
    }


def open_or_recent(created: pd.Series, delivered: pd.Series, when: pd.Timestamp) -> pd.Series:
    """Parcels a pass at `when` reads: created by then, and within `HORIZON` or still open."""
    recent = created >= when - HORIZON
    return (created <= when) & (recent | delivered.isna() | (delivered > when))


def cut_tables(
    ships: pd.DataFrame,
    events: pd.DataFrame,
    small: dict[str, pd.DataFrame],
    when: pd.Timestamp,
    locale: Locale,
) -> Tables:
    """The tables a pass at `when` reads, from `read_ships` / `read_events` frames."""
    keep = open_or_recent(ships["created_at"], ships["delivered_at"], when).to_numpy(bool)
    ships = ships[keep].reset_index(drop=True)
    seen = among(events["shipment_id"], ships["shipment_id"])
    events = _tidy(events[seen & (events["event_time"] <= when).to_numpy(bool)])
    # An outcome after `when` was not known then.
    later = (ships["delivered_at"] > when).to_numpy(bool)
    outcome = ships[["delivered_at", "final_status"]].copy()
    outcome.loc[later, "delivered_at"] = pd.NaT
    outcome["final_status"] = outcome["final_status"].where(~later)
    ships = _tidy(ships.assign(**{c: outcome[c] for c in outcome}))
    return Tables(
        shipments=ships[[c.name for c in SHIPMENTS.columns]],
        scan_events=events,
        locale=locale,
        address_quality=ships[["shipment_id", *ADDRESS_QUALITY_COLUMNS]],
        **small,
    )


def among(values: pd.Series, allowed: pd.Series) -> np.ndarray:
    """Which `values` are in `allowed`, as a boolean array.

    Arrow's hash lookup: pandas' `isin` on Arrow-backed text loops in Python, 20x slower on
    a pass's 1.4M scans.
    """
    found = pc.is_in(pa.array(values), value_set=pa.array(allowed), skip_nulls=True)
    return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def last_scans(events: pd.DataFrame) -> pd.DataFrame:
    """Each parcel's latest scan, indexed by shipment id (scans without an id left out).

    What a stable sort by time and `groupby("shipment_id").tail(1)` give (of scans at the
    same time the later row; a scan without a time counts as the latest) without reordering
    the pass's million-odd scans: the last of each parcel in `by_parcel_and_time`'s order.
    """
    order, codes = parcel_time_order(events)
    parcel = codes[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = parcel[1:] != parcel[:-1]
    ends = order[last & (parcel >= 0)]
    return events.take(np.sort(ends)).set_index("shipment_id")


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as `conform` makes them for these rows alone: used ones, sorted."""
    out = frame.reset_index(drop=True)
    for name, dtype in out.dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype):
            column = out[name].cat.remove_unused_categories()
            out[name] = column.cat.reorder_categories(sorted(column.cat.categories))
    return out
