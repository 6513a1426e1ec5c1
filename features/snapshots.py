"""Snapshots (shipment_id, as_of) joined to their shipment's static fields, ready for families."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.reference.korea import regions as kr_regions
from features.schema import OUTCOME_COLUMNS, TIMESTAMP_DTYPE

US_PER_S = 1_000_000
Columns = dict[str, np.ndarray]  # a family's output: feature name -> one value per snapshot
# Local time of a region: Korea is UTC+9 all year; Brazilian state codes (Olist) use UTC-3.
_KR = set(kr_regions()["region"])
_BR_STATES = {
    "AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA", "PB",
    "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO",
}  # fmt: skip


def pick(condition: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`values` where `condition` holds, None elsewhere (an object array)."""
    out = np.full(len(condition), None, dtype=object)
    out[condition] = np.asarray(values, dtype=object)[condition]
    return out


def map_values(
    keys: pd.Series | np.ndarray, mapping: dict[str, Any], default: Any = np.nan
) -> np.ndarray:
    """`mapping[key]` for every key (default for unknown or missing keys).

    Looks up each distinct key once, so it is cheap for one row and for millions.
    """
    codes, uniques = pd.factorize(np.asarray(keys, dtype=object), use_na_sentinel=True)
    values = np.array([mapping.get(str(u), default) for u in uniques] + [default], dtype=object)
    return values[codes]


def _offset(region: str) -> float:
    return 9.0 if region in _KR else -3.0 if region in _BR_STATES else 0.0


def utc_offset_hours(region: pd.Series) -> np.ndarray:
    """Hours to add to UTC for local time in each region (0 when the region is unknown)."""
    codes, uniques = pd.factorize(region, use_na_sentinel=True)
    values = np.array([_offset(str(u)) for u in uniques] + [0.0])
    return values[codes]


def _to_us(times: pd.Series) -> pd.Series:
    """Timestamps in the contract's UTC microseconds (finer input is floored, not refused)."""
    if times.dtype == TIMESTAMP_DTYPE:
        return times
    times = pd.to_datetime(times, utc=True)
    if times.dtype != TIMESTAMP_DTYPE:
        times = times.dt.floor("us").astype(TIMESTAMP_DTYPE)
    return times


def seconds(times: pd.Series) -> np.ndarray:
    """UTC timestamps as float seconds since the epoch (NaN where missing)."""
    stamps = _to_us(times).to_numpy(dtype="datetime64[us]")
    return np.where(np.isnat(stamps), np.nan, stamps.view("int64") / US_PER_S)


@dataclass(frozen=True)
class Snapshots:
    """Per-snapshot inputs shared by every family, one row per snapshot in request order.

    Attributes:
        frame: shipment_id, as_of and the shipment's static (non-outcome) fields.
        as_of_s: as_of in epoch seconds.
        local_offset_h: Hours from UTC to the destination's local time.
    """

    frame: pd.DataFrame
    as_of_s: np.ndarray
    local_offset_h: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    def local_day(self, offset_h: np.ndarray | None = None) -> np.ndarray:
        """Local calendar day of as_of as days since the epoch (int)."""
        off = self.local_offset_h if offset_h is None else offset_h
        return np.floor((self.as_of_s + off * 3600) / 86400).astype(np.int64)


def prepare(shipments: pd.DataFrame, snapshots: pd.DataFrame) -> Snapshots:
    """Join each snapshot to its shipment; outcome columns are dropped here, never seen later.

    Raises:
        ValueError: snapshots lack columns, or name shipments that are not in `shipments`.
    """
    missing = {"shipment_id", "as_of"} - set(snapshots.columns)
    if missing:
        raise ValueError(f"snapshots need columns shipment_id and as_of; missing {sorted(missing)}")
    as_of = _to_us(pd.to_datetime(snapshots["as_of"], utc=True))
    if as_of.isna().any():
        raise ValueError(
            f"snapshots: as_of is missing or unparsable in row {int(as_of.isna().idxmax())}"
        )
    static = shipments.drop(columns=[c for c in OUTCOME_COLUMNS if c in shipments])
    position = pd.Index(static["shipment_id"]).get_indexer(snapshots["shipment_id"])
    if (position < 0).any():
        bad = snapshots["shipment_id"].iloc[int(np.flatnonzero(position < 0)[0])]
        raise ValueError(f"snapshots: shipment {bad!r} is not in the shipments table")
    frame = static.iloc[position].reset_index(drop=True)
    frame["as_of"] = as_of.to_numpy()
    return Snapshots(frame, seconds(frame["as_of"]), utc_offset_hours(frame["dest_region"]))
