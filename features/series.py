"""The context's data: dense cumulative arrays a feature reads point-in-time, and their container.

A `Context` holds the hourly hub flows, the daily series the registered feature families
declared (features/families.py), the weather tables, the network and the locale. It is built
by `features.context.build_context` and read by the families; serving writes one to disk and
reads it back (`write` / `read` loop over whatever series it holds).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from contract.locale import NEUTRAL, Locale
from features.snapshots import map_values

T = TypeVar("T")
HOUR, DAY = 3600, 86400


def sorted_keys(*parts: np.ndarray | list[str]) -> pd.Index:
    """The distinct texts of `parts`, sorted: what `np.unique` of them all gives.

    By hashing: `np.unique` sorts every value, about a second for a pass's 1.3M scans.
    """
    values = np.concatenate([np.asarray(p, dtype=object) for p in parts])
    return pd.Index(np.sort(pd.unique(values)))


@dataclass(frozen=True)
class DailySeries:
    """Trailing-window sums per (UTC day boundary, key), dense.

    Attributes:
        first_day: Epoch day of boundary 0 (sums cover days strictly before a boundary).
        keys: Key of each column.
        sums: name -> array [boundaries, keys] (or [boundaries, keys, bins]).
    """

    first_day: int
    keys: pd.Index
    sums: dict[str, np.ndarray]

    def rows(self, day: np.ndarray) -> np.ndarray:
        """Boundary row for snapshots on `day` (clamped: later days read the latest)."""
        n = next(iter(self.sums.values())).shape[0]
        return np.clip(day - self.first_day, 0, n - 1)

    @staticmethod
    def merge(parts: list[DailySeries]) -> DailySeries:
        """The series of the union of disjoint sets of shipments, from each set's series.

        Every sum is over shipments, so the union's is the sum of the parts' once their keys
        are aligned; all parts must cover the same day boundaries (one `Span`).
        """
        first = {p.first_day for p in parts}
        rows = {v.shape[0] for p in parts for v in p.sums.values()}
        if len(first) != 1 or len(rows) > 1:
            raise ValueError("series over different days cannot merge (build them on one Span)")
        keys = pd.Index(sorted(set().union(*(p.keys.astype("str") for p in parts))))
        sums: dict[str, np.ndarray] = {}
        for part in parts:
            columns = keys.get_indexer(part.keys.astype("str"))
            for name, values in part.sums.items():
                if name not in sums:
                    shape = (values.shape[0], len(keys), *values.shape[2:])
                    sums[name] = np.zeros(shape, dtype=np.float64)
                sums[name][:, columns] += values
        return DailySeries(first.pop(), keys, {k: v.astype(np.float32) for k, v in sums.items()})


@dataclass(frozen=True)
class HubLoad:
    """Hourly cumulative flows per location: in, out, dwell of what left."""

    first_hour: int
    locations: pd.Index
    capacity: np.ndarray
    cum: dict[str, np.ndarray]  # name -> [locations, boundaries]

    @staticmethod
    def merge(parts: list[HubLoad]) -> HubLoad:
        """The flows of the union of disjoint sets of shipments (same network and hours)."""
        head = parts[0]
        for part in parts[1:]:
            shapes = {v.shape for v in (*part.cum.values(), *head.cum.values())}
            if (
                part.first_hour != head.first_hour
                or len(shapes) > 1
                or not part.locations.equals(head.locations)
            ):
                raise ValueError("hub loads over different hours or networks cannot merge")
        cum = {k: np.sum([p.cum[k] for p in parts], axis=0) for k in head.cum}
        return HubLoad(head.first_hour, head.locations, head.capacity, cum)


@dataclass(frozen=True)
class Context:
    """Everything cross-shipment a feature may read, as of `as_of` (None: whole history).

    Attributes:
        as_of: When it was built (None: over the whole history, read point-in-time).
        hub_load: Hourly flows per location.
        series: The daily series the registered families declared, by name.
        weather_daily, weather_forecast, network: The tables of those names.
        locale: The data's locale (local days, holidays, peak seasons, far regions).
    """

    as_of: pd.Timestamp | None
    hub_load: HubLoad
    series: dict[str, DailySeries]
    weather_daily: pd.DataFrame
    weather_forecast: pd.DataFrame
    network: pd.DataFrame
    locale: Locale = NEUTRAL
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """Derived lookup tables, computed once per context (serving reuses one context)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def write(self, path: str | Path) -> Path:
        """Persist as an .npz of arrays plus Parquet tables, for serving."""
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, object] = {
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "locale": self.locale.to_dict(),
        }
        meta["series"] = sorted(self.series)
        for name, series in self.series.items():
            meta[f"{name}.first_day"] = series.first_day
            meta[f"{name}.keys"] = series.keys.astype("str").tolist()
            for k, v in series.sums.items():
                arrays[f"{name}.{k}"] = v
        hub = self.hub_load
        meta["hub.first_hour"] = hub.first_hour
        meta["hub.locations"] = hub.locations.astype("str").tolist()
        arrays["hub.capacity"] = hub.capacity
        for k, v in hub.cum.items():
            arrays[f"hub.{k}"] = v
        np.savez_compressed(root / "context.npz", **arrays)  # type: ignore[arg-type]
        (root / "context.json").write_text(json.dumps(meta))
        self.weather_daily.to_parquet(root / "weather_daily.parquet", index=False)
        self.weather_forecast.to_parquet(root / "weather_forecast.parquet", index=False)
        self.network.to_parquet(root / "network.parquet", index=False)
        return root

    @classmethod
    def read(cls, path: str | Path) -> Context:
        """Read a context written by `write`."""
        root = Path(path)
        if not (root / "context.json").exists():
            raise FileNotFoundError(f"no context at {root} (build one: stallguard context)")
        meta = json.loads((root / "context.json").read_text())
        arrays = dict(np.load(root / "context.npz"))

        def series(name: str) -> DailySeries:
            # "hub." arrays are the hourly flows, not a daily series of that name.
            prefix = f"{name}."
            sums = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            return DailySeries(meta[f"{name}.first_day"], pd.Index(meta[f"{name}.keys"]), sums)

        hub_cum = {
            k[4:]: v for k, v in arrays.items() if k.startswith("hub.") and k != "hub.capacity"
        }
        return cls(
            as_of=None if meta["as_of"] is None else pd.Timestamp(meta["as_of"]),
            hub_load=HubLoad(
                meta["hub.first_hour"],
                pd.Index(meta["hub.locations"]),
                arrays["hub.capacity"],
                hub_cum,
            ),
            series={name: series(name) for name in meta["series"]},
            weather_daily=pd.read_parquet(root / "weather_daily.parquet"),
            weather_forecast=pd.read_parquet(root / "weather_forecast.parquet"),
            network=pd.read_parquet(root / "network.parquet"),
            locale=Locale.from_dict(meta["locale"]) if "locale" in meta else NEUTRAL,
        )


def windowed(
    day: np.ndarray,
    key: np.ndarray,
    n_keys: int,
    days: tuple[int, int],
    window: int,
    values: dict[str, np.ndarray],
    bins: tuple[np.ndarray, int] | None = None,
) -> dict[str, np.ndarray]:
    """Trailing-window sums at each day boundary b: the sum over days in [b - window, b).

    With `bins` (bin of each row, number of bins) the sums are histograms per key.
    """
    first, last = days
    n_rows = last - first + 1
    keep = (day >= first) & (day < last) & (key >= 0)
    # Row d + 1 - first holds day d, so the cumulative sum at row r covers days before r.
    index: tuple[np.ndarray, ...] = (day[keep] - first + 1, key[keep])
    shape: tuple[int, ...] = (n_rows, n_keys)
    if bins is not None:
        index = (*index, bins[0][keep])
        shape = (*shape, bins[1])
    out = {}
    for name, v in values.items():
        acc = np.zeros(shape)
        np.add.at(acc, index, v[keep])
        cum = np.cumsum(acc, axis=0)
        lagged = np.concatenate([np.zeros((window, *shape[1:])), cum])[:n_rows]
        out[name] = (cum - lagged).astype(np.float32)
    return out


def lookup(
    context: Context, name: str, key: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column or -1, column of '*') of each snapshot in the context's series `name`."""
    series = context.series[name]
    positions = context.memo(f"{name}.keys", lambda: {k: i for i, k in enumerate(series.keys)})
    col = np.asarray(map_values(key, positions, -1), dtype=np.int64)
    return series.rows(day), col, np.full(len(day), positions["*"])


def value(series: DailySeries, name: str, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """The sums `name` at (row, col); 0 where the key is unknown (col -1)."""
    return np.where(col >= 0, series.sums[name][row, np.maximum(col, 0)], 0.0).astype(float)
