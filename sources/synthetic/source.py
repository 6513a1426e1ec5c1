"""The default source: a Tables directory, simulated first when it is the default world's."""

from __future__ import annotations

from pathlib import Path

from contract.tables import Tables
from contract.validation import validate
from sources.base import Progress, SourceData, TrainingDefaults
from sources.fingerprint import fingerprint
from sources.synthetic.config import SimulationConfig
from sources.synthetic.world import HIDDEN_DIR, read_hidden_causes, read_hidden_states, simulate

DEFAULT_DATA = Path("data/simulated")


class SyntheticSource:
    """A Tables directory: the simulator's, or any source's written output.

    The default world is simulated into `data/simulated` when that folder is empty. A
    simulated world's `hidden/` folder (its causes and states) is read for evaluation only.
    """

    name = "synthetic"
    description = "a Tables directory (default: the simulated Korean network, made if missing)"
    defaults = TrainingDefaults()

    def load(
        self,
        location: Path | None,
        weather_csv: Path | None = None,
        progress: Progress | None = None,
    ) -> SourceData:
        """Read and validate the Tables directory `location` (default: the default world)."""
        if weather_csv is not None:
            raise ValueError(
                "--weather-csv joins weather to Olist orders; a Tables directory has its own "
                "(simulate with --weather-csv to use real weather)"
            )
        if location is None:
            location = DEFAULT_DATA
            if not (location / "shipments.parquet").exists():
                if progress:
                    progress(f"simulating the default world into {location}")
                simulate(SimulationConfig()).write(location)
        if not (location / "shipments.parquet").exists():
            raise FileNotFoundError(f"{location} is not a Tables directory (no shipments.parquet)")
        hidden = (location / HIDDEN_DIR).exists()
        # Any program may have written the directory: every row is checked, the bad ones
        # reported and left out, the rest kept.
        checked = validate(Tables.read(location, conform_frames=False))
        return SourceData(
            tables=checked.tables,
            rejections=checked.rejections,
            location=location,
            fingerprint=fingerprint(location),
            hidden_causes=read_hidden_causes(location) if hidden else None,
            hidden_states=read_hidden_states(location),
        )
