"""Where a replay sends the world: a running service over HTTP, or a store in this process.

Both take the same batches and answer the same way (row statuses counted by table, and the
pass result), so a replay, the demo and the benchmark drive either without knowing which.
Over HTTP every row goes through the ingestion API exactly as an integrator's would: in
requests of at most `MAX_ROWS` rows, with the bearer token, each row checked on its own.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pandas as pd

from contract.schema import TABLES
from serving.watch.api import MAX_ROWS
from serving.watch.replay import Batch, Statuses
from serving.watch.store import StateStore
from serving.watch.watcher import PassResult, WatchBusy, Watcher

# How long a replay waits for a pass another process (the service's own clock) is running.
BUSY_WAIT_S = 120.0


def _count(table: str, statuses: list[str]) -> Statuses:
    return Counter((table, s) for s in statuses)


class LocalTarget:
    """A state store and watcher in this process (no service needed).

    Args:
        store: The watch's state.
        watcher: Runs the passes (with the served model and the outbox).
    """

    def __init__(self, store: StateStore, watcher: Watcher) -> None:
        self.store = store
        self.watcher = watcher

    def put(self, batch: Batch) -> Statuses:
        """Write the batch straight into the store (the rows are contract-valid already)."""
        now = pd.Timestamp.now(tz="UTC").to_pydatetime()
        out: Statuses = Counter()
        if len(batch.shipments):
            out += _count(
                "shipments", [r.status for r in self.store.put_shipments(batch.shipments, now)]
            )
        if len(batch.events):
            out += _count(
                "scan_events", [r.status for r in self.store.put_events(batch.events, now)]
            )
        for table, frame in (
            ("weather_daily", batch.observations),
            ("weather_forecast", batch.forecasts),
        ):
            if len(frame):
                out += _count(table, [r.status for r in self.store.put_table(table, frame)])
        return out

    def watched_as_of(self) -> pd.Timestamp | None:
        """The latest pass's `as_of`, or None before the first."""
        last = self.store.last_pass()
        return None if last is None else pd.Timestamp(last["as_of"]).tz_localize("UTC")

    def put_network(self, frame: pd.DataFrame) -> Statuses:
        """Write the network into the store."""
        return _count("network", [r.status for r in self.store.put_table("network", frame)])

    def watch(self, as_of: pd.Timestamp) -> PassResult:
        """A pass in this process (waits while another process runs one)."""
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            try:
                return self.watcher.run_pass(as_of)
            except WatchBusy:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


class HttpTarget:
    """A running service, through its ingestion and watch routes.

    Args:
        url: The service's base URL.
        token: Its bearer token (STALLGUARD_API_TOKEN), or None.
        timeout: Seconds per request (a pass over many parcels can take a while).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 300.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=url, headers=headers, timeout=timeout)
        self.errors: list[tuple[str, str, str]] = []  # (table, key, error) of rejected rows

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def put(self, batch: Batch) -> Statuses:
        """POST /shipments, /events, then /weather, in requests of at most MAX_ROWS rows."""
        out: Statuses = Counter()
        out += self._post("/shipments", "shipments", "shipments", batch.shipments)
        out += self._post("/events", "events", "scan_events", batch.events)
        out += self._post("/weather", "observations", "weather_daily", batch.observations)
        out += self._post("/weather", "forecasts", "weather_forecast", batch.forecasts)
        return out

    def watched_as_of(self) -> pd.Timestamp | None:
        """The latest pass's `as_of` (GET /at-risk answers as of it), or None before the first."""
        answer = self.client.get("/at-risk", params={"limit": 1})
        _raise_for(answer)
        as_of = answer.json().get("as_of")
        return None if as_of is None else pd.Timestamp(as_of).tz_convert("UTC")

    def put_network(self, frame: pd.DataFrame) -> Statuses:
        """POST /network."""
        return self._post("/network", "locations", "network", frame)

    def watch(self, as_of: pd.Timestamp) -> PassResult:
        """POST /watch {as_of}; waits while the service's own clock runs a pass."""
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            answer = self.client.post("/watch", json={"as_of": as_of.isoformat()})
            if answer.status_code != 409 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        _raise_for(answer)
        body = answer.json()
        return PassResult(
            pd.Timestamp(body["as_of"]), body["scored"], body["at_risk"], body["alerts"]
        )

    def _post(self, route: str, field: str, table: str, frame: pd.DataFrame) -> Statuses:
        out: Statuses = Counter()
        for start in range(0, len(frame), MAX_ROWS):
            chunk = frame.iloc[start : start + MAX_ROWS]
            body = f'{{"{field}": {rows_json(chunk)}}}'
            answer = self.client.post(
                route, content=body.encode(), headers={"Content-Type": "application/json"}
            )
            _raise_for(answer)
            for row in answer.json()["results"]:
                out[(table, row["status"])] += 1
                if row["status"] == "rejected" and len(self.errors) < 100:
                    self.errors.append((table, row["key"], row["error"] or ""))
        return out


# Columns the contract types as calendar days (sent as "2025-12-14", not as a midnight time).
DATE_COLUMNS = frozenset(
    c.name for schema in TABLES.values() for c in schema.columns if c.kind == "date"
)


def rows_json(frame: pd.DataFrame) -> str:
    """Rows of a canonical table as a JSON array, the ingestion API's row shape.

    ISO 8601 times with their offset, ISO dates, null for missing; numbers to full precision.
    """
    out = frame.copy()
    for name in DATE_COLUMNS.intersection(out.columns):
        out[name] = pd.to_datetime(out[name]).dt.strftime("%Y-%m-%d")
    return str(
        out.to_json(orient="records", date_format="iso", date_unit="us", double_precision=15)
    )


def _raise_for(answer: httpx.Response) -> None:
    """Raise with the service's own words (its error body), not just the status."""
    if answer.is_success:
        return
    detail: Any = answer.text[:500]
    raise RuntimeError(
        f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {detail}"
    )
