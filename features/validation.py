"""Validate foreign tables against the contract: keep valid rows, report every rejected one.

Nothing is silently dropped and nothing crashes on bad data: each rejected row appears in the
report with its table, its key, the column and the rule it broke. PII values never appear in
the report.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.schema import (
    DATE_DTYPE,
    SCAN_EVENTS,
    SHIPMENTS,
    TABLES,
    TIMESTAMP_DTYPE,
    Column,
    TableSchema,
)
from features.tables import Tables, conform, empty_frame, is_missing, typed_frame

REPORT_COLUMNS = ["table", "row_key", "column", "rule", "value"]
_REDACTED = "<redacted>"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class ValidationResult:
    """Valid rows of every table plus the report of what was rejected and why.

    Attributes:
        tables: Only the rows that passed, conformed to canonical dtypes.
        rejections: One row per (rejected row, broken rule): table, row_key, column, rule, value.
        notes: Table-level remarks that reject no row (e.g. ignored extra columns).
    """

    tables: Tables
    rejections: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return self.rejections.empty

    def summary(self) -> pd.DataFrame:
        """Rejected rows counted per table and rule."""
        if self.rejections.empty:
            return pd.DataFrame(columns=["table", "rule", "rows"])
        return (
            self.rejections.groupby(["table", "rule"], observed=True)["row_key"]
            .nunique()
            .rename("rows")
            .reset_index()
        )


class _Rejections:
    """Collects (row mask, rule) findings for one table and renders them as report rows."""

    def __init__(self, schema: TableSchema, frame: pd.DataFrame) -> None:
        self.schema = schema
        self.frame = frame
        self.bad = np.zeros(len(frame), dtype=bool)
        self.parts: list[pd.DataFrame] = []

    def add(
        self, mask: np.ndarray, column: str, rule: str, values: pd.Series | None = None
    ) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        self.bad |= mask
        rows = np.flatnonzero(mask)
        if values is None:
            shown = pd.Series([""] * len(rows))
        elif column in self.frame and self.schema_has_pii(column):
            shown = pd.Series([_REDACTED] * len(rows))
        else:
            shown = values.iloc[rows].astype("str").reset_index(drop=True)
        self.parts.append(
            pd.DataFrame(
                {
                    "table": self.schema.name,
                    "row_key": self._keys(rows),
                    "column": column,
                    "rule": rule,
                    "value": shown.to_numpy(),
                }
            )
        )

    def schema_has_pii(self, column: str) -> bool:
        return any(c.name == column and c.pii for c in self.schema.columns)

    def _keys(self, rows: np.ndarray) -> np.ndarray:
        """Row keys like `KR1` or `KR1|2025-07-01 10:00:00+00:00|HUB_IN`; row number if blank."""
        parts = []
        for name in self.schema.key:
            if name in self.frame:
                parts.append(self.frame[name].iloc[rows].astype("str").fillna("").to_numpy())
        if not parts:
            return np.array([f"row {r}" for r in rows], dtype=object)
        keys = parts[0].astype(object)
        for p in parts[1:]:
            keys = keys + "|" + p.astype(object)
        blank = np.array([k.strip("|") == "" for k in keys])
        keys[blank] = [f"row {r}" for r in rows[blank]]
        return keys

    def report(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame(columns=REPORT_COLUMNS)
        return pd.concat(self.parts, ignore_index=True)


def validate_tables(tables: Tables) -> ValidationResult:
    """Check every table against the contract and the cross-table rules.

    Args:
        tables: Tables whose frames may hold anything (wrong dtypes, bad values, orphans).

    Returns:
        The valid rows conformed to canonical dtypes, and the rejection report.
    """
    reports: list[pd.DataFrame] = []
    notes: list[str] = []
    clean: dict[str, pd.DataFrame] = {}
    for name, schema in TABLES.items():
        frame, report, table_notes = _validate_table(getattr(tables, name), schema)
        clean[name] = frame
        reports.append(report)
        notes.extend(table_notes)

    shipments, report = _check_shipment_times(clean[SHIPMENTS.name])
    clean[SHIPMENTS.name] = shipments
    reports.append(report)
    events, report = _check_events_against_shipments(clean[SCAN_EVENTS.name], shipments)
    clean[SCAN_EVENTS.name] = events
    reports.append(report)

    non_empty = [r for r in reports if not r.empty]
    rejections = (
        pd.concat(non_empty, ignore_index=True)
        if non_empty
        else pd.DataFrame(columns=REPORT_COLUMNS)
    )
    return ValidationResult(Tables(**clean), rejections, tuple(notes))


def _validate_table(
    frame: pd.DataFrame, schema: TableSchema
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    frame = frame.reset_index(drop=True)
    notes = [
        f"{schema.name}: column {extra!r} is not in the contract and was ignored"
        for extra in frame.columns
        if extra not in schema.column_names
    ]
    found = _Rejections(schema, frame)
    out: dict[str, pd.Series] = {}
    for column in schema.columns:
        if column.name not in frame:
            if not column.nullable:
                found.add(np.ones(len(frame), bool), column.name, "missing required column")
            out[column.name] = empty_frame(schema)[column.name].reindex(range(len(frame)))
            continue
        raw = frame[column.name]
        coerced, unparsable = _coerce(raw, column)
        found.add(unparsable, column.name, f"not a valid {column.kind}", raw)
        missing = coerced.isna().to_numpy() & ~unparsable
        if not column.nullable:
            found.add(missing, column.name, "required value is missing")
        _check_values(found, coerced, column)
        out[column.name] = coerced
    checked = pd.DataFrame(out)
    _check_duplicates(found, checked, schema)
    valid = conform(checked.loc[~found.bad], schema)
    return valid, found.report(), notes


def _coerce(raw: pd.Series, column: Column) -> tuple[pd.Series, np.ndarray]:
    """Cast to the column's dtype; return the cast values and the rows that could not be cast."""
    present = raw.notna().to_numpy()
    kind = column.kind
    if kind in ("float", "int"):
        cast = pd.to_numeric(raw, errors="coerce")
        if kind == "int":
            whole = cast.isna() | (cast == np.floor(cast))
            cast = cast.where(whole)
            cast = cast.astype("Int64" if cast.isna().any() else "int64")
        else:
            cast = cast.astype("float64")
    elif kind == "timestamp":
        cast = _to_utc(raw)
    elif kind == "date":
        cast = pd.to_datetime(raw, errors="coerce")
        if isinstance(cast.dtype, pd.DatetimeTZDtype):
            cast = cast.dt.tz_localize(None)
        cast = cast.dt.normalize().astype(DATE_DTYPE)
    elif kind == "bool":
        cast = _to_bool(raw)
    elif kind == "category":
        cast = raw.astype("str").where(raw.notna()).astype("category")
    else:
        cast = raw.astype("str").where(raw.notna())
    unparsable = present & cast.isna().to_numpy()
    return cast, unparsable


def _to_utc(raw: pd.Series) -> pd.Series:
    """Timestamps as UTC; naive values are read as UTC (the contract's zone)."""
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC").astype(TIMESTAMP_DTYPE)
    cast = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    return cast.astype(TIMESTAMP_DTYPE)


def _to_bool(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("boolean")
    text = raw.astype("str").str.strip().str.lower()
    mapped = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    mapped[text.isin(_TRUE).to_numpy()] = True
    mapped[text.isin(_FALSE).to_numpy()] = False
    return mapped


def _check_values(found: _Rejections, values: pd.Series, column: Column) -> None:
    if column.min_value is not None:
        below = (values < column.min_value).fillna(False).to_numpy(dtype=bool)
        found.add(below, column.name, f"below minimum {column.min_value:g}", values)
    if column.max_value is not None:
        above = (values > column.max_value).fillna(False).to_numpy(dtype=bool)
        found.add(above, column.name, f"above maximum {column.max_value:g}", values)
    if column.allowed is not None:
        unknown = values.notna().to_numpy() & ~values.isin(column.allowed).to_numpy()
        found.add(unknown, column.name, f"not one of {', '.join(column.allowed)}", values)


def _check_duplicates(found: _Rejections, frame: pd.DataFrame, schema: TableSchema) -> None:
    """Identical copies keep their first row; conflicting rows with one key are all rejected."""
    if not schema.unique_key or frame.empty:
        return
    key = list(schema.key)
    repeated = frame.duplicated(key, keep=False).to_numpy()
    if not repeated.any():
        return
    exact_copy = frame.duplicated(keep="first").to_numpy()
    found.add(exact_copy, ",".join(key), "duplicate key (identical copy, first kept)")
    candidates = frame.loc[repeated & ~exact_copy]
    conflicting = candidates.duplicated(key, keep=False)
    mask = np.zeros(len(frame), dtype=bool)
    mask[candidates.index[conflicting.to_numpy()]] = True
    found.add(mask, ",".join(key), "duplicate key with conflicting values")


def _check_shipment_times(shipments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    found = _Rejections(SHIPMENTS, shipments)
    created = shipments["created_at"]
    found.add(
        (shipments["promised_at"] < created).to_numpy(dtype=bool),
        "promised_at",
        "promised before creation",
        shipments["promised_at"],
    )
    found.add(
        (shipments["delivered_at"] < created).fillna(False).to_numpy(dtype=bool),
        "delivered_at",
        "delivered before creation",
        shipments["delivered_at"],
    )
    delivered_without_time = (shipments["final_status"] == "DELIVERED").fillna(False).to_numpy(
        dtype=bool
    ) & shipments["delivered_at"].isna().to_numpy()
    found.add(delivered_without_time, "delivered_at", "status DELIVERED without delivered_at")
    return shipments.loc[~found.bad].reset_index(drop=True), found.report()


def _check_events_against_shipments(
    events: pd.DataFrame, shipments: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    found = _Rejections(SCAN_EVENTS, events)
    # Shipment ids are unique here (duplicates were rejected), so a positional lookup is exact.
    position = pd.Index(shipments["shipment_id"]).get_indexer(events["shipment_id"])
    unknown = position < 0
    found.add(unknown, "shipment_id", "unknown or rejected shipment", events["shipment_id"])
    if len(shipments):
        created = shipments["created_at"].to_numpy()[np.maximum(position, 0)]
        before = ~unknown & (events["event_time"].to_numpy() < created)
        before &= events["event_time"].notna().to_numpy()
        found.add(before, "event_time", "event before shipment creation", events["event_time"])
    return events.loc[~found.bad].reset_index(drop=True), found.report()


__all__ = ["REPORT_COLUMNS", "ValidationResult", "validate_tables"]


def validate_typed(
    shipments: Sequence[Mapping[str, Any]], scan_events: Sequence[Mapping[str, Any]]
) -> ValidationResult:
    """Validate shipment and scan records whose values already have their contract types.

    For input a typed layer (the API's request models, built from the same schema) has
    checked field by field: only the cross-field rules are left, at a fraction of
    `validate_tables`' cost on small batches. The other tables are empty.
    """
    ships = typed_frame(shipments, SHIPMENTS)
    events = typed_frame(scan_events, SCAN_EVENTS)
    if not _breaks_cross_field_rules(shipments, scan_events):
        # The usual case, checked in plain Python: the frame checks below cost ~3 ms even
        # for one parcel, and they only matter for telling which rows broke which rule.
        tables = _empty_tables().replace(shipments=ships, scan_events=events)
        return ValidationResult(tables, pd.DataFrame(columns=REPORT_COLUMNS), ())
    dup = _Rejections(SHIPMENTS, ships)
    dup.add(ships["shipment_id"].duplicated(keep=False).to_numpy(), "shipment_id", "duplicate key")
    reports = [dup.report()]
    ships, report = _check_shipment_times(ships.loc[~dup.bad].reset_index(drop=True))
    reports.append(report)
    events, report = _check_events_against_shipments(events, ships)
    reports.append(report)
    non_empty = [r for r in reports if not r.empty]
    rejections = (
        pd.concat(non_empty, ignore_index=True)
        if non_empty
        else pd.DataFrame(columns=REPORT_COLUMNS)
    )
    tables = _empty_tables().replace(shipments=ships, scan_events=events)
    return ValidationResult(tables, rejections, ())


def _breaks_cross_field_rules(
    shipments: Sequence[Mapping[str, Any]], scan_events: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether any record breaks a rule that `validate_typed`'s frame checks report.

    Keep in step with those checks (`_check_shipment_times`, `_check_events_against_shipments`
    and the duplicate key): tests feed each rule's violation through `validate_typed`.
    """
    created: dict[Any, Any] = {}
    for ship in shipments:
        key, at = ship.get("shipment_id"), ship.get("created_at")
        if key in created:
            return True
        created[key] = at
        delivered = ship.get("delivered_at")
        if _before(ship.get("promised_at"), at) or _before(delivered, at):
            return True
        if ship.get("final_status") == "DELIVERED" and is_missing(delivered):
            return True
    for event in scan_events:
        key = event.get("shipment_id")
        if key not in created or _before(event.get("event_time"), created[key]):
            return True
    return False


def _before(value: Any, reference: Any) -> bool:
    """`value < reference`, False when either is missing (as pandas compares NaT)."""
    return not is_missing(value) and not is_missing(reference) and value < reference


@functools.cache
def _empty_tables() -> Tables:
    return Tables.empty()
