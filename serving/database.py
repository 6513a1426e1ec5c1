"""The service's SQL databases (alert outbox, watch state): engines and Alembic upgrades.

Any SQLAlchemy URL works; SQLite (the default) and PostgreSQL are tested. Several processes
share a SQLite file (the service, `stallguard notify`, `stallguard watch`), so it runs in WAL
mode with a busy timeout, and every transaction takes the write lock up front (BEGIN
IMMEDIATE) so two writers queue instead of failing on a lock upgrade. Timestamps are stored
as naive UTC.

Schemas are migrated with Alembic when a store first connects (`upgrade`): each store keeps
its revisions in a `migrations/` folder and its own version table.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

# Milliseconds a SQLite connection waits for another process's write lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any fixed number: the PostgreSQL advisory lock that serialises upgrades.
_UPGRADE_LOCK = 0x5747_4F42


# Keys per IN list: under SQLite's 32,766 bound parameters (3.32 and later) and PostgreSQL's
# 65,535, and few round trips for a pass over every parcel in flight.
IN_CHUNK = 5_000
# Bound parameters per statement, under PostgreSQL's limit of 65,535.
MAX_PARAMETERS = 30_000
# Execution option of a read-only connection (`Database.reading`).
READ_ONLY = "stallguard_read_only"


def insert_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows in as few round trips as the backend allows.

    psycopg sends an executemany as one INSERT per row; on PostgreSQL the rows go as multi-row
    INSERTs instead, each under the driver's bound-parameter limit. SQLite's executemany is
    already a loop in C.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    chunk = max(1, MAX_PARAMETERS // len(rows[0]))
    for start in range(0, len(rows), chunk):
        conn.execute(table.insert().values(rows[start : start + chunk]))


# A column's values: a list, or a numpy array.
ColumnValues = Sequence[Any] | np.ndarray


def upsert_columns(
    conn: Connection,
    table: sa.Table,
    columns: dict[str, ColumnValues],
    key: tuple[str, ...],
    keep: tuple[str, ...] = (),
) -> None:
    """Insert rows given column by column, replacing the rows whose `key` is stored.

    A replaced row takes every given value except `keep`'s, which keep a stored value that is
    not NULL. SQLite and PostgreSQL (`INSERT ... ON CONFLICT DO UPDATE`). Times may come as
    datetimes or as a numpy datetime64 array (NaT for missing), which is formatted in C.

    On SQLite the values go straight to the driver's executemany, times written as
    SQLAlchemy writes them, a column at a time: per-row bind processing cost more than the
    upsert itself for a pass's 100k predictions.

    Raises:
        ValueError: Columns of unequal lengths.
        NotImplementedError: Another backend.
    """
    names = list(columns)
    if not _rows_in(table, columns):
        return
    quote = conn.dialect.identifier_preparer.quote
    name_of_table = conn.dialect.identifier_preparer.format_table(table)
    if conn.dialect.name == "sqlite":
        updates = ", ".join(
            f"{quote(n)} = COALESCE({name_of_table}.{quote(n)}, excluded.{quote(n)})"
            if n in keep
            else f"{quote(n)} = excluded.{quote(n)}"
            for n in names
            if n not in key
        )
        statement = (
            f"INSERT INTO {name_of_table} ({', '.join(quote(n) for n in names)}) "
            f"VALUES ({', '.join('?' for _ in names)}) "
            f"ON CONFLICT ({', '.join(quote(k) for k in key)}) DO UPDATE SET {updates}"
        )
        prepared = [_sqlite_values(table.c[name].type, columns[name]) for name in names]
        conn.exec_driver_sql(statement, list(zip(*prepared, strict=True)))
        return
    if conn.dialect.name != "postgresql":
        raise NotImplementedError(f"upsert on {conn.dialect.name}: SQLite or PostgreSQL only")
    plain = [_plain(columns[name]) for name in names]
    rows = [dict(zip(names, values, strict=True)) for values in zip(*plain, strict=True)]
    chunk = max(1, MAX_PARAMETERS // len(names))
    for start in range(0, len(rows), chunk):
        insert = pg_insert(table).values(rows[start : start + chunk])
        fresh = {
            n: sa.func.coalesce(table.c[n], insert.excluded[n]) if n in keep else insert.excluded[n]
            for n in names
            if n not in key
        }
        conn.execute(insert.on_conflict_do_update(index_elements=list(key), set_=fresh))


def _rows_in(table: sa.Table, columns: dict[str, ColumnValues]) -> int:
    """How many rows the columns hold.

    Raises:
        ValueError: Columns of unequal lengths.
    """
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns of unequal lengths for {table.name}: {sorted(lengths)}")
    return lengths.pop()


def _sqlite_values(kind: sa.types.TypeEngine[Any], values: ColumnValues) -> list[Any]:
    """A column as SQLite stores it through SQLAlchemy (times as text, booleans as 0/1).

    SQLAlchemy's SQLite dialect stores a DateTime as "YYYY-MM-DD HH:MM:SS.ffffff" (always
    with microseconds), compared as text: every writer must use exactly this form.
    """
    if isinstance(kind, sa.DateTime):
        if isinstance(values, np.ndarray) and values.dtype.kind == "M":
            stamps = values.astype("datetime64[us]")
        else:
            stamps = pd.to_datetime(pd.Series(values, dtype=object)).to_numpy("datetime64[us]")
        missing = np.isnat(stamps)
        if len(stamps) and not missing[0] and (stamps == stamps[0]).all():  # a pass's as_of
            return [_sqlite_time(stamps[:1])[0]] * len(stamps)
        out: list[Any] = _sqlite_time(stamps)
        for i in np.flatnonzero(missing).tolist():
            out[i] = None
        return out
    if isinstance(kind, sa.Boolean):
        return [None if v is None else int(bool(v)) for v in values]
    return _plain(values)


def _sqlite_time(stamps: np.ndarray) -> list[str]:
    # numpy writes "2025-11-08T03:00:00.000000" in C; SQLAlchemy's form has a space.
    return [t.replace("T", " ") for t in np.datetime_as_string(stamps, unit="us").tolist()]


def _plain(values: ColumnValues) -> list[Any]:
    """Python values (numpy scalars are not driver values; datetime64 become datetimes)."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


def db_time(ts: dt.datetime) -> dt.datetime:
    """Naive UTC at microsecond precision (what every SQL backend stores).

    Raises:
        ValueError: `ts` is naive (its zone would be a guess).
    """
    out = pd.Timestamp(ts)
    if out.tzinfo is None:
        raise ValueError(f"timestamps must be timezone-aware, got {ts!r}")
    return out.tz_convert("UTC").tz_localize(None).floor("us").to_pydatetime()


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A stored (naive UTC) time as timezone-aware UTC; None stays None."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def make_engine(url_text: str) -> Engine:
    """An engine for `url_text`; for a SQLite file, its folder is created and WAL is on."""
    url = sa.make_url(url_text)
    # hide_parameters: an error message never carries the values of a statement.
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True)
    database = url.database or ""
    memory = database in ("", ":memory:") or "mode=memory" in str(url)
    if memory:
        # One shared connection: each new connection would be a new, empty database.
        engine = sa.create_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            hide_parameters=True,
        )
    else:
        if not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below start transactions, not the driver, which
        # would begin lazily (DEFERRED) and fail instead of waiting on a lock upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if not memory:
            # WAL: one process reads while another writes.
            _use_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A read takes no lock up front: readers then run beside each other and a writer (WAL).
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def upgrade(
    engine: Engine,
    migrations: Path,
    version_table: str,
    legacy: tuple[str, str] | None = None,
) -> None:
    """Bring the database to the head revision of `migrations` (a no-op when it is there).

    Args:
        engine: The database.
        migrations: The store's Alembic folder (env.py and versions/).
        version_table: Where the store records its revision.
        legacy: (table, revision): a database holding `table` but no version table was made
            before migrations existed, at `revision`; it is stamped there first.

    Concurrent first connections are safe: SQLite transactions take the write lock up front,
    and PostgreSQL takes an advisory lock.
    """
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["version_table"] = version_table
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        config.attributes["connection"] = conn
        tables = set(sa.inspect(conn).get_table_names())
        if legacy is not None and legacy[0] in tables and version_table not in tables:
            command.stamp(config, legacy[1])
        command.upgrade(config, "head")


class Database:
    """A store's connection to its database: made, and migrated, on first use.

    Building one never touches the disk; the first query creates the engine (and a SQLite
    file's folder) and brings the schema to the head of `migrations`.

    Args:
        url: SQLAlchemy URL.
        migrations: The store's Alembic folder.
        version_table: Where the store records its revision.
        legacy: See `upgrade`.
    """

    def __init__(
        self,
        url: str,
        migrations: Path,
        version_table: str,
        legacy: tuple[str, str] | None = None,
    ) -> None:
        self.url = url
        self._migrations = (migrations, version_table, legacy)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine; the schema is migrated on first use."""
        with self._lock:
            if self._engine is None:
                engine = make_engine(self.url)
                migrations, version_table, legacy = self._migrations
                upgrade(engine, migrations, version_table, legacy)
                self._engine = engine
            return self._engine

    def close(self) -> None:
        """Close the connections (the store reconnects on next use)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction: on SQLite it waits for no writer and blocks none."""
        with self.engine.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn


def run_migrations(metadata: sa.MetaData) -> None:
    """The body of a store's Alembic env.py: migrate on the connection `upgrade` passes in."""
    from alembic import context

    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
        version_table=context.config.attributes["version_table"],
    )
    with context.begin_transaction():
        context.run_migrations()


def _use_wal(cursor: Any, attempts: int = 50) -> None:
    """Switch a SQLite file to WAL, waiting while another connection holds it.

    The mode is stored in the file, so only the first connections to a new file switch it;
    switching needs an exclusive lock that SQLite's busy timeout does not wait for, so two
    processes opening a new database at once retry here instead of failing.
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
