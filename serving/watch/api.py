"""The live watch's HTTP models, and turning request rows into per-row results.

Ingestion bodies are lists of rows; each row is checked on its own against a model generated
from the contract (`row_model`), so one bad row is answered `rejected` with the field and the
reason, and never fails the rest of the batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pandas as pd
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
)

from contract.schema import (
    EARLIEST,
    LATEST,
    NETWORK,
    SCAN_EVENTS,
    SHIPMENTS,
    WEATHER_DAILY,
    WEATHER_FORECAST,
    TableSchema,
)
from contract.tables import conform
from contract.validation import validate_typed
from serving.errors import field_problem
from serving.schemas import Reason, field_of
from serving.watch.store import REJECTED, RowResult

MAX_ROWS = 5_000  # rows per ingestion request
_ROW = ConfigDict(extra="forbid", hide_input_in_errors=True)


def row_model(schema: TableSchema) -> type[BaseModel]:
    """A pydantic model of one row of a contract table (every column, outcomes included)."""
    fields: dict[str, Any] = {c.name: field_of(c) for c in schema.columns}
    model: type[BaseModel] = create_model(f"{schema.name}_row", __config__=_ROW, **fields)
    return model


ROW_MODELS = {
    s.name: row_model(s) for s in (SHIPMENTS, SCAN_EVENTS, WEATHER_DAILY, WEATHER_FORECAST, NETWORK)
}
_ADAPTERS = {name: TypeAdapter(model) for name, model in ROW_MODELS.items()}


class Rows(BaseModel):
    """Rows to ingest (each checked on its own)."""

    model_config = ConfigDict(extra="forbid")


class ShipmentsIn(Rows):
    """New parcels and changes to them (upserted by shipment_id)."""

    shipments: list[dict[str, Any]] = Field(max_length=MAX_ROWS)


class EventsIn(Rows):
    """Scans, in any order."""

    events: list[dict[str, Any]] = Field(max_length=MAX_ROWS)


class WeatherIn(Rows):
    """Daily observations and forecasts by region."""

    observations: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_ROWS)
    forecasts: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_ROWS)


class NetworkIn(Rows):
    """Hubs and terminals with their capacities."""

    locations: list[dict[str, Any]] = Field(max_length=MAX_ROWS)


class RowOut(BaseModel):
    """What became of one row: accepted, duplicate or rejected (with why)."""

    key: str
    status: Literal["accepted", "duplicate", "rejected"]
    error: str | None = None


class IngestOut(BaseModel):
    """One result per row, in request order."""

    results: list[RowOut]


class WatchIn(BaseModel):
    """A watcher pass on demand."""

    model_config = ConfigDict(extra="forbid")

    as_of: AwareDatetime | None = Field(
        None, ge=EARLIEST, lt=LATEST, description="Score as of this time (default: now)."
    )


class WatchOut(BaseModel):
    """What the pass did."""

    as_of: dt.datetime
    scored: int
    at_risk: int
    alerts: int


class Scan(BaseModel):
    """One scan of a parcel's timeline."""

    event_time: dt.datetime
    event_type: str
    location_id: str | None
    region: str | None


class HistoryPoint(BaseModel):
    """A past prediction of the parcel."""

    as_of: dt.datetime
    risk: float
    eta_p50: dt.datetime
    model_version: str


class ShipmentView(BaseModel):
    """A parcel as support sees it."""

    shipment_id: str
    risk: float | None
    at_risk: bool | None
    eta_p10: dt.datetime | None
    eta_p50: dt.datetime | None
    eta_p90: dt.datetime | None
    reasons: list[Reason]
    promised_at: dt.datetime
    overdue: bool
    as_of: dt.datetime | None
    model_version: str | None
    last_scan: Scan | None
    timeline: list[Scan]
    history: list[HistoryPoint]
    first_flagged_at: dt.datetime | None
    delivered_at: dt.datetime | None
    dest_region: str | None


class AtRiskItem(BaseModel):
    """One parcel of the at-risk list."""

    shipment_id: str
    risk: float
    at_risk: bool
    hours_left: float
    promised_at: dt.datetime
    eta_p10: dt.datetime
    eta_p50: dt.datetime
    eta_p90: dt.datetime
    top_reason: Reason | None
    dest_region: str | None
    last_scan: Scan | None


class AtRiskOut(BaseModel):
    """A page of the at-risk list, highest risk first."""

    items: list[AtRiskItem]
    next_cursor: str | None
    as_of: dt.datetime | None


class LocationView(BaseModel):
    """A hub or terminal: parcels there and at risk, against its capacity."""

    location_id: str
    kind: str
    region: str
    in_flight: int
    at_risk: int
    load: int
    capacity: float | None


class NetworkOut(BaseModel):
    """The network as the last pass saw it."""

    context_as_of: dt.datetime | None
    watched_at: dt.datetime | None
    locations: list[LocationView]


def checked_rows(
    table: str, rows: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], str]
) -> tuple[list[dict[str, Any]], list[int], dict[int, RowResult]]:
    """(valid rows, their positions, results of the invalid ones by position)."""
    valid: list[dict[str, Any]] = []
    where: list[int] = []
    failed: dict[int, RowResult] = {}
    adapter = _ADAPTERS[table]
    for i, row in enumerate(rows):
        label = key(row) if isinstance(row, dict) else f"row {i}"
        try:
            valid.append(adapter.validate_python(row).model_dump())
            where.append(i)
        except ValidationError as err:
            failed[i] = RowResult(label, REJECTED, _describe(err))
    return valid, where, failed


def shipments_frame(
    rows: Sequence[dict[str, Any]],
) -> tuple[pd.DataFrame, list[int], dict[int, RowResult]]:
    """Valid shipment rows as a frame (cross-field rules applied), and the rejected ones."""
    valid, where, failed = checked_rows("shipments", rows, _shipment_key)
    result = validate_typed(valid, [])
    rejected = result.rejections
    for i, row in zip(where, valid, strict=True):
        rules = rejected[rejected["row_key"] == row["shipment_id"]] if len(rejected) else rejected
        if len(rules):
            pairs = zip(rules["column"], rules["rule"], strict=True)
            failed[i] = RowResult(
                row["shipment_id"], REJECTED, "; ".join(f"{c}: {r}" for c, r in pairs)
            )
    kept = [i for i in where if i not in failed]
    return result.tables.shipments, kept, failed


def frame_of(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Checked rows of a contract table as a canonical frame."""
    schema = {s.name: s for s in (SCAN_EVENTS, WEATHER_DAILY, WEATHER_FORECAST, NETWORK)}[table]
    return conform(pd.DataFrame(rows, columns=schema.column_names), schema)


def merged(
    total: int, positions: list[int], results: list[RowResult], failed: dict[int, RowResult]
) -> IngestOut:
    """Results in request order: the store's for valid rows, the checks' for the others."""
    by_position = dict(failed)
    by_position.update(zip(positions, results, strict=True))
    return IngestOut(results=[RowOut(**vars(by_position[i])) for i in range(total)])


def _shipment_key(row: dict[str, Any]) -> str:
    return str(row.get("shipment_id", "?"))[:64]


def scan_label(row: dict[str, Any]) -> str:
    """How a scan row that failed its checks is named in results: shipment@time."""
    return f"{str(row.get('shipment_id', '?'))[:64]}@{str(row.get('event_time', '?'))[:40]}"


def weather_label(row: dict[str, Any]) -> str:
    """How a weather row is named in results: its region."""
    return str(row.get("region", "?"))[:64]


def location_label(row: dict[str, Any]) -> str:
    """How a network row is named in results: its location id."""
    return str(row.get("location_id", "?"))[:64]


def _describe(err: ValidationError) -> str:
    """The first problems of a row, as the API's error bodies name them (no values)."""
    items = err.errors(include_input=False, include_context=False)[:3]
    return "; ".join(f"{p['field']}: {p['problem']}" for p in map(field_problem, items))
