"""Bulk ingestion of a canonical Tables directory into the watch's store.

`stallguard ingest DIR` uses it: the tables are validated against the contract (rejected rows
reported by table, row, column and rule, never with PII values), then written in chunks, in
the order the store needs them (network, shipments, scans by time, weather), each chunk
answered row by row like the ingestion API.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from contract.tables import Tables
from contract.validation import validate
from serving.watch.store import REJECTED, StateStore

CHUNK_ROWS = 20_000
Progress = Callable[[str, int, int], None]  # (table, rows done, rows in all)


@dataclass
class IngestReport:
    """What a bulk ingest did.

    Attributes:
        statuses: Row counts by (table, status).
        rejections: Rows the contract or the store rejected (table, row_key, column, rule).
    """

    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejections: list[pd.DataFrame] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Counts as a frame: table, status, rows."""
        rows = [(t, s, n) for (t, s), n in sorted(self.statuses.items())]
        return pd.DataFrame(rows, columns=["table", "status", "rows"])


def ingest_tables(
    store: StateStore, tables: Tables, progress: Progress | None = None
) -> IngestReport:
    """Validate `tables` and write every valid row into `store`."""
    report = IngestReport()
    checked = validate(tables)
    if not checked.ok:
        report.rejections.append(checked.rejections)
        rejected = checked.rejections.groupby("table", observed=True)["row_key"].nunique()
        for table, n in rejected.items():
            report.statuses[(str(table), REJECTED)] += int(n)
    clean = checked.tables
    now = dt.datetime.now(dt.UTC)
    steps: list[tuple[str, pd.DataFrame, Callable[[pd.DataFrame], list]]] = [
        ("network", clean.network, lambda f: store.put_table("network", f)),
        ("shipments", clean.shipments, lambda f: store.put_shipments(f, now)),
        (
            "scan_events",
            clean.scan_events.sort_values("event_time", kind="stable"),
            lambda f: store.put_events(f, now),
        ),
        ("weather_daily", clean.weather_daily, lambda f: store.put_table("weather_daily", f)),
        (
            "weather_forecast",
            clean.weather_forecast,
            lambda f: store.put_table("weather_forecast", f),
        ),
    ]
    for name, frame, put in steps:
        total = len(frame)
        for start in range(0, total, CHUNK_ROWS):
            for result in put(frame.iloc[start : start + CHUNK_ROWS]):
                report.statuses[(name, result.status)] += 1
            if progress is not None:
                progress(name, min(start + CHUNK_ROWS, total), total)
    return report
