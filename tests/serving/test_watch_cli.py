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


@pytest.mark.dask
@pytest.mark.slow
def test_watch_once_on_dask_scores_as_one_process(
    serving_env, small_world_dir, small_data, tmp_path
):
    import shutil
    import sqlite3

    local_env = {
        **serving_env,
        "STALLGUARD_STATE_URL": f"sqlite:///{tmp_path / 'local.db'}",
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{tmp_path / 'local_outbox.db'}",
        "STALLGUARD_PII_KEY": "cli-test-key",
    }
    ingested = _run(local_env, "ingest", str(small_world_dir))
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    shutil.copy(tmp_path / "local.db", tmp_path / "dask.db")
    dask_env = {
        **local_env,
        "STALLGUARD_STATE_URL": f"sqlite:///{tmp_path / 'dask.db'}",
        "STALLGUARD_OUTBOX_URL": f"sqlite:///{tmp_path / 'dask_outbox.db'}",
    }
    as_of = (small_data.now - pd.Timedelta(days=2)).isoformat()
    local = _run(local_env, "watch", "--once", "--as-of", as_of)
    on_dask = _run(dask_env, "watch", "--once", "--as-of", as_of, "--engine", "dask",
                   "--workers", "2")  # fmt: skip
    assert local.returncode == 0, local.stdout + local.stderr
    assert on_dask.returncode == 0, on_dask.stdout + on_dask.stderr
    assert "dask: 2 workers" in on_dask.stdout

    def table(db: str, query: str) -> list[tuple]:
        with sqlite3.connect(tmp_path / db) as conn:
            return conn.execute(query).fetchall()

    query = "SELECT shipment_id, risk, eta_p50, reasons FROM predictions ORDER BY shipment_id"
    want, got = table("local.db", query), table("dask.db", query)
    assert len(want) > 100 and [r[0] for r in got] == [r[0] for r in want]
    assert all(abs(a[1] - b[1]) < 1e-9 and a[2:] == b[2:] for a, b in zip(got, want, strict=True))
    alerts = "SELECT key, kind, shipment_id FROM outbox ORDER BY key"
    assert table("dask_outbox.db", alerts) == table("local_outbox.db", alerts)
