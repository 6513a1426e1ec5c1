"""Shared fixtures: small simulated worlds, made once per test session (per xdist worker)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from features.sources.synthetic import SimulatedWorld, SimulationConfig, simulate

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Large enough for stable calibration rates, small enough to build in a few seconds.
CALIBRATION_CONFIG = SimulationConfig(
    shipments=60_000, start=dt.date(2025, 7, 1), days=180, seed=11
)


@pytest.fixture(scope="session")
def world_config() -> SimulationConfig:
    """The configuration of the `world` fixture."""
    return CALIBRATION_CONFIG


@pytest.fixture(scope="session")
def world(world_config: SimulationConfig) -> SimulatedWorld:
    """The calibration world (the default world's shape at a smaller volume)."""
    return simulate(world_config)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real data folder; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA
