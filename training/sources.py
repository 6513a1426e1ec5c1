"""Where training data comes from: a Tables directory, or the default simulated world."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.sources.synthetic import SimulationConfig, simulate
from features.sources.synthetic.world import HIDDEN_DIR, read_hidden_causes
from features.tables import Tables

SOURCES = ("synthetic",)
DEFAULT_DATA = Path("data/simulated")


@dataclass(frozen=True)
class TrainingData:
    """Canonical tables plus what training needs to know about them.

    Attributes:
        source: Data source name (names the MLflow experiment).
        tables: Canonical tables.
        location: Directory the tables were read from.
        fingerprint: Short hash of the table files (two runs on the same data share it).
        now: The data's "now": its latest scan.
        hidden_causes: The simulator's hidden causes when present (oracle and reason
            agreement only; features never see them).
    """

    source: str
    tables: Tables
    location: Path
    fingerprint: str
    now: pd.Timestamp
    hidden_causes: pd.DataFrame | None = None


def load_data(
    source: str = "synthetic",
    data: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainingData:
    """Read a Tables directory; for the synthetic source without one, simulate the default world.

    Raises:
        ValueError: Unknown source.
        FileNotFoundError: `data` is not a Tables directory.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if data is None:
        data = DEFAULT_DATA
        if not (data / "shipments.parquet").exists():
            if progress:
                progress(f"simulating the default world into {data}")
            simulate(SimulationConfig()).write(data)
    if not (data / "shipments.parquet").exists():
        raise FileNotFoundError(f"{data} is not a Tables directory (no shipments.parquet)")
    tables = Tables.read(data)
    events = tables.scan_events["event_time"]
    now = events.max() if len(events) else tables.shipments["created_at"].max()
    hidden = read_hidden_causes(data) if (data / HIDDEN_DIR).exists() else None
    return TrainingData(source, tables, data, fingerprint(data), now, hidden)


def fingerprint(data: Path) -> str:
    """Short content hash of the Parquet tables in `data` (hidden files excluded)."""
    digest = hashlib.sha256()
    for path in sorted(data.glob("*.parquet")):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
