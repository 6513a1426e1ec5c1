"""Tables in partitions by shipment: each part holds some shipments and all their rows.

A parcel's features read only its own rows and the cross-shipment context, so a partition
scores and builds features alone once the context is known. Parts are contiguous blocks of
the shipments table (its order kept), so concatenating the parts' results in part order
gives the rows in the order one process would.

On disk (any fsspec URL: a local folder, `s3://...`, `memory://...`):
`ROOT/partitions.json`, `ROOT/locale.json`, `ROOT/<table>/part-00000.parquet` for the tables
keyed by shipment, and `ROOT/<table>.parquet` for the small shared ones (network, weather).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import fsspec
import numpy as np
import pandas as pd

from contract.locale import Locale
from contract.tables import Tables

# Tables whose rows belong to one shipment: split with their shipment.
BY_SHIPMENT = ("shipments", "scan_events", "address_quality")
MANIFEST = "partitions.json"


def split(tables: Tables, parts: int) -> list[Tables]:
    """`tables` cut into `parts` blocks of shipments (fewer when there are fewer shipments)."""
    ships = tables.shipments
    parts = max(1, min(parts, len(ships)))
    block = np.minimum(np.arange(len(ships)) * parts // max(len(ships), 1), parts - 1)
    ids = pd.Index(ships["shipment_id"].astype("str"))
    out = []
    for part in range(parts):
        frames = {}
        for name in BY_SHIPMENT:
            frame = getattr(tables, name)
            if name == "shipments":
                frames[name] = frame[block == part].reset_index(drop=True)
                continue
            position = ids.get_indexer(frame["shipment_id"].astype("str"))
            mine = (position >= 0) & (block[np.maximum(position, 0)] == part)
            frames[name] = frame[mine].reset_index(drop=True)
        out.append(tables.replace(**frames))
    return out


@dataclass(frozen=True)
class PartitionedTables:
    """A partitioned Tables directory at `url` (see the module docstring)."""

    url: str
    parts: int

    @classmethod
    def open(cls, url: str) -> PartitionedTables:
        """Open a directory written by `write`."""
        fs, path = fsspec.core.url_to_fs(url)
        manifest = f"{path.rstrip('/')}/{MANIFEST}"
        if not fs.exists(manifest):
            raise FileNotFoundError(f"{url} is not a partitioned Tables directory (no {MANIFEST})")
        with fs.open(manifest) as f:
            return cls(url.rstrip("/"), int(json.load(f)["parts"]))

    @staticmethod
    def is_partitioned(url: str) -> bool:
        """Whether `url` holds partitioned tables (else, perhaps a plain Tables directory)."""
        fs, path = fsspec.core.url_to_fs(url)
        return bool(fs.exists(f"{path.rstrip('/')}/{MANIFEST}"))

    @classmethod
    def write(cls, tables: Tables, url: str, parts: int) -> PartitionedTables:
        """Write `tables` in `parts` partitions by shipment under `url`."""
        fs, path = fsspec.core.url_to_fs(url)
        root = path.rstrip("/")
        pieces = split(tables, parts)
        for name in BY_SHIPMENT:
            fs.makedirs(f"{root}/{name}", exist_ok=True)
            for k, piece in enumerate(pieces):
                with fs.open(f"{root}/{name}/part-{k:05d}.parquet", "wb") as f:
                    getattr(piece, name).to_parquet(f, index=False)
        for name, frame in tables.items():
            if name not in BY_SHIPMENT:
                with fs.open(f"{root}/{name}.parquet", "wb") as f:
                    frame.to_parquet(f, index=False)
        with fs.open(f"{root}/locale.json", "w") as f:
            json.dump(tables.locale.to_dict(), f)
        with fs.open(f"{root}/{MANIFEST}", "w") as f:
            json.dump({"parts": len(pieces), "by_shipment": list(BY_SHIPMENT)}, f)
        return cls(url.rstrip("/"), len(pieces))

    def read(self, part: int) -> Tables:
        """One partition, with the shared tables (what a worker loads)."""
        fs, path = fsspec.core.url_to_fs(self.url)
        root = path.rstrip("/")
        frames: dict[str, pd.DataFrame] = {}
        for name in BY_SHIPMENT:
            file = f"{root}/{name}/part-{part:05d}.parquet"
            if fs.exists(file):
                with fs.open(file) as f:
                    frames[name] = pd.read_parquet(f)
        for name in ("weather_daily", "weather_forecast", "network"):
            file = f"{root}/{name}.parquet"
            if fs.exists(file):
                with fs.open(file) as f:
                    frames[name] = pd.read_parquet(f)
        with fs.open(f"{root}/locale.json") as f:
            locale = Locale.from_dict(json.load(f))
        return Tables.from_frames(locale, **frames)
