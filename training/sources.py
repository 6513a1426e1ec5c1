"""Where training data comes from: a Tables directory, the simulated world, or Olist CSVs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.sources.synthetic import SimulationConfig, simulate
from features.sources.synthetic.world import (
    HIDDEN_DIR,
    HiddenStates,
    read_hidden_causes,
    read_hidden_states,
)
from features.tables import Tables

SOURCES = ("synthetic", "olist")
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
        import_report: What an import dropped or could not join (stage, reason, orders).
        hidden_states: The simulator's hidden states when present (true defects, seller
            reliability, stoppage calendar): the foresight oracle only.
    """

    source: str
    tables: Tables
    location: Path
    fingerprint: str
    now: pd.Timestamp
    hidden_causes: pd.DataFrame | None = None
    import_report: pd.DataFrame | None = None
    hidden_states: HiddenStates | None = None


def load_data(
    source: str = "synthetic",
    data: Path | None = None,
    progress: Callable[[str], None] | None = None,
    weather_csv: Path | None = None,
) -> TrainingData:
    """Read the data of a source.

    synthetic: a Tables directory (default: the default world, simulated if missing).
    olist: a directory with the public Olist CSV names, imported by
    `features.sources.olist.read_olist` (its report is kept on the result).

    Args:
        source: "synthetic" or "olist".
        data: The directory.
        progress: Called with a line of status now and then.
        weather_csv: Olist only: INMET daily weather to join by state.

    Raises:
        ValueError: Unknown source, or olist without a directory.
        FileNotFoundError: `data` is not a directory of the source's kind.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if source == "olist":
        return _load_olist(data, weather_csv, progress)
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
    states = read_hidden_states(data)
    return TrainingData(source, tables, data, fingerprint(data), now, hidden, hidden_states=states)


def _load_olist(
    data: Path | None, weather_csv: Path | None, progress: Callable[[str], None] | None
) -> TrainingData:
    from features.sources.olist import read_olist

    if data is None:
        raise ValueError("--source olist needs --data DIR (a folder of Olist CSV files)")
    if progress:
        progress(f"importing Olist orders from {data}")
    tables, report = read_olist(data, weather_csv)
    events = tables.scan_events["event_time"]
    now = events.max() if len(events) else tables.shipments["created_at"].max()
    extra = [weather_csv] if weather_csv else []
    return TrainingData(
        "olist", tables, data, fingerprint(data, "*.csv", extra), now, None, report.table()
    )


def fingerprint(data: Path, pattern: str = "*.parquet", extra: list[Path] | None = None) -> str:
    """Short content hash of the data files in `data` (hidden files excluded)."""
    digest = hashlib.sha256()
    for path in [*sorted(data.glob(pattern)), *(extra or [])]:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
