"""What a source is: something that turns data of its own shape into the canonical tables.

A source returns the tables (carrying its locale), what the import dropped, and, for a
simulated world, what no feature may see; and it declares how training should treat its data.
Adding a source is one module with a class of this shape and one line in `sources/__init__.py`
(docs/architecture.md has a worked example).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # only for annotations: naming a source must not load pandas
    import pandas as pd

    from contract.tables import Tables

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingDefaults:
    """How training should treat a source's data, declared by the source itself.

    Attributes:
        booster: LightGBM settings (`training.models.BoosterParams` fields) for the risk and
            ETA models, over the defaults.
        snapshot_every_hours: Regular in-flight snapshots this many hours apart (0: only at
            creation and after scans); None: the default plan.
        cross_fit_blocks: Cross-fit the backtest's calibration over this many time blocks;
            None: training's rule by the calibration fold's length.
        stage_metrics: (snapshot stage, name) pairs whose metrics are also logged on their own.
        folds: Fixed fold starts (calibrate_from, evaluate_from) as UTC dates; None: the last
            shares of the period.
    """

    booster: dict[str, Any] = field(default_factory=dict)
    snapshot_every_hours: float | None = None
    cross_fit_blocks: int | None = None
    stage_metrics: tuple[tuple[str, str], ...] = ()
    folds: tuple[str, str] | None = None


@dataclass(frozen=True)
class SourceData:
    """What a source read.

    Attributes:
        tables: The canonical tables, with the source's locale.
        location: Where they were read from.
        fingerprint: Short content hash of the files read (same data, same fingerprint).
        import_report: What the import dropped or could not join (stage, reason, orders).
        rejections: Rows the data contract rejected (table, row_key, column, rule, value;
            PII never shown); the tables hold the rest.
        hidden_causes: A simulated world's hidden causes (evaluation only).
        hidden_states: A simulated world's hidden states (the foresight oracle only).
    """

    tables: Tables
    location: Path
    fingerprint: str
    import_report: pd.DataFrame | None = None
    rejections: pd.DataFrame | None = None
    hidden_causes: pd.DataFrame | None = None
    hidden_states: Any = None


class Source(Protocol):
    """A data source `stallguard train --source NAME` can read."""

    name: str
    description: str
    defaults: TrainingDefaults

    def load(
        self,
        location: Path | None,
        weather_csv: Path | None = None,
        progress: Progress | None = None,
    ) -> SourceData:
        """Read the source at `location` into canonical tables.

        Raises:
            FileNotFoundError: `location` is not data of this source (the message says why).
            ValueError: An option this source does not take.
        """
        ...
