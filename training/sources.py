"""The data training reads, from any registered source (sources/), and what it knows of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from contract.tables import Tables
from sources import TrainingDefaults, get_source
from sources.synthetic.source import DEFAULT_DATA
from sources.synthetic.world import HiddenStates

__all__ = ["DEFAULT_DATA", "TrainingData", "load_data"]


@dataclass(frozen=True)
class TrainingData:
    """Canonical tables plus what training needs to know about them.

    Attributes:
        source: Data source name (names the MLflow experiment).
        tables: Canonical tables (with their locale).
        location: Directory the tables were read from.
        fingerprint: Short hash of the table files (two runs on the same data share it).
        now: The data's "now": its latest scan.
        hidden_causes: The simulator's hidden causes when present (the hindsight oracle and
            reason agreement only; features never see them).
        import_report: What an import dropped or could not join (stage, reason, orders).
        rejections: Rows the data contract rejected (the tables hold the rest).
        hidden_states: The simulator's hidden states when present (true defects, seller
            reliability, stoppage calendar): the foresight oracle only.
        defaults: How the source wants its data trained on (sources/base.py).
    """

    source: str
    tables: Tables
    location: Path
    fingerprint: str
    now: pd.Timestamp
    hidden_causes: pd.DataFrame | None = None
    import_report: pd.DataFrame | None = None
    rejections: pd.DataFrame | None = None
    hidden_states: HiddenStates | None = None
    defaults: TrainingDefaults = field(default_factory=TrainingDefaults)


def load_data(
    source: str = "synthetic",
    data: Path | None = None,
    progress: Callable[[str], None] | None = None,
    weather_csv: Path | None = None,
) -> TrainingData:
    """Read the data of a registered source.

    Args:
        source: A name in `sources.SOURCES` ("synthetic", "olist").
        data: Where the source's data is (its default when None, if it has one).
        progress: Called with a line of status now and then.
        weather_csv: A weather file the source joins (Olist: INMET daily weather by state).

    Raises:
        ValueError: Unknown source, or an option the source does not take.
        FileNotFoundError: `data` is not data of the source's kind.
    """
    reader = get_source(source)
    read = reader.load(data, weather_csv=weather_csv, progress=progress)
    events = read.tables.scan_events["event_time"]
    now = events.max() if len(events) else read.tables.shipments["created_at"].max()
    return TrainingData(
        source=source,
        tables=read.tables,
        location=read.location,
        fingerprint=read.fingerprint,
        now=now,
        hidden_causes=read.hidden_causes,
        import_report=read.import_report,
        rejections=read.rejections,
        hidden_states=read.hidden_states,
        defaults=reader.defaults,
    )
