"""Alert state and outbox in a SQL database: the policy's memory and the channels' queue.

Decisions (serving/alerts/policy.py) and the alerts they produce are written in one
transaction into an outbox table (the transactional outbox pattern): an alert is never
returned without being enqueued, and its idempotency key, the table's primary key, keeps it
from being enqueued twice. A sender (serving/alerts/sender.py) delivers the outbox, possibly
from another process, so SQLite runs in WAL mode with a busy timeout, and every transaction
takes the write lock up front (BEGIN IMMEDIATE) so two writers queue instead of failing on a
lock upgrade.

Timestamps are stored as naive UTC (`DateTime` without time zone) on every backend and come
back timezone-aware.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from serving.alerts.batch import may_act, scored_batch
from serving.alerts.policy import (
    Alert,
    AlertKind,
    AlertPolicy,
    Renderer,
    Scored,
    State,
    can_alert,
    decide,
    possible_keys,
)
from serving.alerts.schema import MIGRATIONS, VERSION_TABLE, alert_state, outbox
from serving.database import IN_CHUNK, Database, aware, db_time, insert_rows

PENDING, DELIVERED, PARKED, DEAD = "pending", "delivered", "parked", "dead"
STATUSES = (PENDING, DELIVERED, PARKED, DEAD)
DEFAULT_URL = "sqlite:///data/outbox.db"
# Milliseconds a SQLite connection waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Concurrent `decide` calls on a server database can both insert the same new key; the loser
# rolls back and decides again, now seeing the winner's rows.
DECIDE_RETRIES = 3


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row.

    Attributes:
        key: Idempotency key (primary key).
        kind: Alert kind.
        shipment_id: The parcel.
        payload: The JSON text to POST, exactly as enqueued.
        created_at: When it was enqueued (tz-aware UTC, like all times here).
        attempts: Delivery attempts made so far.
        next_attempt_at: Not to be sent before this.
        delivered_at: When a 2xx acknowledged it, or None.
        status: "pending", "delivered", "parked" (the receiver refused it: for review) or
            "dead" (retried until the horizon).
        last_error: What the last failed attempt ended with, or None.
        queued_at: When it (re-)entered the queue; the retry horizon counts from here.
    """

    key: str
    kind: str
    shipment_id: str
    payload: str
    created_at: dt.datetime
    attempts: int
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    status: str
    last_error: str | None
    queued_at: dt.datetime


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt of a claimed row came to.

    Attributes:
        key: The row.
        status: Its status after the attempt (pending again to retry, delivered, parked, dead).
        at: When the attempt ended.
        error: What went wrong (safe to log), None when delivered.
        next_attempt_at: When to retry (pending only).
    """

    key: str
    status: str
    at: dt.datetime
    error: str | None = None
    next_attempt_at: dt.datetime | None = None


# The stored state of a promise, as `_state_rows` reads it.
STATE_COLUMNS = (
    "shipment_id",
    "promised_at",
    "active",
    "last_alert_p50",
    "last_alert_p10",
    "last_alert_p90",
    "last_alert_kind",
)


def _states(rows: list[Any]) -> dict[tuple[str, pd.Timestamp], State]:
    """States by (shipment, promise in UTC) from `_state_rows`."""
    if not rows:
        return {}
    shipment_ids, promised, active, p50, p10, p90, kinds = zip(*rows, strict=True)
    # Times converted a column at a time: a pass loads a state for every alerted parcel.
    promised_utc, p50_utc, p10_utc, p90_utc = (_aware_stamps(v) for v in (promised, p50, p10, p90))
    return {
        (shipment_ids[i], promised_utc[i]): State(
            active=bool(active[i]),
            last_p50=p50_utc[i],
            last_window=None
            if p10_utc[i] is None or p90_utc[i] is None
            else (p10_utc[i], p90_utc[i]),
            last_kind=None if kinds[i] is None else AlertKind(kinds[i]),
        )
        for i in range(len(rows))
    }


def _aligned_states(rows: list[Any], ids: pd.Series, promised: pd.Series) -> pd.DataFrame:
    """The state of each (shipment, promise) in order, as columns (inactive where none)."""
    columns = list(zip(*rows, strict=True)) or [() for _ in STATE_COLUMNS]
    pairs = zip(STATE_COLUMNS, columns, strict=True)
    stored = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in pairs})
    for name in ("promised_at", "last_alert_p50", "last_alert_p10", "last_alert_p90"):
        stored[name] = pd.to_datetime(stored[name]).astype("datetime64[ns]")
    stored["shipment_id"] = stored["shipment_id"].astype(object)
    keys = pd.DataFrame(
        {
            "shipment_id": ids.astype(object).to_numpy(),
            "promised_at": promised.dt.tz_localize(None).astype("datetime64[ns]").to_numpy(),
        }
    )
    out = keys.merge(stored, on=["shipment_id", "promised_at"], how="left", sort=False)
    out["active"] = out["active"].fillna(False).astype(bool)
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware_stamps(values: Sequence[dt.datetime | None]) -> list[pd.Timestamp | None]:
    """Stored naive UTC times as UTC timestamps, None kept."""
    stamps = pd.to_datetime(pd.Series(values, dtype=object)).dt.tz_localize("UTC")
    return [None if pd.isna(v) else v for v in stamps.tolist()]


class AlertStore(Database):
    """Alert state and outbox in a SQL database (any SQLAlchemy URL; SQLite by default).

    The tables are created or migrated on first use (and the folder of a SQLite file), not at
    construction, so building a store never touches the disk.

    Args:
        url: SQLAlchemy URL, e.g. "sqlite:///data/outbox.db" or "postgresql+psycopg://...".
    """

    def __init__(self, url: str = DEFAULT_URL) -> None:
        super().__init__(url, MIGRATIONS, VERSION_TABLE, legacy=("outbox", "0001"))

    # --- policy -------------------------------------------------------------------------------

    def decide(
        self,
        batch: Sequence[Scored],
        policy: AlertPolicy,
        now: dt.datetime,
        renderer: Renderer,
    ) -> list[Alert]:
        """Update the alert state with `batch` and enqueue the alerts it triggers.

        State updates and outbox inserts happen in one transaction; an alert whose key is
        already in the outbox is neither enqueued again nor returned, so posting the same batch
        twice returns nothing new the second time.

        Args:
            batch: Predictions, in any order (a shipment may appear more than once; later
                entries see the state left by earlier ones).
            policy: Thresholds.
            now: Decision time (tz-aware); the alerts are due for delivery from then.
            renderer: Renders the customer messages and compensation hints.

        Returns:
            The alerts emitted, in batch order.
        """
        when = db_time(now)

        def step(conn: Connection) -> list[Alert]:
            states = self._load_states(conn, batch)
            return self._apply(conn, batch, states, policy, when, renderer)

        return self._retried(step)

    def decide_pass(
        self,
        frame: pd.DataFrame,
        model_version: str,
        policy: AlertPolicy,
        now: dt.datetime,
        renderer: Renderer,
    ) -> list[Alert]:
        """`decide` for a watch pass's predictions: the predictor's frame, one row per parcel.

        Emits, stores and returns what `decide(scored_batch(frame, ...))` would, for a
        fraction of the work: the stored states are read as columns, and only the rows the
        policy can act on (`may_act`) become `Scored` and go through the policy.

        Args:
            frame: The predictor's columns and `promised_at`, each shipment at most once.
            model_version: Label of the model that scored it.
            policy: Thresholds.
            now: Decision time (tz-aware).
            renderer: Words for each alert.
        """
        if frame["shipment_id"].duplicated().any():
            raise ValueError("decide_pass takes each shipment at most once; use decide")
        when = db_time(now)
        promised = pd.to_datetime(frame["promised_at"], utc=True)

        def step(conn: Connection) -> list[Alert]:
            rows = self._state_rows(conn, frame["shipment_id"].tolist())
            aligned = _aligned_states(rows, frame["shipment_id"], promised)
            act = may_act(frame["risk"].to_numpy(float), frame["eta_p50"], aligned, policy)
            picked = frame[act]
            batch = scored_batch(picked, promised[act].tolist(), model_version)
            ids = set(picked["shipment_id"])
            states = _states([r for r in rows if r[0] in ids])
            return self._apply(conn, batch, states, policy, when, renderer)

        return self._retried(step)

    def _retried(self, step: Callable[[Connection], list[Alert]]) -> list[Alert]:
        """`step` in a transaction; again when a concurrent decision inserted the same key."""
        for attempt in range(DECIDE_RETRIES):
            try:
                with self._transaction() as conn:
                    return step(conn)
            except IntegrityError:
                if attempt == DECIDE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _apply(
        self,
        conn: Connection,
        batch: Sequence[Scored],
        states: dict[tuple[str, pd.Timestamp], State],
        policy: AlertPolicy,
        when: dt.datetime,
        renderer: Renderer,
    ) -> list[Alert]:
        """The policy on `batch` with the stored `states`: states written, alerts enqueued."""
        stored = set(states)
        candidates = can_alert(batch, states, policy)
        keys = possible_keys(candidates, states, policy)
        emitted = self._existing_keys(conn, sorted(keys))
        alerts = decide(candidates, states, emitted, policy, renderer)
        self._write_states(conn, states, stored, when)
        self._enqueue(conn, alerts, when)
        return alerts

    def _enqueue(self, conn: Connection, alerts: list[Alert], when: dt.datetime) -> None:
        if not alerts:
            return
        insert_rows(
            conn,
            outbox,
            [
                {
                    "key": a.key,
                    "kind": str(a.kind),
                    "shipment_id": a.shipment_id,
                    "payload": json.dumps(a.payload(), ensure_ascii=False),
                    "created_at": when,
                    "attempts": 0,
                    "next_attempt_at": when,
                    "delivered_at": None,
                    "status": PENDING,
                    "last_error": None,
                    "queued_at": when,
                }
                for a in alerts
            ],
        )

    def _load_states(
        self, conn: Connection, batch: Sequence[Scored]
    ) -> dict[tuple[str, pd.Timestamp], State]:
        return _states(self._state_rows(conn, sorted({s.shipment_id for s in batch})))

    def _state_rows(self, conn: Connection, ids: list[str]) -> list[Any]:
        """The stored states of these shipments' promises, as rows."""
        c = alert_state.c
        rows: list[Any] = []
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            rows.extend(
                conn.execute(
                    sa.select(*(c[name] for name in STATE_COLUMNS)).where(c.shipment_id.in_(chunk))
                ).all()
            )
        return rows

    def _existing_keys(self, conn: Connection, keys: list[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(keys), IN_CHUNK):
            chunk = keys[start : start + IN_CHUNK]
            out.update(conn.scalars(sa.select(outbox.c.key).where(outbox.c.key.in_(chunk))))
        return out

    def _write_states(
        self,
        conn: Connection,
        states: dict[tuple[str, pd.Timestamp], State],
        stored: set[tuple[str, pd.Timestamp]],
        when: dt.datetime,
    ) -> None:
        # Only changed states are written: a parcel that never entered the alert state needs
        # no row (absent means inactive, nothing sent).
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for (shipment_id, promised), st in states.items():
            if not st.changed:
                continue
            row = {
                "shipment_id": shipment_id,
                "promised_at": db_time(promised),
                "active": st.active,
                "last_alert_p50": None if st.last_p50 is None else db_time(st.last_p50),
                "last_alert_kind": None if st.last_kind is None else str(st.last_kind),
                "last_alert_p10": None if st.last_window is None else db_time(st.last_window[0]),
                "last_alert_p90": None if st.last_window is None else db_time(st.last_window[1]),
                "updated_at": when,
            }
            (updates if (shipment_id, promised) in stored else inserts).append(row)
        if inserts:
            insert_rows(conn, alert_state, inserts)
        if updates:
            conn.execute(
                alert_state.update()
                .where(alert_state.c.shipment_id == sa.bindparam("b_shipment_id"))
                .where(alert_state.c.promised_at == sa.bindparam("b_promised_at"))
                .values(
                    active=sa.bindparam("active"),
                    last_alert_p50=sa.bindparam("last_alert_p50"),
                    last_alert_kind=sa.bindparam("last_alert_kind"),
                    last_alert_p10=sa.bindparam("last_alert_p10"),
                    last_alert_p90=sa.bindparam("last_alert_p90"),
                    updated_at=sa.bindparam("updated_at"),
                ),
                [
                    {
                        "b_shipment_id": r["shipment_id"],
                        "b_promised_at": r["promised_at"],
                        "active": r["active"],
                        "last_alert_p50": r["last_alert_p50"],
                        "last_alert_kind": r["last_alert_kind"],
                        "last_alert_p10": r["last_alert_p10"],
                        "last_alert_p90": r["last_alert_p90"],
                        "updated_at": r["updated_at"],
                    }
                    for r in updates
                ],
            )

    # --- outbox -------------------------------------------------------------------------------

    def pending(self, now: dt.datetime | None = None, limit: int = 100) -> list[OutboxRow]:
        """Pending rows due at `now` (default: the current time), oldest due first."""
        when = db_time(now if now is not None else _now())
        with self.reading() as conn:
            rows = conn.execute(
                sa.select(outbox)
                .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= when)
                .order_by(outbox.c.next_attempt_at, outbox.c.created_at, outbox.c.key)
                .limit(limit)
            ).all()
        return [_row(r) for r in rows]

    def get(self, key: str) -> OutboxRow | None:
        """The outbox row of `key`, or None."""
        with self.reading() as conn:
            row = conn.execute(sa.select(outbox).where(outbox.c.key == key)).first()
        return None if row is None else _row(row)

    def recent(self, limit: int) -> list[OutboxRow]:
        """The latest `limit` rows, newest first (the ops page's recent alerts)."""
        query = sa.select(outbox).order_by(outbox.c.created_at.desc(), outbox.c.key).limit(limit)
        with self.reading() as conn:
            return [_row(r) for r in conn.execute(query)]

    def latest_for(self, shipment_id: str) -> OutboxRow | None:
        """The newest alert queued for a parcel, or None."""
        query = (
            sa.select(outbox)
            .where(outbox.c.shipment_id == shipment_id)
            .order_by(outbox.c.created_at.desc(), outbox.c.key.desc())
            .limit(1)
        )
        with self.reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else _row(row)

    def rows(self, status: str | None = None, limit: int | None = None) -> list[OutboxRow]:
        """Outbox rows (of one status), by creation then key; for inspection and tests."""
        query = sa.select(outbox).order_by(outbox.c.created_at, outbox.c.key).limit(limit)
        if status is not None:
            query = query.where(outbox.c.status == status)
        with self.reading() as conn:
            return [_row(r) for r in conn.execute(query)]

    def claim(self, owner: str, now: dt.datetime, limit: int, lease_s: float) -> list[OutboxRow]:
        """Lease up to `limit` due rows to `owner` for `lease_s` seconds; return them.

        Rows another sender holds (an unexpired lease) are skipped, so any number of senders
        share one outbox and each row goes to one of them. On PostgreSQL the rows are locked
        with `FOR UPDATE SKIP LOCKED`; SQLite serialises the whole claim (BEGIN IMMEDIATE). A
        sender that dies leaves its rows leased until `lease_s` runs out; then anyone may
        claim them again.
        """
        when = db_time(now)
        until = db_time(now + dt.timedelta(seconds=lease_s))
        with self._transaction() as conn:
            rows = conn.execute(
                sa.select(outbox)
                .where(
                    outbox.c.status == PENDING,
                    outbox.c.next_attempt_at <= when,
                    sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= when),
                )
                .order_by(outbox.c.next_attempt_at, outbox.c.created_at, outbox.c.key)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            keys = [r.key for r in rows]
            if keys:
                conn.execute(
                    outbox.update()
                    .where(outbox.c.key.in_(keys))
                    .values(lease_owner=owner, lease_until=until)
                )
        return [_row(r) for r in rows]

    def record(self, owner: str, outcomes: Sequence[Outcome]) -> None:
        """Record a batch of attempts in one transaction, and release their leases.

        A delivery is recorded whoever holds the row now (it was acknowledged); a failure
        only while `owner` still holds it, so a sender whose lease ran out cannot undo what
        the next holder did.
        """
        if not outcomes:
            return
        with self._transaction() as conn:
            for o in outcomes:
                update = outbox.update().where(outbox.c.key == o.key)
                if o.status == DELIVERED:
                    update = update.where(outbox.c.status != DELIVERED).values(
                        status=DELIVERED, delivered_at=db_time(o.at), last_error=None
                    )
                else:
                    due = o.next_attempt_at if o.next_attempt_at is not None else o.at
                    update = update.where(
                        outbox.c.status == PENDING, outbox.c.lease_owner == owner
                    ).values(
                        status=o.status,
                        next_attempt_at=db_time(due),
                        last_error=(o.error or "failed")[:500],
                    )
                conn.execute(
                    update.values(
                        attempts=outbox.c.attempts + 1, lease_owner=None, lease_until=None
                    )
                )

    def requeue(self, now: dt.datetime, status: str | None = None, keys: Sequence[str] = ()) -> int:
        """Put parked or dead rows (all, one status, or these keys) back in the queue, due now.

        Their retry horizon starts again at `now`; attempts so far stay counted.

        Returns:
            How many rows were re-queued.
        """
        held = (status,) if status is not None else (PARKED, DEAD)
        if any(h not in (PARKED, DEAD) for h in held):
            raise ValueError(f"only parked or dead rows can be re-queued, not {status!r}")
        when = db_time(now)
        query = outbox.update().where(outbox.c.status.in_(held))
        if keys:
            query = query.where(outbox.c.key.in_(list(keys)))
        with self._transaction() as conn:
            done = conn.execute(
                query.values(
                    status=PENDING,
                    next_attempt_at=when,
                    queued_at=when,
                    lease_owner=None,
                    lease_until=None,
                )
            )
        return int(done.rowcount)

    def purge(self, status: str, before: dt.datetime) -> int:
        """Delete rows of `status` (delivered, parked or dead) last touched before `before`.

        Returns:
            How many rows were deleted.
        """
        if status not in (DELIVERED, PARKED, DEAD):
            raise ValueError(f"only delivered, parked or dead rows can be purged, not {status!r}")
        touched = sa.func.coalesce(outbox.c.delivered_at, outbox.c.next_attempt_at)
        with self._transaction() as conn:
            done = conn.execute(
                outbox.delete().where(outbox.c.status == status, touched < db_time(before))
            )
        return int(done.rowcount)

    def counts(self) -> dict[str, int]:
        """Number of outbox rows by status (every status present, zeros included)."""
        with self.reading() as conn:
            rows = conn.execute(
                sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
            ).all()
        out = dict.fromkeys(STATUSES, 0)
        out.update({status: int(n) for status, n in rows})
        return out

    def state(
        self, shipment_id: str, promised_at: pd.Timestamp
    ) -> tuple[bool, pd.Timestamp | None]:
        """(in the alert state, P50 of the last alert sent) of a promise; (False, None): unseen."""
        with self.reading() as conn:
            row = conn.execute(
                sa.select(alert_state.c.active, alert_state.c.last_alert_p50).where(
                    alert_state.c.shipment_id == shipment_id,
                    alert_state.c.promised_at == db_time(promised_at),
                )
            ).first()
        if row is None:
            return False, None
        last = row.last_alert_p50
        return bool(row.active), None if last is None else pd.Timestamp(last).tz_localize("UTC")


def _row(r: Any) -> OutboxRow:
    created, due = aware(r.created_at), aware(r.next_attempt_at)
    assert created is not None and due is not None  # NOT NULL columns
    return OutboxRow(
        key=r.key,
        kind=r.kind,
        shipment_id=r.shipment_id,
        payload=r.payload,
        created_at=created,
        attempts=int(r.attempts),
        next_attempt_at=due,
        delivered_at=aware(r.delivered_at),
        status=r.status,
        last_error=r.last_error,
        queued_at=aware(r.queued_at) or created,
    )
