"""API request bodies built from canonical tables: what a client would send for its parcels."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from contract.schema import SCAN_EVENTS, SHIPMENTS
from contract.tables import Tables
from serving.watch.targets import rows_json

_INPUT = [c for c in SHIPMENTS.columns if not c.outcome]
_EVENT_FIELDS = [c.name for c in SCAN_EVENTS.columns if c.name != "shipment_id"]


def shipment_payloads(
    tables: Tables, shipment_ids: Sequence[str], as_of: pd.Timestamp
) -> list[dict[str, Any]]:
    """One JSON-ready shipment per id: contract fields (no outcomes) and its scans up to `as_of`.

    Raises:
        KeyError: An id is not in `tables`.
    """
    ships = tables.shipments.set_index("shipment_id", drop=False)
    missing = [s for s in shipment_ids if s not in ships.index]
    if missing:
        raise KeyError(f"unknown shipment_id(s): {', '.join(missing[:5])}")
    scans = tables.scan_events
    scans = scans[scans["shipment_id"].isin(shipment_ids) & (scans["event_time"] <= as_of)]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in scans.sort_values("event_time").to_dict("records"):
        by_id.setdefault(row["shipment_id"], []).append({f: _json(row[f]) for f in _EVENT_FIELDS})
    out = []
    for sid in shipment_ids:
        row = ships.loc[sid]
        body = {c.name: _json(row[c.name]) for c in _INPUT}
        body["as_of"] = as_of.isoformat()
        body["events"] = by_id.get(sid, [])
        out.append(body)
    return out


def _json(value: Any) -> Any:
    """A JSON value: ISO strings for times, None for missing, plain Python numbers."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


def table_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a canonical table as JSON-ready dicts (the ingestion API's row shape)."""
    rows: list[dict[str, Any]] = json.loads(rows_json(frame))
    return rows
