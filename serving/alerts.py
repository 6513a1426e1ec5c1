"""Alert policy and its persistent state and outbox.

The policy decides, per parcel and promise, when a customer is told: a parcel enters the alert
state at `risk >= enter` and leaves it below `exit` (hysteresis, so a risk hovering around one
threshold does not flip-flop). A promise gets at most one LATE alert, ever; while in the alert
state, an ETA_CHANGED alert follows when the P50 ETA moved more than `eta_move_h` hours from the
one last sent.

Decisions and the alerts they produce are written in one transaction into an outbox table (the
transactional outbox pattern): an alert is never returned without being enqueued, and its
idempotency key, the table's primary key, keeps it from being enqueued twice. `serving.notify`
delivers the outbox to a webhook, possibly from another process, so SQLite runs in WAL mode with
a busy timeout, and every transaction takes the write lock up front (BEGIN IMMEDIATE) so two
writers queue instead of failing on a lock upgrade.

Timestamps are stored as naive UTC (`DateTime` without time zone) on every backend and come
back timezone-aware.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from serving.messages import MessageBook

LATE = "LATE"
ETA_CHANGED = "ETA_CHANGED"
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
STATUSES = (PENDING, DELIVERED, DEAD)
DEFAULT_URL = "sqlite:///data/outbox.db"
# Milliseconds a SQLite connection waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Concurrent `decide` calls on a server database can both insert the same new key; the loser
# rolls back and decides again, now seeing the winner's rows.
DECIDE_RETRIES = 3


@dataclass(frozen=True)
class Scored:
    """A parcel's prediction, as the alert policy sees it.

    Attributes:
        shipment_id: The parcel.
        promised_at: The promise the prediction is about (tz-aware UTC).
        as_of: When the prediction's inputs were observed (tz-aware UTC).
        risk: Calibrated probability of missing the promise.
        eta_p10: 10% quantile of the delivery time (tz-aware UTC).
        eta_p50: Median delivery time.
        eta_p90: 90% quantile.
        reasons: (reason code, share) pairs, best first (codes of `training.reasons.REASONS`).
        model_version: Label of the model that scored it.
    """

    shipment_id: str
    promised_at: pd.Timestamp
    as_of: pd.Timestamp
    risk: float
    eta_p10: pd.Timestamp
    eta_p50: pd.Timestamp
    eta_p90: pd.Timestamp
    reasons: tuple[tuple[str, float], ...]
    model_version: str

    def __post_init__(self) -> None:
        # A naive timestamp would silently shift keys and state by the server's time zone.
        for name in ("promised_at", "as_of", "eta_p10", "eta_p50", "eta_p90"):
            value = getattr(self, name)
            if not isinstance(value, dt.datetime) or value.tzinfo is None:
                raise ValueError(f"{name} must be a timezone-aware timestamp, got {value!r}")
        if not (math.isfinite(self.risk) and 0.0 <= self.risk <= 1.0):
            raise ValueError(f"risk must be within [0, 1], got {self.risk!r}")


@dataclass(frozen=True)
class AlertPolicy:
    """When a parcel's customer is alerted.

    Attributes:
        enter: Risk at or above which a parcel enters the alert state.
        exit: Risk below which it leaves it (between the two it keeps its state).
        eta_move_h: Hours the P50 ETA must move, from the last alert sent, to alert again.

    Raises:
        ValueError: Unless 0 <= exit < enter <= 1 and eta_move_h >= 0; names the field.
    """

    enter: float = 0.6
    exit: float = 0.4
    eta_move_h: float = 12.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.enter <= 1.0:
            raise ValueError(f"enter must be within [0, 1], got {self.enter!r}")
        if not 0.0 <= self.exit <= 1.0:
            raise ValueError(f"exit must be within [0, 1], got {self.exit!r}")
        if not self.exit < self.enter:
            raise ValueError(f"exit ({self.exit!r}) must be below enter ({self.enter!r})")
        if not (math.isfinite(self.eta_move_h) and self.eta_move_h >= 0):
            raise ValueError(f"eta_move_h must be a non-negative number, got {self.eta_move_h!r}")


@dataclass(frozen=True)
class Alert:
    """An alert decision, enqueued in the outbox.

    Attributes:
        key: Idempotency key: shipment, promise, kind (and for ETA_CHANGED the new P50 hour).
        kind: "LATE" or "ETA_CHANGED".
        message: Customer message by language ("ko", "en").
        compensation: Configured compensation hint by language, or None.
        (the rest as in `Scored`)
    """

    key: str
    kind: str
    shipment_id: str
    promised_at: pd.Timestamp
    as_of: pd.Timestamp
    risk: float
    eta_p10: pd.Timestamp
    eta_p50: pd.Timestamp
    eta_p90: pd.Timestamp
    reasons: tuple[tuple[str, float], ...]
    model_version: str
    message: dict[str, str] = field(default_factory=dict)
    compensation: dict[str, str] | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON object sent to the webhook (timestamps as ISO 8601; no address or phone)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "shipment_id": self.shipment_id,
            "promised_at": self.promised_at.isoformat(),
            "as_of": self.as_of.isoformat(),
            "risk": self.risk,
            "eta_p10": self.eta_p10.isoformat(),
            "eta_p50": self.eta_p50.isoformat(),
            "eta_p90": self.eta_p90.isoformat(),
            "reasons": [{"code": code, "share": share} for code, share in self.reasons],
            "model_version": self.model_version,
            "message": dict(self.message),
            "compensation": dict(self.compensation) if self.compensation is not None else None,
        }


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
        status: "pending", "delivered" or "dead".
        last_error: What the last failed attempt ended with, or None.
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


def late_key(shipment_id: str, promised_at: pd.Timestamp) -> str:
    """Idempotency key of the LATE alert of a promise."""
    return f"{shipment_id}:{_utc(promised_at).isoformat()}:{LATE}"


def eta_changed_key(shipment_id: str, promised_at: pd.Timestamp, eta_p50: pd.Timestamp) -> str:
    """Idempotency key of an ETA_CHANGED alert (new P50 floored to the hour)."""
    hour = _utc(eta_p50).floor("h").isoformat()
    return f"{shipment_id}:{_utc(promised_at).isoformat()}:{ETA_CHANGED}:{hour}"


metadata = sa.MetaData()

alert_state = sa.Table(
    "alert_state",
    metadata,
    sa.Column("shipment_id", sa.String(128), primary_key=True),
    sa.Column("promised_at", sa.DateTime(), primary_key=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    # P50 ETA of the last alert sent for this promise; NULL: no alert sent yet.
    sa.Column("last_alert_p50", sa.DateTime(), nullable=True),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("shipment_id", sa.String(128), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
    sa.Column("delivered_at", sa.DateTime(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default=PENDING),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
)


def _utc(ts: dt.datetime) -> pd.Timestamp:
    out = pd.Timestamp(ts)
    if out.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {ts!r}")
    return out.tz_convert("UTC")


def _db_time(ts: dt.datetime) -> dt.datetime:
    """Naive UTC at microsecond precision (what every SQL backend stores)."""
    return _utc(ts).tz_localize(None).floor("us").to_pydatetime()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class _State:
    active: bool
    last_p50: pd.Timestamp | None
    stored: bool  # a row exists (update) or not (insert)
    dirty: bool = False


class AlertStore:
    """Alert state and outbox in a SQL database (any SQLAlchemy URL; SQLite by default).

    Tables are created on first use (and the folder of a SQLite file), not at construction, so
    building a store never touches the disk.

    Args:
        url: SQLAlchemy URL, e.g. "sqlite:///data/outbox.db" or "postgresql+psycopg://...".
    """

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    # --- connection ---------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine, created with the tables on first use."""
        with self._lock:
            if self._engine is None:
                self._engine = self._create_engine()
                metadata.create_all(self._engine)
            return self._engine

    def _create_engine(self) -> Engine:
        url = sa.make_url(self.url)
        if url.get_backend_name() != "sqlite":
            return sa.create_engine(url, pool_pre_ping=True)
        database = url.database or ""
        memory = database in ("", ":memory:") or "mode=memory" in str(url)
        if memory:
            # One shared connection: each new connection would be a new, empty database.
            engine = sa.create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            if not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below start transactions, not the driver, which
            # would begin lazily (DEFERRED) and fail instead of waiting on a lock upgrade.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                # WAL: the sender reads while the service writes, and vice versa.
                _use_wal(cursor)
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def close(self) -> None:
        """Close the database connections (the store reconnects on next use)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- policy -------------------------------------------------------------------------------

    def decide(
        self,
        batch: Sequence[Scored],
        policy: AlertPolicy,
        now: dt.datetime,
        messages: MessageBook,
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
            messages: Renders the customer messages and compensation hints.

        Returns:
            The alerts emitted, in batch order.
        """
        when = _db_time(now)
        for attempt in range(DECIDE_RETRIES):
            try:
                with self._transaction() as conn:
                    return self._decide(conn, batch, policy, when, messages)
            except IntegrityError:
                if attempt == DECIDE_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide(
        self,
        conn: Connection,
        batch: Sequence[Scored],
        policy: AlertPolicy,
        when: dt.datetime,
        messages: MessageBook,
    ) -> list[Alert]:
        states = self._load_states(conn, batch)
        # Every key this batch could emit, looked up at once: a key already in the outbox is
        # neither enqueued nor returned again.
        possible = {late_key(s.shipment_id, s.promised_at) for s in batch}
        possible |= {eta_changed_key(s.shipment_id, s.promised_at, s.eta_p50) for s in batch}
        existing = self._existing_keys(conn, sorted(possible))
        move = pd.Timedelta(hours=policy.eta_move_h)
        alerts: list[Alert] = []
        for s in batch:
            state = states[(s.shipment_id, _db_time(s.promised_at))]
            was_active = state.active
            if s.risk >= policy.enter:
                state.active = True
            elif s.risk < policy.exit:
                state.active = False
            state.dirty |= state.active != was_active
            if not state.active:
                continue
            if state.last_p50 is None:
                kind, key = LATE, late_key(s.shipment_id, s.promised_at)
            elif abs(_utc(s.eta_p50) - state.last_p50) > move:
                kind, key = ETA_CHANGED, eta_changed_key(s.shipment_id, s.promised_at, s.eta_p50)
            else:
                continue
            if key in existing:
                # Sent before (e.g. the ETA came back to an hour already announced): the state
                # keeps the ETA of the alert actually sent last.
                continue
            existing.add(key)
            alerts.append(_alert(kind, key, s, messages))
            # Later entries of the same batch compare with this alert's ETA.
            state.last_p50 = _utc(s.eta_p50)
            state.dirty = True

        self._write_states(conn, states, when)
        if alerts:
            conn.execute(
                outbox.insert(),
                [
                    {
                        "key": a.key,
                        "kind": a.kind,
                        "shipment_id": a.shipment_id,
                        "payload": json.dumps(a.payload(), ensure_ascii=False),
                        "created_at": when,
                        "attempts": 0,
                        "next_attempt_at": when,
                        "delivered_at": None,
                        "status": PENDING,
                        "last_error": None,
                    }
                    for a in alerts
                ],
            )
        return alerts

    def _load_states(
        self, conn: Connection, batch: Sequence[Scored]
    ) -> dict[tuple[str, dt.datetime], _State]:
        ids = sorted({s.shipment_id for s in batch})
        found: dict[tuple[str, dt.datetime], _State] = {}
        # Chunks keep the IN list under every backend's bound-parameter limit.
        for start in range(0, len(ids), 500):
            rows = conn.execute(
                sa.select(alert_state).where(
                    alert_state.c.shipment_id.in_(ids[start : start + 500])
                )
            )
            for row in rows:
                last = row.last_alert_p50
                found[(row.shipment_id, row.promised_at)] = _State(
                    active=bool(row.active),
                    last_p50=None if last is None else pd.Timestamp(last).tz_localize("UTC"),
                    stored=True,
                )
        for s in batch:
            found.setdefault(
                (s.shipment_id, _db_time(s.promised_at)),
                _State(active=False, last_p50=None, stored=False),
            )
        return found

    def _existing_keys(self, conn: Connection, keys: list[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            out.update(conn.scalars(sa.select(outbox.c.key).where(outbox.c.key.in_(chunk))))
        return out

    def _write_states(
        self, conn: Connection, states: dict[tuple[str, dt.datetime], _State], when: dt.datetime
    ) -> None:
        # Only changed states are written: a parcel that never entered the alert state needs
        # no row (absent means inactive, nothing sent).
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for (shipment_id, promised_at), st in states.items():
            if not st.dirty:
                continue
            row = {
                "shipment_id": shipment_id,
                "promised_at": promised_at,
                "active": st.active,
                "last_alert_p50": None if st.last_p50 is None else _db_time(st.last_p50),
                "updated_at": when,
            }
            (updates if st.stored else inserts).append(row)
        if inserts:
            conn.execute(alert_state.insert(), inserts)
        if updates:
            conn.execute(
                alert_state.update()
                .where(alert_state.c.shipment_id == sa.bindparam("b_shipment_id"))
                .where(alert_state.c.promised_at == sa.bindparam("b_promised_at"))
                .values(
                    active=sa.bindparam("active"),
                    last_alert_p50=sa.bindparam("last_alert_p50"),
                    updated_at=sa.bindparam("updated_at"),
                ),
                [
                    {
                        "b_shipment_id": r["shipment_id"],
                        "b_promised_at": r["promised_at"],
                        "active": r["active"],
                        "last_alert_p50": r["last_alert_p50"],
                        "updated_at": r["updated_at"],
                    }
                    for r in updates
                ],
            )

    # --- outbox -------------------------------------------------------------------------------

    def pending(self, now: dt.datetime | None = None, limit: int = 100) -> list[OutboxRow]:
        """Pending rows due at `now` (default: the current time), oldest due first."""
        when = _db_time(now if now is not None else _now())
        with self._transaction() as conn:
            rows = conn.execute(
                sa.select(outbox)
                .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= when)
                .order_by(outbox.c.next_attempt_at, outbox.c.created_at, outbox.c.key)
                .limit(limit)
            ).all()
        return [_row(r) for r in rows]

    def get(self, key: str) -> OutboxRow | None:
        """The outbox row of `key`, or None."""
        with self._transaction() as conn:
            row = conn.execute(sa.select(outbox).where(outbox.c.key == key)).first()
        return None if row is None else _row(row)

    def rows(self, status: str | None = None) -> list[OutboxRow]:
        """All outbox rows (of one status), by creation then key; for inspection and tests."""
        query = sa.select(outbox).order_by(outbox.c.created_at, outbox.c.key)
        if status is not None:
            query = query.where(outbox.c.status == status)
        with self._transaction() as conn:
            return [_row(r) for r in conn.execute(query)]

    def mark_delivered(self, key: str, at: dt.datetime) -> None:
        """Record that a 2xx acknowledged `key` (committed before returning)."""
        with self._transaction() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.key == key)
                .values(
                    status=DELIVERED,
                    delivered_at=_db_time(at),
                    attempts=outbox.c.attempts + 1,
                    last_error=None,
                )
            )

    def mark_failed(
        self, key: str, error: str, next_attempt_at: dt.datetime, dead: bool = False
    ) -> None:
        """Record a failed attempt: retry from `next_attempt_at`, or give up (`dead`).

        Dead rows are kept (and counted by `counts`) for ops to inspect or re-queue.
        """
        with self._transaction() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.key == key, outbox.c.status == PENDING)
                .values(
                    status=DEAD if dead else PENDING,
                    attempts=outbox.c.attempts + 1,
                    next_attempt_at=_db_time(next_attempt_at),
                    last_error=error[:500],
                )
            )

    def counts(self) -> dict[str, int]:
        """Number of outbox rows by status (every status present, zeros included)."""
        with self._transaction() as conn:
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
        with self._transaction() as conn:
            row = conn.execute(
                sa.select(alert_state.c.active, alert_state.c.last_alert_p50).where(
                    alert_state.c.shipment_id == shipment_id,
                    alert_state.c.promised_at == _db_time(promised_at),
                )
            ).first()
        if row is None:
            return False, None
        last = row.last_alert_p50
        return bool(row.active), None if last is None else pd.Timestamp(last).tz_localize("UTC")


def _alert(kind: str, key: str, s: Scored, messages: MessageBook) -> Alert:
    return Alert(
        key=key,
        kind=kind,
        shipment_id=s.shipment_id,
        promised_at=_utc(s.promised_at),
        as_of=_utc(s.as_of),
        risk=float(s.risk),
        eta_p10=_utc(s.eta_p10),
        eta_p50=_utc(s.eta_p50),
        eta_p90=_utc(s.eta_p90),
        reasons=tuple((str(code), float(share)) for code, share in s.reasons),
        model_version=s.model_version,
        message={lang: messages.render(kind, s, lang) for lang in ("ko", "en")},
        compensation=messages.compensation_for(s),
    )


def _row(r: Any) -> OutboxRow:
    created, due = _aware(r.created_at), _aware(r.next_attempt_at)
    assert created is not None and due is not None  # NOT NULL columns
    return OutboxRow(
        key=r.key,
        kind=r.kind,
        shipment_id=r.shipment_id,
        payload=r.payload,
        created_at=created,
        attempts=int(r.attempts),
        next_attempt_at=due,
        delivered_at=_aware(r.delivered_at),
        status=r.status,
        last_error=r.last_error,
    )


def _use_wal(cursor: Any, attempts: int = 50) -> None:
    """Switch a SQLite file to WAL, waiting while another connection holds it.

    The mode is stored in the file, so only the first connections to a new file switch it;
    switching needs an exclusive lock that SQLite's busy timeout does not wait for, so two
    processes opening a new outbox at once retry here instead of failing.
    """
    for attempt in range(attempts):
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
