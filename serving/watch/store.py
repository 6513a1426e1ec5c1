"""The watch's state: what was ingested, what was predicted, and who runs the next pass.

Ingestion takes rows that already passed the contract (the API's row models, or batch
validation for `stallguard ingest`) and answers one `RowResult` per row, in order:
`accepted` (new or changed), `duplicate` (already stored as it is), or `rejected` (with the
reason; a scan for a shipment the store does not know, for one). A shipment's address and
phone are reduced at ingest to the address features and a keyed hash (serving/watch/schema.py).
A DELIVERED scan sets the shipment's outcome, which later passes' histories learn from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from contract.locale import NEUTRAL, Locale
from contract.schema import (
    ADDRESS_QUALITY_COLUMNS,
    NETWORK,
    SCAN_EVENTS,
    SHIPMENTS,
    WEATHER_DAILY,
    WEATHER_FORECAST,
)
from contract.tables import Tables
from features.address import address_quality
from serving.database import (
    IN_CHUNK,
    Database,
    db_time,
    insert_rows,
    upsert_columns,
)
from serving.watch import schema
from serving.watch.frames import HORIZON, cut_tables, read_events, read_ships, read_small_tables
from serving.watch.schema import (
    network,
    pass_profiles,
    prediction_log,
    predictions,
    scan_events,
    shipments,
    watch_changes,
    watch_lease,
    watch_passes,
    weather_daily,
    weather_forecast,
)

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"
DEFAULT_URL = "sqlite:///data/state.db"
CHUNK = IN_CHUNK  # keys per IN list
PII = ("dest_address", "recipient_phone")
_STORED = [c.name for c in SHIPMENTS.columns if c.name not in PII]


@dataclass(frozen=True)
class RowResult:
    """What became of one ingested row.

    Attributes:
        key: The row's key (shipment id; for a scan, shipment id, time and type).
        status: accepted, duplicate or rejected.
        error: Why it was rejected (never its values).
    """

    key: str
    status: str
    error: str | None = None


def _db_times(values: pd.Series) -> list[dt.datetime | None]:
    """Naive UTC datetimes (what every backend stores), None for missing."""
    # numpy's tolist gives datetimes and None for NaT, 30x faster than one value at a time.
    return _stamps(values).tolist()


def _stamps(values: pd.Series) -> np.ndarray:
    """Naive UTC datetime64[us] (NaT for missing), for `upsert_columns`."""
    return pd.to_datetime(values, utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _records(
    frame: pd.DataFrame, times: Iterable[str] = (), dates: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Rows as plain Python values for SQL: NaN -> None, times naive UTC, categories text."""
    converted: dict[str, list[Any]] = {}
    for name in times:
        if name in frame:
            converted[name] = _db_times(frame[name])
    for name in dates:
        if name in frame:
            converted[name] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in frame[name]]
    rest = frame.drop(columns=list(converted))
    records = rest.astype(object).where(rest.notna(), None).to_dict("records")
    for name, values in converted.items():
        for record, value in zip(records, values, strict=True):
            record[name] = value
    return records


def scan_key(shipment_id: str, event_time: pd.Timestamp, event_type: str, location: Any) -> str:
    """The identity of a scan: the same scan sent twice is one row."""
    text = "\x1f".join(
        [shipment_id, pd.Timestamp(event_time).isoformat(), event_type, str(location or "")]
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class StateStore(Database):
    """The watch's state in a SQL database (SQLite by default; PostgreSQL in production).

    Args:
        url: SQLAlchemy URL (STALLGUARD_STATE_URL).
        pii_key: Key of the contact hash (STALLGUARD_PII_KEY); None: no hash is kept.
        locale: The locale of the data the watch serves (its holidays and local days).
    """

    def __init__(
        self, url: str = DEFAULT_URL, pii_key: str | None = None, locale: Locale = NEUTRAL
    ) -> None:
        super().__init__(url, schema.MIGRATIONS, schema.VERSION_TABLE)
        self.locale = locale
        self._pii_key = pii_key.encode() if pii_key else None

    # --- ingestion ----------------------------------------------------------------------------

    def put_shipments(self, frame: pd.DataFrame, now: dt.datetime) -> list[RowResult]:
        """Insert new shipments and update changed ones (promise changes, outcomes).

        `frame` holds contract-valid shipment rows (canonical dtypes; address and phone as
        read). The text is reduced here and never stored.
        """
        if frame.empty:
            return []
        frame = frame.reset_index(drop=True)
        rows = frame[_STORED].copy()
        quality = address_quality(frame)
        for name in ADDRESS_QUALITY_COLUMNS:
            rows[name] = quality[name].to_numpy()
        rows["contact_hash"] = self._contact_hashes(frame)
        records = _records(rows, ("created_at", "promised_at", "delivered_at"))
        stamp = db_time(now)
        for record in records:
            record["content_hash"] = _digest(record)
            record["updated_at"] = stamp
        results: list[RowResult] = []
        with self._transaction() as conn:
            ids = [r["shipment_id"] for r in records]
            known = self._existing(conn, shipments.c.shipment_id, shipments.c.content_hash, ids)
            inserts: dict[str, dict[str, Any]] = {}
            updates: dict[str, dict[str, Any]] = {}
            for record in records:  # in order: a later row for the same parcel wins
                sid = record["shipment_id"]
                if known.get(sid) == record["content_hash"]:
                    results.append(RowResult(sid, DUPLICATE))
                    continue
                # Known (stored, or inserted earlier in this batch): an update, applied after
                # the inserts.
                (updates if sid in known else inserts)[sid] = record
                known[sid] = record["content_hash"]
                results.append(RowResult(sid, ACCEPTED))
            if inserts or updates:
                seq = self._next_change(conn)
                for record in (*inserts.values(), *updates.values()):
                    record["change_seq"] = seq
            if inserts:
                insert_rows(conn, shipments, list(inserts.values()))
            for sid, record in updates.items():
                conn.execute(
                    shipments.update().where(shipments.c.shipment_id == sid).values(**record)
                )
        return results

    def put_events(self, frame: pd.DataFrame, now: dt.datetime) -> list[RowResult]:
        """Insert scans (in any order); a scan already stored is a duplicate.

        A scan for a shipment the store does not hold is rejected. A DELIVERED scan sets its
        shipment's `delivered_at` and `final_status` (the first delivery wins).
        """
        if frame.empty:
            return []
        frame = frame.reset_index(drop=True)
        keys = [
            scan_key(s, t, str(e), loc)
            for s, t, e, loc in zip(
                frame["shipment_id"],
                frame["event_time"],
                frame["event_type"].astype(str),
                frame["location_id"].astype(object),
                strict=True,
            )
        ]
        labels = [
            f"{s}@{pd.Timestamp(t).isoformat()}:{e}"
            for s, t, e in zip(
                frame["shipment_id"], frame["event_time"], frame["event_type"], strict=True
            )
        ]
        records = _records(frame[[c.name for c in SCAN_EVENTS.columns]], ("event_time",))
        stamp = db_time(now)
        results: list[RowResult] = []
        with self._transaction() as conn:
            known = self._existing(
                conn,
                shipments.c.shipment_id,
                shipments.c.shipment_id,
                frame["shipment_id"].unique(),
            )
            stored = self._existing(conn, scan_events.c.event_key, scan_events.c.event_key, keys)
            fresh: list[dict[str, Any]] = []
            seen: set[str] = set()
            for key, label, record in zip(keys, labels, records, strict=True):
                if record["shipment_id"] not in known:
                    results.append(RowResult(label, REJECTED, "unknown shipment_id"))
                elif key in stored or key in seen:
                    results.append(RowResult(label, DUPLICATE))
                else:
                    seen.add(key)
                    fresh.append({**record, "event_key": key, "ingested_at": stamp})
                    results.append(RowResult(label, ACCEPTED))
            if fresh:
                seq = self._next_change(conn)
                for record in fresh:
                    record["change_seq"] = seq
                insert_rows(conn, scan_events, fresh)
                delivered = [r for r in fresh if r["event_type"] == "DELIVERED"]
                self._set_outcomes(conn, delivered, seq)
        return results

    def put_table(self, name: str, frame: pd.DataFrame) -> list[RowResult]:
        """Upsert weather observations, forecasts or network locations by their keys."""
        table, contract = {
            "weather_daily": (weather_daily, WEATHER_DAILY),
            "weather_forecast": (weather_forecast, WEATHER_FORECAST),
            "network": (network, NETWORK),
        }[name]
        if frame.empty:
            return []
        frame = frame.reset_index(drop=True)
        times = [c.name for c in contract.columns if c.kind == "timestamp"]
        dates = [c.name for c in contract.columns if c.kind == "date"]
        records = _records(frame[[c.name for c in contract.columns]], times, dates)
        keys = [tuple(r[k] for k in contract.key) for r in records]
        latest = dict(zip(keys, records, strict=True))  # a key twice in a batch: the last wins
        results: list[RowResult] = []
        with self._transaction() as conn:
            stored = self._stored_rows(conn, table, contract.key, list(latest.values()))
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for key, record in zip(keys, records, strict=True):
                label = ":".join(str(v) for v in key)
                if stored.get(key) == record:
                    results.append(RowResult(label, DUPLICATE))
                    continue
                if record is latest[key]:
                    (updates if key in stored else inserts).append(record)
                results.append(RowResult(label, ACCEPTED))
            if inserts:
                insert_rows(conn, table, inserts)
            if updates:
                where = [table.c[k] == sa.bindparam(f"b_{k}") for k in contract.key]
                conn.execute(
                    table.update()
                    .where(*where)
                    .values({c: sa.bindparam(c) for c in updates[0] if c not in contract.key}),
                    [{**r, **{f"b_{k}": r[k] for k in contract.key}} for r in updates],
                )
        return results

    @staticmethod
    def _stored_rows(
        conn: Connection, table: sa.Table, key: tuple[str, ...], records: list[dict[str, Any]]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        """The stored rows with the keys of `records`, by key (one query per chunk).

        Bounded by the first key column's values and the range of the others, then matched.
        """
        wanted = {tuple(r[k] for k in key) for r in records}
        firsts = sorted({k[0] for k in wanted})
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        for start in range(0, len(firsts), CHUNK):
            query = sa.select(table).where(table.c[key[0]].in_(firsts[start : start + CHUNK]))
            for i, name in enumerate(key[1:], 1):
                values = [k[i] for k in wanted]
                query = query.where(table.c[name].between(min(values), max(values)))
            for row in conn.execute(query):
                mapping = dict(row._mapping)
                at = tuple(mapping[k] for k in key)
                if at in wanted:
                    found[at] = mapping
        return found

    def _next_change(self, conn: Connection) -> int:
        """The next change number, for what this transaction writes.

        The counter row stays locked until the transaction ends, so on PostgreSQL too
        ingests take their numbers in commit order (SQLite's writers queue anyway).
        """
        conn.execute(
            watch_changes.update()
            .where(watch_changes.c.name == "ingest")
            .values(seq=watch_changes.c.seq + 1)
        )
        return self.change_seq(conn)

    def change_seq(self, conn: Connection) -> int:
        """The latest change number committed (every row stamped up to it is visible)."""
        return int(
            conn.execute(
                sa.select(watch_changes.c.seq).where(watch_changes.c.name == "ingest")
            ).scalar_one()
        )

    def _set_outcomes(self, conn: Connection, delivered: list[dict[str, Any]], seq: int) -> None:
        if not delivered:
            return
        # One statement executed for many rows: a round trip per batch, not per parcel.
        conn.execute(
            shipments.update()
            .where(
                shipments.c.shipment_id == sa.bindparam("b_shipment_id"),
                sa.or_(
                    shipments.c.delivered_at.is_(None),
                    shipments.c.delivered_at > sa.bindparam("b_event_time"),
                ),
            )
            .values(
                delivered_at=sa.bindparam("b_event_time"),
                final_status="DELIVERED",
                change_seq=seq,
            ),
            [
                {"b_shipment_id": r["shipment_id"], "b_event_time": r["event_time"]}
                for r in delivered
            ],
        )

    @staticmethod
    def _existing(
        conn: Connection, key: sa.Column[Any], value: sa.Column[Any], keys: Iterable[Any]
    ) -> dict[Any, Any]:
        wanted = list(dict.fromkeys(keys))
        found: dict[Any, Any] = {}
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            found.update(dict(conn.execute(sa.select(key, value).where(key.in_(chunk))).all()))
        return found

    def _contact_hashes(self, frame: pd.DataFrame) -> list[str | None]:
        if self._pii_key is None:
            return [None] * len(frame)
        out: list[str | None] = []
        for address, phone in zip(frame["dest_address"], frame["recipient_phone"], strict=True):
            parts = [v if isinstance(v, str) else "" for v in (address, phone)]
            text = "\x1f".join(parts)
            out.append(hmac.new(self._pii_key, text.encode("utf-8"), hashlib.sha256).hexdigest())
        return out

    # --- what the watcher reads and writes ----------------------------------------------------

    def tables(self, as_of: pd.Timestamp) -> Tables:
        """The canonical tables as known at `as_of` (scans up to it), address text-free.

        Only what a pass needs: parcels created within `HORIZON` before `as_of` (the context's
        longest window, and the parcels in flight at its start) or not delivered by then,
        their scans, and the weather since; a pass's cost does not grow with the store's age.
        The watcher reads the same tables from its mirror (serving/watch/mirror.py).
        """
        when = pd.Timestamp(as_of).tz_convert("UTC")
        wanted = sa.and_(
            shipments.c.created_at <= db_time(when),
            sa.or_(
                shipments.c.created_at >= db_time(when - HORIZON),
                shipments.c.delivered_at.is_(None),
                shipments.c.delivered_at > db_time(when),
            ),
        )
        with self.reading() as conn:
            ships = read_ships(conn, wanted)
            events = read_events(
                conn, sa.and_(wanted, scan_events.c.event_time <= db_time(when)), join=True
            )
            small = read_small_tables(conn, when)
        return cut_tables(ships, events, small, when, self.locale)

    def write_predictions(
        self, frame: pd.DataFrame, as_of: pd.Timestamp, label: str, last_scans: pd.DataFrame
    ) -> None:
        """Make `frame` (the scored parcels as of `as_of`) current, and log it.

        `last_scans`: each parcel's latest scan by then (indexed by shipment id), kept with
        the current prediction for the at-risk list and the network view.
        """
        if frame.empty:
            return
        # In key order: the log's primary-key B-tree then takes the rows in sequence (half
        # the time of risk order for 100k rows into a growing log, measured on SQLite).
        frame = frame.sort_values("shipment_id", kind="stable").reset_index(drop=True)
        last = last_scans.reindex(frame["shipment_id"])
        last_times = _stamps(last["event_time"])
        promised = _stamps(frame["promised_at"])
        texts = {
            "dest_region": _texts(frame["dest_region"]),
            "top_reason": _texts(frame["reason_1"]),
            **{f"last_{c}": _texts(last[c]) for c in ("event_type", "location_id", "region")},
        }
        when = db_time(as_of)
        ids = frame["shipment_id"].tolist()
        flagged = frame["at_risk"].to_numpy(dtype=bool)
        with self._transaction() as conn:
            # One statement: a parcel's current prediction is replaced, its first flag kept.
            upsert_columns(
                conn,
                predictions,
                {
                    "shipment_id": ids,
                    "as_of": np.full(len(ids), np.datetime64(when, "us")),
                    "model_version": [label] * len(ids),
                    "risk": frame["risk"].astype(float).tolist(),
                    **{name: _stamps(frame[name]) for name in ("eta_p10", "eta_p50", "eta_p90")},
                    "reasons": reasons_json(frame),
                    "at_risk": flagged,
                    "first_flagged_at": np.where(
                        flagged, np.datetime64(when, "us"), np.datetime64("NaT", "us")
                    ),
                    "promised_at": promised,
                    "last_event_time": last_times,
                    **texts,
                },
                key=("shipment_id",),
                keep=("first_flagged_at",),
            )
            # The log copies the rows just made current inside the database: binding 100k
            # rows a second time from Python cost more than the copy.
            logged = [c.name for c in prediction_log.columns]
            copied = (
                sa.select(*(predictions.c[name] for name in logged))
                .where(predictions.c.as_of == when)
                .order_by(predictions.c.shipment_id)
            )
            try:
                with conn.begin_nested():
                    conn.execute(prediction_log.insert().from_select(logged, copied))
            except IntegrityError:  # this pass's as_of was logged before (a re-run)
                pass

    def record_pass(
        self,
        as_of: pd.Timestamp,
        scored: int,
        at_risk: int,
        alerts: int,
        label: str,
        profile: dict[str, list[int]] | None = None,
    ) -> None:
        """Note a finished pass (lookups answer "as of" the latest), with its drift counts.

        A pass builds its context from the store as of its own `as_of`, so that is the
        context's time too. `profile`: the pass's bin counts against the model's reference
        (None: the model has no reference).
        """
        when = db_time(as_of)
        row = {
            "as_of": when,
            "context_as_of": when,
            "finished_at": db_time(dt.datetime.now(dt.UTC)),
            "scored": scored,
            "at_risk": at_risk,
            "alerts": alerts,
            "model_version": label,
        }
        with self._transaction() as conn:
            conn.execute(watch_passes.delete().where(watch_passes.c.as_of == when))
            conn.execute(watch_passes.insert().values(**row))
            conn.execute(pass_profiles.delete().where(pass_profiles.c.as_of == when))
            if profile is not None:
                counts = {"as_of": when, "model_version": label, "rows": scored}
                conn.execute(pass_profiles.insert().values(**counts, counts=json.dumps(profile)))

    def acquire(self, owner: str, now: dt.datetime, ttl_s: float) -> bool:
        """Take the pass lease for `ttl_s` seconds if nobody else holds it; True if taken."""
        when = db_time(now)
        until = when + dt.timedelta(seconds=ttl_s)
        with self._transaction() as conn:
            taken = conn.execute(
                watch_lease.update()
                .where(
                    watch_lease.c.name == "watch",
                    sa.or_(watch_lease.c.until <= when, watch_lease.c.owner == owner),
                )
                .values(owner=owner, until=until)
            ).rowcount
            if taken:
                return True
            exists = conn.execute(
                sa.select(watch_lease.c.owner).where(watch_lease.c.name == "watch")
            ).first()
            if exists is not None:
                return False
            try:
                with conn.begin_nested():
                    conn.execute(
                        watch_lease.insert().values(name="watch", owner=owner, until=until)
                    )
            except IntegrityError:
                return False
            return True

    def release(self, owner: str) -> None:
        """Give the pass lease back (only if `owner` holds it)."""
        with self._transaction() as conn:
            conn.execute(
                watch_lease.delete().where(
                    watch_lease.c.name == "watch", watch_lease.c.owner == owner
                )
            )

    def last_pass(self) -> dict[str, Any] | None:
        """The latest finished pass (as_of, context_as_of, scored, alerts, model_version)."""
        with self.reading() as conn:
            row = conn.execute(
                sa.select(watch_passes).order_by(watch_passes.c.as_of.desc()).limit(1)
            ).first()
        return None if row is None else dict(row._mapping)

    def pass_history(self, limit: int) -> list[dict[str, Any]]:
        """The latest `limit` passes (as_of, scored, at_risk, alerts), oldest first."""
        with self.reading() as conn:
            rows = conn.execute(
                sa.select(watch_passes).order_by(watch_passes.c.as_of.desc()).limit(limit)
            ).all()
        return [dict(r._mapping) for r in reversed(rows)]

    def regions(self) -> list[str]:
        """Destination regions of the parcels in flight at the latest pass, sorted."""
        last = self.last_pass()
        if last is None:
            return []
        with self.reading() as conn:
            found = conn.scalars(
                sa.select(predictions.c.dest_region)
                .where(predictions.c.as_of == last["as_of"], predictions.c.dest_region.is_not(None))
                .distinct()
            )
            return sorted(str(r) for r in found)

    def counts(self) -> dict[str, int]:
        """Rows per table (shipments, scans, predictions, log), for progress and tests."""
        with self.reading() as conn:
            return {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in (shipments, scan_events, predictions, prediction_log)
            }


def reasons_json(frame: pd.DataFrame) -> list[str]:
    """Each row's reasons as the JSON `[[code, share], ...]` that `json.dumps` writes.

    Built from per-slot pieces, and only for the rows with reasons (most parcels in flight
    have none): `json.dumps` row by row was a quarter of a pass's writes.
    """
    out = ["[]"] * len(frame)
    codes_of = [frame[f"reason_{k}"].tolist() for k in (1, 2, 3)]
    explained = [
        i
        for i, row in enumerate(zip(*codes_of, strict=True))
        if any(isinstance(c, str) for c in row)
    ]
    if not explained:
        return out
    slots = []
    for k in (1, 2, 3):
        codes = [codes_of[k - 1][i] for i in explained]
        quoted = {c: "[" + json.dumps(c) + ", " for c in set(codes) if isinstance(c, str)}
        shares = frame[f"reason_{k}_share"].to_numpy(dtype=float, na_value=np.nan)[explained]
        slots.append(
            [
                quoted[c] + repr(round(v, 4)) + "]" if isinstance(c, str) else None
                for c, v in zip(codes, shares.tolist(), strict=True)
            ]
        )
    for i, row in zip(explained, zip(*slots, strict=True), strict=True):
        out[i] = "[" + ", ".join(p for p in row if p is not None) + "]"
    return out


def _texts(values: pd.Series) -> list[str | None]:
    """Values as text, None for missing (a column at a time)."""
    text = values.astype("string")
    return text.astype(object).where(text.notna(), None).tolist()


def _digest(record: dict[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


__all__ = [
    "ACCEPTED",
    "DUPLICATE",
    "REJECTED",
    "RowResult",
    "StateStore",
]
