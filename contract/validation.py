"""Validate foreign tables against the contract: keep valid rows, report every rejected one.

Nothing is silently dropped and nothing crashes on bad data: each rejected row appears in the
report with its table, its key, the column and the rule it broke; PII values never appear.

Three steps, each driven by the contract's own definitions:

1. parse every column to its kind (the contract's parsing: naive times are UTC, "yes" is
   true); what does not parse is rejected as "not a valid <kind>";
2. the value rules of the `Column` definitions (missing values, ranges, vocabularies) as a
   pandera schema generated from them, validated lazily: every failure case becomes a report
   row;
3. the rules across fields, rows and tables (contract/rules.py, vectorised forms).

`validate_typed` is the request path: records that a typed layer (the API models, generated
from the same columns) has checked field by field get step 3 only, in its scalar form.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from contract.report import REPORT_COLUMNS, Rejections, ValidationResult, combine
from contract.rules import DUPLICATE_SHIPMENT, EVENT_RULES, SHIPMENT_RULES, breaks_any
from contract.schema import (
    DATE_DTYPE,
    EARLIEST,
    ID_PATTERN,
    LATEST,
    PRINTABLE_PATTERN,
    SCAN_EVENTS,
    SHIPMENTS,
    TABLES,
    TIMESTAMP_DTYPE,
    Column,
    TableSchema,
)
from contract.tables import Tables, conform, empty_frame, typed_frame

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
MISSING = "required value is missing"
TIME_RULE = f"outside {EARLIEST:%Y-%m-%d} .. {LATEST:%Y-%m-%d}"


def _pattern_rule(column: Column) -> str:
    if column.pattern == ID_PATTERN:
        return "not an identifier (letters, digits and ._:- only)"
    if column.pattern == PRINTABLE_PATTERN:
        return "contains control characters"
    return f"does not match {column.pattern}"


def validate(tables: Tables) -> ValidationResult:
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
    shipments, report = _check_shipments(clean[SHIPMENTS.name])
    clean[SHIPMENTS.name] = shipments
    reports.append(report)
    events, report = _check_events(clean[SCAN_EVENTS.name], shipments)
    clean[SCAN_EVENTS.name] = events
    reports.append(report)
    return ValidationResult(Tables(**clean, locale=tables.locale), combine(reports), tuple(notes))


def validate_typed(
    shipments: Sequence[Mapping[str, Any]], scan_events: Sequence[Mapping[str, Any]]
) -> ValidationResult:
    """Validate shipment and scan records whose values already have their contract types.

    Only the cross-field rules are left, in their scalar form first: the frame checks cost
    ~3 ms even for one parcel and only matter for telling which rows broke which rule. The
    other tables are empty.
    """
    ships = typed_frame(shipments, SHIPMENTS)
    events = typed_frame(scan_events, SCAN_EVENTS)
    if not breaks_any(list(shipments), list(scan_events)):
        tables = _empty_tables().replace(shipments=ships, scan_events=events)
        return ValidationResult(tables, pd.DataFrame(columns=REPORT_COLUMNS), ())
    duplicates = Rejections(SHIPMENTS, ships)
    repeated = ships["shipment_id"].duplicated(keep=False).to_numpy()
    duplicates.add(repeated, "shipment_id", DUPLICATE_SHIPMENT)
    ships, report = _check_shipments(ships.loc[~duplicates.bad].reset_index(drop=True))
    events, events_report = _check_events(events, ships)
    tables = _empty_tables().replace(shipments=ships, scan_events=events)
    return ValidationResult(tables, combine([duplicates.report(), report, events_report]), ())


@functools.cache
def value_schema(schema: TableSchema) -> pa.DataFrameSchema:
    """The pandera schema of a table's value rules, generated from its `Column` definitions."""
    columns = {}
    for column in schema.columns:
        checks = []
        if column.min_value is not None:
            checks.append(
                pa.Check.ge(column.min_value, error=f"below minimum {column.min_value:g}")
            )
        if column.max_value is not None:
            checks.append(
                pa.Check.le(column.max_value, error=f"above maximum {column.max_value:g}")
            )
        if column.allowed is not None:
            checks.append(
                pa.Check.isin(column.allowed, error=f"not one of {', '.join(column.allowed)}")
            )
        if column.max_length is not None:
            checks.append(
                pa.Check.str_length(
                    max_value=column.max_length,
                    error=f"longer than {column.max_length} characters",
                )
            )
        if column.pattern is not None:
            checks.append(pa.Check.str_matches(column.pattern, error=_pattern_rule(column)))
        if column.kind == "timestamp":
            checks.append(
                pa.Check.in_range(
                    pd.Timestamp(EARLIEST),
                    pd.Timestamp(LATEST),
                    include_max=False,
                    error=TIME_RULE,
                )
            )
        if column.kind == "date":
            naive = (
                pd.Timestamp(EARLIEST).tz_localize(None),
                pd.Timestamp(LATEST).tz_localize(None),
            )
            checks.append(pa.Check.in_range(*naive, include_max=False, error=TIME_RULE))
        if column.kind == "float":
            checks.append(pa.Check(np.isfinite, error="not a finite number"))
        columns[column.name] = pa.Column(nullable=column.nullable, checks=checks, required=False)
    return pa.DataFrameSchema(columns, name=schema.name, strict=False, coerce=False)


def _validate_table(
    frame: pd.DataFrame, schema: TableSchema
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    frame = frame.reset_index(drop=True)
    notes = [
        f"{schema.name}: column {extra!r} is not in the contract and was ignored"
        for extra in frame.columns
        if extra not in schema.column_names
    ]
    found = Rejections(schema, frame)
    parsed: dict[str, pd.Series] = {}
    unparsable: dict[str, np.ndarray] = {}
    for column in schema.columns:
        if column.name not in frame:
            if not column.nullable:
                found.add(np.ones(len(frame), bool), column.name, "missing required column")
            parsed[column.name] = empty_frame(schema)[column.name].reindex(range(len(frame)))
            continue
        raw = frame[column.name]
        parsed[column.name], unparsable[column.name] = _parse(raw, column)
        found.add(unparsable[column.name], column.name, f"not a valid {column.kind}", raw)
    checked = pd.DataFrame(parsed)
    _check_values(found, checked, schema, unparsable)
    _check_duplicates(found, checked, schema)
    valid = conform(checked.loc[~found.bad], schema)
    return valid, found.report(), notes


def _check_values(
    found: Rejections,
    frame: pd.DataFrame,
    schema: TableSchema,
    unparsable: dict[str, np.ndarray],
) -> None:
    """Run the pandera schema lazily; every failure case rejects its row."""
    present = [c.name for c in schema.columns if c.name in unparsable]
    try:
        value_schema(schema).validate(frame[present], lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        cases = cases[cases["index"].notna() & cases["column"].isin(present)]
        for (column, check), rows in cases.groupby(["column", "check"], sort=False)["index"]:
            mask = np.zeros(len(frame), dtype=bool)
            mask[rows.to_numpy(dtype=np.int64)] = True
            if check == "not_nullable":  # a value that did not parse is already reported
                found.add(mask & ~unparsable[column], str(column), MISSING)
            else:
                found.add(mask, str(column), str(check), frame[column])


def _parse(raw: pd.Series, column: Column) -> tuple[pd.Series, np.ndarray]:
    """Cast to the column's kind; return the cast values and the rows that could not be cast."""
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
    return cast, present & cast.isna().to_numpy()


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


def _check_duplicates(found: Rejections, frame: pd.DataFrame, schema: TableSchema) -> None:
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


def _check_shipments(shipments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    found = Rejections(SHIPMENTS, shipments)
    for rule in SHIPMENT_RULES:
        found.add(rule.rows(shipments), rule.column, rule.rule, shipments[rule.column])
    return shipments.loc[~found.bad].reset_index(drop=True), found.report()


def _check_events(
    events: pd.DataFrame, shipments: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    found = Rejections(SCAN_EVENTS, events)
    # Shipment ids are unique here (duplicates were rejected), so the lookup is exact.
    position = pd.Index(shipments["shipment_id"]).get_indexer(events["shipment_id"])
    created = pd.Series(
        shipments["created_at"].array.take(position, allow_fill=True), index=events.index
    )
    for rule in EVENT_RULES:
        found.add(rule.rows(events, created), rule.column, rule.rule, events[rule.column])
    return events.loc[~found.bad].reset_index(drop=True), found.report()


@functools.cache
def _empty_tables() -> Tables:
    return Tables.empty()


__all__ = ["REPORT_COLUMNS", "ValidationResult", "validate", "validate_typed", "value_schema"]
