"""Snapshots (shipment_id, as_of) joined to their shipment's static fields, ready for families."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from contract.locale import NEUTRAL, Locale
from contract.schema import OUTCOME_COLUMNS, TIMESTAMP_DTYPE

US_PER_S = 1_000_000
SMALL_BATCH = 64  # up to this many keys, plain dict lookups beat pandas per-call overhead
Columns = dict[str, np.ndarray]  # a family's output: feature name -> one value per snapshot


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
    keys = np.asarray(keys, dtype=object)
    if len(keys) <= SMALL_BATCH:
        return np.array(
            [default if k is None or k != k else mapping.get(str(k), default) for k in keys] + [0],
            dtype=object,
        )[:-1]
    codes, uniques = pd.factorize(keys, use_na_sentinel=True)
    values = np.array([mapping.get(str(u), default) for u in uniques] + [default], dtype=object)
    return values[codes]


def positions_of(keys: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Position of each key in `known` (unique), -1 when absent."""
    if len(keys) <= SMALL_BATCH and len(known) <= SMALL_BATCH:
        where = {k: i for i, k in enumerate(known)}
        return np.array([where.get(k, -1) for k in keys] + [0], dtype=np.int64)[:-1]
    return pd.Index(known).get_indexer(keys)


def _to_us(times: pd.Series) -> pd.Series:
    """Timestamps in the contract's UTC microseconds (finer input is floored, not refused)."""
    if times.dtype == TIMESTAMP_DTYPE:
        return times
    times = pd.to_datetime(times, utc=True, errors="coerce")
    if times.dtype != TIMESTAMP_DTYPE:
        times = times.dt.floor("us").astype(TIMESTAMP_DTYPE)
    return times


def seconds(times: pd.Series) -> np.ndarray:
    """UTC timestamps as float seconds since the epoch (NaN where missing)."""
    stamps = _to_us(times).to_numpy(dtype="datetime64[us]")
    return np.where(np.isnat(stamps), np.nan, stamps.view("int64") / US_PER_S)


def texts_of(column: pd.Series) -> np.ndarray:
    """A text column as an object array, NaN where missing: `astype("str").to_numpy()`.

    A categorical column is read through its codes: turning 1.5M categorical scans into
    Arrow text and back into Python strings took a third of a second per column.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = np.append(column.cat.categories.astype("str").to_numpy(dtype=object), np.nan)
        return names[column.cat.codes.to_numpy()]  # code -1 (missing) takes the NaN
    return column.astype("str").to_numpy(dtype=object)


def positions_in(column: pd.Series, index: pd.Index) -> np.ndarray:
    """`index.get_indexer(texts_of(column))`: each value's position in `index`, -1 if absent.

    A categorical column looks up each category once instead of every row.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        found = np.append(index.get_indexer(column.cat.categories.astype("str")), -1)
        return found[column.cat.codes.to_numpy()]
    if len(column) <= SMALL_BATCH:
        return index.get_indexer(texts_of(column))
    # Each distinct value once: a pass's 1.5M scans name about 370k parcels.
    codes, distinct = pd.factorize(column)
    found = np.append(index.get_indexer(pd.Index(distinct).astype("str")), -1)
    return found[codes]


def shipment_positions(ids: pd.Series, ships: pd.DataFrame) -> np.ndarray:
    """Row of each id's shipment in `ships`, -1 when it has none (or `ships` is empty).

    Read a shipment column per id with `np.append(values, missing)[positions]`: -1 takes the
    appended missing value.
    """
    return positions_in(ids, pd.Index(ships["shipment_id"].astype("str")))


def by_parcel_and_time(
    events: pd.DataFrame, columns: Sequence[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """`columns` of the scans in (shipment_id, event_time) order, and each row's parcel.

    The order is a stable `sort_values` on the two columns (ties kept in place, missing
    values last), three times faster on a watch pass's 1.5M scans: the ids are hashed to
    codes in id order and the codes sorted, instead of the texts. Only `columns` are
    reordered, and the parcels come as those codes: reordering every column and hashing the
    reordered ids again took 0.13 s per caller on the bench's 1.1M scans.

    Returns:
        The columns in order (the frame's index goes with them), and per row its parcel's
        code: codes ascend with the ids, -1 where the id is missing.
    """
    order, codes = parcel_time_order(events)
    return events[list(columns)].take(order), codes[order]


def parcel_time_order(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The positions that put scans in `by_parcel_and_time`'s order, and each scan's parcel.

    Returns:
        The positions, and per scan (in the frame's order) its parcel's code: codes ascend
        with the ids, -1 where the id is missing.
    """
    codes = pd.factorize(events["shipment_id"], sort=True)[0]
    stamps = _to_us(events["event_time"]).to_numpy(dtype="datetime64[us]")
    ticks = np.where(np.isnat(stamps), np.iinfo(np.int64).max, stamps.view("int64"))
    last = np.where(codes < 0, np.iinfo(np.int64).max, codes)
    return np.lexsort((ticks, last)), codes


@dataclass(frozen=True)
class Snapshots:
    """Per-snapshot inputs shared by every family, one row per snapshot in request order.

    Shipment fields are gathered lazily (`column`), once each, from the shipments table;
    outcome columns are never handed out.

    Attributes:
        shipments: The shipments table.
        position: Row of each snapshot's shipment in `shipments`.
        as_of_s: as_of in epoch seconds.
        local_offset_h: Hours from UTC to the data's local time (its locale's offset).
        created_s: created_at in epoch seconds.
        promised_s: promised_at in epoch seconds.
    """

    shipments: pd.DataFrame
    position: np.ndarray
    as_of_s: np.ndarray
    local_offset_h: np.ndarray
    created_s: np.ndarray
    promised_s: np.ndarray
    locale: Locale = NEUTRAL
    _columns: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.position)

    def column(self, name: str) -> np.ndarray:
        """A shipment field for every snapshot (numpy; object arrays for text)."""
        if name in OUTCOME_COLUMNS:
            raise KeyError(f"{name} is an outcome: features never see it")
        if name not in self._columns:
            self._columns[name] = self.shipments[name].to_numpy()[self.position]
        return self._columns[name]

    def local_day(self, offset_h: np.ndarray | None = None) -> np.ndarray:
        """Local calendar day of as_of as days since the epoch (int)."""
        off = self.local_offset_h if offset_h is None else offset_h
        return np.floor((self.as_of_s + off * 3600) / 86400).astype(np.int64)


def prepare(
    shipments: pd.DataFrame, snapshots: pd.DataFrame, locale: Locale = NEUTRAL
) -> Snapshots:
    """Locate each snapshot's shipment; outcome columns stay out of reach of the families.

    Raises:
        ValueError: snapshots lack columns, or name shipments that are not in `shipments`.
    """
    missing = {"shipment_id", "as_of"} - set(snapshots.columns)
    if missing:
        raise ValueError(f"snapshots need columns shipment_id and as_of; missing {sorted(missing)}")
    as_of_s = seconds(snapshots["as_of"])
    if np.isnan(as_of_s).any():
        row = int(np.flatnonzero(np.isnan(as_of_s))[0])
        raise ValueError(f"snapshots: as_of is missing or unparsable in row {row}")
    position = positions_of(
        snapshots["shipment_id"].to_numpy(dtype=object),
        shipments["shipment_id"].to_numpy(dtype=object),
    )
    if (position < 0).any():
        bad = snapshots["shipment_id"].iloc[int(np.flatnonzero(position < 0)[0])]
        raise ValueError(f"snapshots: shipment {bad!r} is not in the shipments table")
    return Snapshots(
        shipments,
        position,
        as_of_s=as_of_s,
        local_offset_h=np.full(len(position), locale.utc_offset_h),
        created_s=seconds(shipments["created_at"])[position],
        promised_s=seconds(shipments["promised_at"])[position],
        locale=locale,
    )
