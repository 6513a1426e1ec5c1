"""upsert_columns writes exactly what SQLAlchemy's own insert writes, and replaces by key."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from serving.database import insert_rows, upsert_columns


def _table(meta: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        meta,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("at", sa.DateTime),
        sa.Column("flag", sa.Boolean),
        sa.Column("score", sa.Float),
        sa.Column("count", sa.Integer),
    )


@pytest.mark.parametrize("times_as", ["datetimes", "datetime64"])
def test_sqlite_columns_are_stored_as_sqlalchemy_stores_rows(tmp_path, times_as) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/t.db")
    meta = sa.MetaData()
    by_rows, by_columns = _table(meta, "by_rows"), _table(meta, "by_columns")
    meta.create_all(engine)
    rng = np.random.default_rng(3)
    micros = rng.integers(1_600_000_000_000_000, 1_800_000_000_000_000, 200)
    micros[::7] -= micros[::7] % 1_000_000  # whole seconds too: still written with .000000
    times: list[dt.datetime | None] = [
        pd.Timestamp(int(m), unit="us").to_pydatetime() for m in micros
    ]
    times[5] = None
    columns = {
        "id": [f"S{k:04d}" for k in range(200)],
        "at": times if times_as == "datetimes" else np.array(times, dtype="datetime64[us]"),
        "flag": [bool(v) for v in rng.integers(0, 2, 200)],
        "score": rng.random(200),
        "count": rng.integers(0, 1000, 200),
    }
    rows = [
        {name: (values[k].item() if hasattr(values[k], "item") else values[k])
         for name, values in columns.items() if name != "at"} | {"at": times[k]}
        for k in range(200)
    ]  # fmt: skip
    with engine.begin() as conn:
        insert_rows(conn, by_rows, rows)
        upsert_columns(conn, by_columns, columns, key=("id",))
        raw_rows = conn.exec_driver_sql("SELECT * FROM by_rows ORDER BY id").fetchall()
        raw_columns = conn.exec_driver_sql("SELECT * FROM by_columns ORDER BY id").fetchall()
        typed = conn.execute(sa.select(by_columns).order_by(by_columns.c.id)).fetchall()
    assert raw_columns == raw_rows
    assert [r.at for r in typed] == times
    assert [r.flag for r in typed] == columns["flag"]


def test_unequal_columns_are_refused(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/t.db")
    meta = sa.MetaData()
    table = _table(meta, "t")
    meta.create_all(engine)
    with engine.begin() as conn, pytest.raises(ValueError, match="unequal lengths for t"):
        upsert_columns(conn, table, {"id": ["a", "b"], "score": [1.0]}, key=("id",))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_upsert_replaces_rows_by_key_and_keeps_what_it_is_told(tmp_path, request, backend) -> None:
    url = (
        f"sqlite:///{tmp_path}/t.db"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_db").replace(
            "postgresql://", "postgresql+psycopg://"
        )
    )
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "current",
        meta,
        sa.Column("id", sa.String(8), primary_key=True),
        sa.Column("score", sa.Float),
        sa.Column("first", sa.DateTime, nullable=True),
    )
    meta.create_all(engine)
    t1, t2 = dt.datetime(2025, 11, 8, 3, 0, 0, 123456), dt.datetime(2025, 11, 8, 4)
    with engine.begin() as conn:
        upsert_columns(
            conn,
            table,
            {"id": ["a", "b"], "score": [0.1, 0.2], "first": [t1, None]},
            key=("id",),
            keep=("first",),
        )
        upsert_columns(
            conn,
            table,
            {
                "id": np.array(["b", "c", "a"], dtype=object),
                "score": np.array([0.5, 0.6, 0.7]),
                "first": np.array([t2, t2, t2], dtype="datetime64[us]"),
            },
            key=("id",),
            keep=("first",),
        )
        got = conn.execute(sa.select(table).order_by(table.c.id)).all()
    assert [tuple(r) for r in got] == [("a", 0.7, t1), ("b", 0.5, t2), ("c", 0.6, t2)]
    engine.dispose()
