"""The embedded default data source: a seeded simulator of a Korean parcel network.

`simulate(SimulationConfig(...))` returns a `SimulatedWorld`: the canonical `Tables` that
features may read, and the `hidden_causes` that no feature may read (evaluation only).
"""

from sources.synthetic.config import SimulationConfig
from sources.synthetic.world import SimulatedWorld, read_hidden_causes, simulate

__all__ = ["SimulatedWorld", "SimulationConfig", "read_hidden_causes", "simulate"]
