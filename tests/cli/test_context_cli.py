"""`stallguard context`: serving's context, built from a Tables directory as a user would."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.build import build_features
from features.context import Context
from sources.synthetic import SimulationConfig, simulate

pytestmark = pytest.mark.cli

STALLGUARD = Path(sys.executable).with_name("stallguard")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [str(STALLGUARD), *args], capture_output=True, text=True, timeout=300, check=False, env=env
    )


def test_context_as_of_a_time_is_written_and_serves_features(tmp_path):
    world = simulate(SimulationConfig(shipments=2_000, start=dt.date(2025, 8, 1), days=20, seed=2))
    world.write(tmp_path / "w")
    when = "2025-08-15T06:00:00+00:00"
    done = _run(
        "context", "--data", str(tmp_path / "w"), "--out", str(tmp_path / "ctx"), "--as-of", when
    )
    assert done.returncode == 0, done.stderr
    assert "2025-08-15T06:00:00+00:00" in done.stdout
    context = Context.read(tmp_path / "ctx")
    assert context.as_of == pd.Timestamp(when)
    ships = world.tables.shipments
    parcel = ships[ships["created_at"] < pd.Timestamp(when)].tail(1)
    snaps = pd.DataFrame({"shipment_id": parcel["shipment_id"], "as_of": pd.Timestamp(when)})
    assert len(build_features(world.tables, snaps, context=context)) == 1


def test_context_on_a_missing_directory_is_a_clear_error(tmp_path):
    done = _run("context", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "ctx"))
    assert done.returncode == 2
    assert "no Tables directory" in done.stdout + done.stderr
