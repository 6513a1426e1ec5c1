"""`Tables`: the canonical tables every source returns and every later stage takes."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contract.locale import NEUTRAL, Locale
from contract.schema import (
    ADDRESS_QUALITY,
    DATE_DTYPE,
    NETWORK,
    SCAN_EVENTS,
    SHIPMENTS,
    TABLES,
    TIMESTAMP_DTYPE,
    WEATHER_DAILY,
    WEATHER_FORECAST,
    Column,
    TableSchema,
)

log = logging.getLogger(__name__)
LOCALE_FILE = "locale.json"

_PANDAS_DTYPE = {
    "str": "str",
    "category": "category",
    "timestamp": TIMESTAMP_DTYPE,
    "date": DATE_DTYPE,
    "float": "float64",
    "int": "int64",
    "bool": "bool",
}


def pandas_dtype(column: Column) -> str:
    """The pandas dtype a conformed column has."""
    return _PANDAS_DTYPE[column.kind]


def empty_frame(schema: TableSchema) -> pd.DataFrame:
    """A zero-row frame with the table's columns and dtypes."""
    return pd.DataFrame({c.name: pd.Series(dtype=pandas_dtype(c)) for c in schema.columns})


def typed_frame(records: Sequence[Mapping[str, Any]], schema: TableSchema) -> pd.DataFrame:
    """A canonical frame straight from records whose values already have their types.

    For rows a typed layer checked (the API's request models). Each column is built from
    plain Python with its final dtype: `pd.Categorical(values)` and `pd.to_datetime` cost
    0.05-0.2 ms a column even for one value, which is most of a one-parcel request's budget.
    Missing keys are missing values.
    """
    out: dict[str, Any] = {}
    for c in schema.columns:
        values = [r.get(c.name) for r in records]
        if c.kind == "timestamp":
            out[c.name] = utc_timestamps(values)
        elif c.kind == "float":
            out[c.name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        elif c.kind == "category":
            out[c.name] = _categorical(values)
        else:
            out[c.name] = pd.array(values, dtype=pandas_dtype(c))
    return pd.DataFrame(out, index=pd.RangeIndex(len(records)))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_UTC_DTYPE = pd.DatetimeTZDtype("us", "UTC")
_NAT = np.iinfo(np.int64).min  # NaT as datetime64 int64


def utc_timestamps(values: list[Any]) -> Any:
    """Aware datetimes (or missing values) as a `datetime64[us, UTC]` array."""
    try:
        micros = [_NAT if is_missing(v) else (v - _EPOCH) // _MICROSECOND for v in values]
    except TypeError:  # naive or not datetimes: let pandas parse (and complain about) them
        return pd.to_datetime(values, utc=True).as_unit("us")
    return pd.array(np.array(micros, dtype=np.int64).view("M8[us]"), dtype=_UTC_DTYPE)


def _categorical(values: list[Any]) -> pd.Categorical:
    """The categorical `pd.Categorical(values)` gives (sorted categories), built from codes."""
    present = sorted({v for v in values if not is_missing(v)})
    position = {v: k for k, v in enumerate(present)}
    codes = np.array([position.get(v, -1) for v in values], dtype=np.int32)
    return pd.Categorical.from_codes(codes, dtype=category_dtype(tuple(present)))


@functools.lru_cache(maxsize=8192)
def category_dtype(categories: tuple[Any, ...]) -> pd.CategoricalDtype:
    """The categorical dtype of these text categories, one object per set (cached).

    No categories at all: object categories, as `conform` gives for an all-missing column.
    """
    return pd.CategoricalDtype(pd.Index(list(categories), dtype="str" if categories else object))


def is_missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA: a missing scalar of any kind, without pandas' overhead."""
    return value is None or value is pd.NA or value is pd.NaT or value != value


def conform(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Order columns as the contract does and cast them to their canonical dtypes.

    For frames a trusted source built itself; foreign data goes through `validate`, which
    rejects rows instead of failing on them.
    """
    out = {}
    for c in schema.columns:
        values = frame[c.name] if c.name in frame else pd.Series(None, index=frame.index)
        out[c.name] = _cast(values, c)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def _cast(values: pd.Series, column: Column) -> pd.Series:
    values = values.reset_index(drop=True)
    if column.kind == "timestamp":
        return pd.to_datetime(values, utc=True).astype(TIMESTAMP_DTYPE)
    if column.kind == "date":
        return pd.to_datetime(values).dt.tz_localize(None).astype(DATE_DTYPE)
    if column.kind == "category" and isinstance(values.dtype, pd.CategoricalDtype):
        return values
    return values.astype(pandas_dtype(column))


@dataclass(frozen=True)
class Tables:
    """The canonical tables (docs/architecture.md, "The data contract"), one attribute each.

    A directory of Parquet files (`<table>.parquet`) and a `locale.json` persists it. Tables a
    source cannot provide (e.g. weather forecasts for real data) are empty frames with the
    right columns.

    Attributes:
        locale: Where the data lives (contract/locale.py); `NEUTRAL` (UTC, no holidays) when
            the source declared none.
        address_quality: Address features derived where the address was read, for shipments
            stored without it (contract/schema.py); empty when the text is at hand.
    """

    shipments: pd.DataFrame
    scan_events: pd.DataFrame
    weather_daily: pd.DataFrame
    weather_forecast: pd.DataFrame
    network: pd.DataFrame
    locale: Locale = NEUTRAL
    address_quality: pd.DataFrame = field(default_factory=lambda: empty_frame(ADDRESS_QUALITY))

    @classmethod
    def empty(cls, locale: Locale = NEUTRAL) -> Tables:
        """Tables with no rows."""
        return cls(**{name: empty_frame(schema) for name, schema in TABLES.items()}, locale=locale)

    @classmethod
    def from_frames(cls, locale: Locale = NEUTRAL, **frames: pd.DataFrame) -> Tables:
        """Conform the given frames; missing tables are empty."""
        unknown = set(frames) - set(TABLES)
        if unknown:
            raise ValueError(f"not canonical tables: {sorted(unknown)}; expected {sorted(TABLES)}")
        return cls(
            **{
                name: conform(frames[name], schema) if name in frames else empty_frame(schema)
                for name, schema in TABLES.items()
            },
            locale=locale,
        )

    @classmethod
    def read(cls, path: str | Path, conform_frames: bool = True) -> Tables:
        """Read a directory written by `write` (missing files read as empty tables).

        A directory without `locale.json` (written before locales existed) reads as `NEUTRAL`:
        local times are UTC and there are no holidays, which changes the calendar features;
        write it again from its source.

        Args:
            path: The directory.
            conform_frames: Cast to canonical dtypes (a directory this code wrote); False
                keeps the frames as stored, for `contract.validation.validate` to check row by
                row (a directory from elsewhere, which may hold anything).
        """
        root = Path(path)
        if not root.is_dir():
            raise FileNotFoundError(f"no Tables directory at {root}")
        frames = {}
        for name in TABLES:
            file = root / f"{name}.parquet"
            if file.exists():
                frames[name] = pd.read_parquet(file)
        if SHIPMENTS.name not in frames:
            raise FileNotFoundError(f"{root} holds no {SHIPMENTS.name}.parquet: not a Tables dir")
        locale = NEUTRAL
        if (root / LOCALE_FILE).exists():
            locale = Locale.from_dict(json.loads((root / LOCALE_FILE).read_text()))
        else:
            log.warning(
                "%s has no %s: reading its times as UTC, with no holidays", root, LOCALE_FILE
            )
        if not conform_frames:
            return cls(
                **{name: frames.get(name, empty_frame(schema)) for name, schema in TABLES.items()},
                locale=locale,
            )
        return cls.from_frames(locale, **frames)

    def write(self, path: str | Path) -> Path:
        """Write one Parquet file per table, and the locale, into `path` (created if needed)."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        for name, frame in self.items():
            frame.to_parquet(root / f"{name}.parquet", index=False)
        (root / LOCALE_FILE).write_text(json.dumps(self.locale.to_dict(), indent=1))
        return root

    def items(self) -> list[tuple[str, pd.DataFrame]]:
        """(name, frame) pairs in contract order (the tables, not the locale)."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if f.name in TABLES]

    def replace(self, **frames: pd.DataFrame) -> Tables:
        """A copy with some tables replaced."""
        return replace(self, **frames)


__all__ = [
    "NETWORK",
    "SCAN_EVENTS",
    "SHIPMENTS",
    "WEATHER_DAILY",
    "WEATHER_FORECAST",
    "Tables",
    "conform",
    "empty_frame",
    "pandas_dtype",
]
