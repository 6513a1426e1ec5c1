"""`stallguard ingest` and `stallguard watch --once` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.serving, pytest.mark.cli]

STALLGUARD = Path(sys.executable).with_name("stallguard")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STALLGUARD), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1", **env},
    )


def test_ingest_then_watch_once(serving_env, small_world_dir, small_data, tmp_path):
    env = {
        **serving_env,
        "STALLGUARD_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{tmp_path / 'outbox.db'}",
        "STALLGUARD_PII_KEY": "cli-test-key",
    }
    first = _run(env, "ingest", str(small_world_dir))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Ingested rows" in first.stdout and "accepted" in first.stdout
    again = _run(env, "ingest", str(small_world_dir))
    assert again.returncode == 0 and "duplicate" in again.stdout
    assert "Traceback" not in first.stdout + first.stderr + again.stdout + again.stderr

    as_of = (small_data.now - pd.Timedelta(days=2)).isoformat()
    watched = _run(env, "watch", "--once", "--as-of", as_of)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "parcels in flight" in watched.stdout and "alerts queued" in watched.stdout
    missing = _run(env, "ingest", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "Traceback" not in missing.stdout + missing.stderr
