"""The embedded default data source: a seeded simulator of a Korean parcel network.

`simulate(SimulationConfig(...))` returns a `SimulatedWorld`: the canonical `Tables` that
features may read, and the hidden causes and states that no feature may read (evaluation
only). The simulator loads on first use, so reading `SimulationConfig`'s defaults (the CLI
does, for its help) costs no numerical imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sources.synthetic.config import HubOutage, SimulationConfig

if TYPE_CHECKING:
    from sources.synthetic.world import (
        SimulatedWorld,
        read_hidden_causes,
        read_hub_outages,
        simulate,
    )

__all__ = [
    "HubOutage",
    "SimulatedWorld",
    "SimulationConfig",
    "read_hidden_causes",
    "read_hub_outages",
    "simulate",
]


def __getattr__(name: str) -> Any:
    if name in ("SimulatedWorld", "read_hidden_causes", "read_hub_outages", "simulate"):
        from sources.synthetic import world

        return getattr(world, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
