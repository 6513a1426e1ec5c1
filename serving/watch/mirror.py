"""The watcher's in-memory copy of the store's recent shipments and scans, kept current by change.

A pass needs every parcel of the last `HORIZON` and their scans (1.4 million rows with 100k
parcels in flight); reading them from SQL every pass cost more than scoring them. The mirror
reads them once, then before each pass only the rows ingests wrote since: every ingest
stamps what it writes with the next change number (`StateStore.change_seq`), numbered in
commit order, so "the rows numbered above the last one seen, up to the latest committed" is
exactly what changed. `tables(as_of)` then cuts what a pass may know out of memory, the same
tables `StateStore.tables(as_of)` reads from SQL (tests/serving/test_mirror.py).

It also says how far back the changes reach (`earliest_change`): a late scan from yesterday
changes yesterday's histories, a scan from this hour does not, so the watcher knows which
parts of the last context still hold (docs/live.md, "The pass").
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa
from pandas.api.types import union_categoricals
from sqlalchemy.engine import Connection

from contract.tables import Tables
from serving.database import IN_CHUNK, db_time
from serving.watch.frames import (
    HORIZON,
    SHIP_COLUMNS,
    among,
    cut_tables,
    read_events,
    read_ships,
    read_small_tables,
)
from serving.watch.schema import scan_events, shipments
from serving.watch.store import StateStore

# A change to these alone is an outcome: it reaches back to the outcome's time only.
_OUTCOME = ("delivered_at", "final_status")


class StoreMirror:
    """Shipments and scans of a `StateStore` in memory, for passes at times that move forward.

    Args:
        store: The store to mirror.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._ships: pd.DataFrame | None = None
        self._events: pd.DataFrame | None = None
        self._seen = 0  # the change number read up to
        self._from: pd.Timestamp | None = None  # passes before this need a fresh load
        self._earliest: pd.Timestamp | None = None

    @property
    def rows(self) -> tuple[int, int]:
        """Shipments and scans held."""
        if self._ships is None or self._events is None:
            return 0, 0
        return len(self._ships), len(self._events)

    def earliest_change(self) -> pd.Timestamp | None:
        """The earliest time the data changed at since the last call (None: nothing changed).

        After a full load it is the minimum timestamp: everything is new.
        """
        found, self._earliest = self._earliest, None
        return found

    def tables(self, as_of: pd.Timestamp) -> Tables:
        """The store's tables as known at `as_of`, as `StateStore.tables` reads them."""
        when = pd.Timestamp(as_of).tz_convert("UTC")
        if self._ships is None or self._from is None or when < self._from:
            self._load(when)
        else:
            self._catch_up()
        self._evict(when)
        assert self._ships is not None and self._events is not None
        with self.store.reading() as conn:
            small = read_small_tables(conn, when)
        return cut_tables(self._ships, self._events, small, when, self.store.locale)

    # --- reading ---------------------------------------------------------------------------

    def _load(self, when: pd.Timestamp) -> None:
        """Everything a pass at `when` or later may need (what `_evict` would keep)."""
        since = db_time(when - HORIZON)
        wanted = sa.or_(
            shipments.c.created_at >= since,
            shipments.c.delivered_at.is_(None),
            shipments.c.delivered_at > db_time(when),
        )
        with self.store.reading() as conn:
            seen = self.store.change_seq(conn)
            ships = read_ships(conn, sa.and_(wanted, shipments.c.change_seq <= seen))
            events = read_events(
                conn,
                sa.and_(wanted, scan_events.c.change_seq <= seen),
                join=True,
            )
        self._ships, self._events, self._seen, self._from = ships, events, seen, when
        self._earliest = pd.Timestamp.min.tz_localize("UTC")

    def _catch_up(self) -> None:
        """Apply the rows ingests wrote since the last read."""
        assert self._ships is not None and self._events is not None
        with self.store.reading() as conn:
            latest = self.store.change_seq(conn)
            if latest == self._seen:
                return
            fresh = sa.and_(shipments.c.change_seq > self._seen, shipments.c.change_seq <= latest)
            changed = read_ships(conn, fresh)
            events = read_events(
                conn,
                sa.and_(scan_events.c.change_seq > self._seen, scan_events.c.change_seq <= latest),
            )
            held = among(self._ships["shipment_id"], changed["shipment_id"])
            # Parcels changed now but not held (evicted, or before the first load): their
            # earlier scans come with them.
            absent = changed.loc[~among(changed["shipment_id"], self._ships["shipment_id"])]
            earlier = _scans_of(conn, absent["shipment_id"].tolist(), self._seen)
        self._note(_reach(self._ships[held], changed, events))
        self._ships = _append(self._ships[~held], changed)
        self._events = _append(self._events, earlier, events)
        self._seen = latest

    def _evict(self, when: pd.Timestamp) -> None:
        """Drop parcels no pass at `when` or later reads: older than HORIZON and delivered."""
        assert self._ships is not None and self._events is not None
        ships = self._ships
        gone = (ships["created_at"] < when - HORIZON) & (ships["delivered_at"] <= when)
        if gone.any():
            dropped = ships.loc[gone, "shipment_id"]
            self._ships = ships[~gone.to_numpy()].reset_index(drop=True)
            keep = ~among(self._events["shipment_id"], dropped)
            self._events = self._events[keep].reset_index(drop=True)
        self._from = max(self._from, when) if self._from is not None else when

    def _note(self, reach: pd.Timestamp | None) -> None:
        if reach is not None and (self._earliest is None or reach < self._earliest):
            self._earliest = reach


def _scans_of(conn: Connection, ids: list[str], seen: int) -> pd.DataFrame:
    """The scans of `ids` numbered up to `seen` (those after come with the changes)."""
    parts = [
        read_events(
            conn,
            sa.and_(
                scan_events.c.shipment_id.in_(ids[start : start + IN_CHUNK]),
                scan_events.c.change_seq <= seen,
            ),
        )
        for start in range(0, len(ids), IN_CHUNK)
    ]
    return pd.concat(parts, ignore_index=True) if parts else read_events(conn, sa.false())


def _reach(before: pd.DataFrame, after: pd.DataFrame, events: pd.DataFrame) -> pd.Timestamp | None:
    """How far back in time a set of changes reaches.

    A new scan: its time. A new parcel, or one whose fields changed: its creation (all its
    times are later). One that only gained or lost an outcome: the outcome's time.
    """
    times = [events["event_time"].min()]
    old = before.set_index("shipment_id")
    new = after.set_index("shipment_id")
    known = new.index.isin(old.index)
    times.append(new.loc[~known, "created_at"].min())
    if known.any():
        pairs = new[known]
        prior = old.reindex(pairs.index)
        rest = [c for c in SHIP_COLUMNS if c not in (*_OUTCOME, "shipment_id")]
        same = (prior[rest].astype(object) == pairs[rest].astype(object)) | (
            prior[rest].isna() & pairs[rest].isna()
        )
        other = ~same.all(axis=1)
        times.append(pairs.loc[other, "created_at"].min())
        outcome = pairs.loc[~other]
        times += [outcome["delivered_at"].min(), prior.loc[~other, "delivered_at"].min()]
    found = [t for t in times if not pd.isna(t)]
    return min(found) if found else None


def _append(*frames: pd.DataFrame) -> pd.DataFrame:
    """The frames one after another, categorical columns kept categorical (categories united)."""
    parts = [f for f in frames if not f.empty] or [frames[0]]
    out = pd.concat(parts, ignore_index=True)
    for name, dtype in frames[0].dtypes.items():
        if isinstance(dtype, pd.CategoricalDtype) and not isinstance(
            out[name].dtype, pd.CategoricalDtype
        ):
            # As text: a column with no values yet has categories of another dtype.
            texts = [_as_text(f[name].array) for f in parts]
            out[name] = pd.Categorical(union_categoricals(texts, ignore_order=True))
    return out


def _as_text(values: Any) -> pd.Categorical:
    return values.rename_categories(values.categories.astype("str"))


__all__ = ["StoreMirror"]
