"""`--engine dask` on the commands, as a user runs them: partition, context, train, score."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.context import Context

pytestmark = [pytest.mark.cli, pytest.mark.dask, pytest.mark.slow]

STALLGUARD = Path(sys.executable).with_name("stallguard")
WHEN = "2025-08-25T06:00:00+00:00"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask_cli")
    return {
        **os.environ,
        "COLUMNS": "250",
        "OMP_NUM_THREADS": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "STALLGUARD_ARTIFACTS": str(root / "art"),
    }


def _run(env, *args):
    return subprocess.run(
        [str(STALLGUARD), *args], capture_output=True, text=True, timeout=900, env=env, check=False
    )


def test_context_from_partitions_on_dask_equals_the_local_command(env, small_world_dir, tmp_path):
    parts = tmp_path / "parts"
    done = _run(
        env, "partition", "--data", str(small_world_dir), "--out", str(parts), "--parts", "3"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "in 3 partitions" in done.stdout
    local = _run(env, "context", "--data", str(small_world_dir), "--out", str(tmp_path / "l"),
                 "--as-of", WHEN)  # fmt: skip
    assert local.returncode == 0, local.stdout + local.stderr
    on_dask = _run(env, "context", "--engine", "dask", "--workers", "2", "--partitions", str(parts),
                   "--out", str(tmp_path / "d"), "--as-of", WHEN)  # fmt: skip
    assert on_dask.returncode == 0, on_dask.stdout + on_dask.stderr
    assert "dask: 2 workers" in on_dask.stdout
    want, got = Context.read(tmp_path / "l"), Context.read(tmp_path / "d")
    assert got.as_of == want.as_of == pd.Timestamp(WHEN)
    for name, values in want.hub_load.cum.items():
        np.testing.assert_allclose(got.hub_load.cum[name], values, atol=1e-6)
    for name, series in want.series.items():
        assert list(got.series[name].keys) == list(series.keys)
        for k, values in series.sums.items():
            np.testing.assert_allclose(got.series[name].sums[k], values, rtol=1e-6, atol=1e-2)


def test_train_and_score_on_dask(env, small_world_dir, tmp_path):
    params = tmp_path / "fast.json"
    params.write_text('{"n_rounds": 60, "num_leaves": 31}')
    trained = _run(env, "train", "--engine", "dask", "--workers", "2", "--data",
                   str(small_world_dir), "--params", str(params),
                   "--cross-fit-blocks", "0")  # fmt: skip
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "registered stallguard v1" in trained.stdout
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    try:
        runs = mlflow.search_runs(search_all_experiments=True)
    finally:
        mlflow.set_tracking_uri(None)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    assert runs["params.engine"].tolist() == ["dask"]

    model = ("--model", "models:/stallguard/1", "--data", str(small_world_dir), "--as-of", WHEN)
    local = _run(env, "score", *model, "--out", str(tmp_path / "l.csv"))
    assert local.returncode == 0, local.stdout + local.stderr
    on_dask = _run(env, "score", *model, "--engine", "dask", "--workers", "2",
                   "--out", str(tmp_path / "d.csv"))  # fmt: skip
    assert on_dask.returncode == 0, on_dask.stdout + on_dask.stderr
    want, got = pd.read_csv(tmp_path / "l.csv"), pd.read_csv(tmp_path / "d.csv")
    assert len(want) > 100
    pd.testing.assert_frame_equal(got, want)


def test_engine_options_are_checked(env, small_world_dir, tmp_path):
    out = str(tmp_path / "s.csv")
    staged = _run(env, "score", "--engine", "dask", "--stage", "purchase", "--out", out)
    assert staged.returncode == 2 and "without --stage" in staged.stdout
    local = _run(env, "context", "--data", str(small_world_dir), "--scheduler", "tcp://x:1")
    assert local.returncode == 2 and "need --engine dask" in local.stdout
    bad = _run(env, "train", "--engine", "spark")
    assert bad.returncode == 2 and "must be local or dask" in bad.stdout + bad.stderr
    nowhere = _run(env, "context", "--engine", "dask", "--partitions", str(tmp_path / "none"),
                   "--workers", "1")  # fmt: skip
    assert nowhere.returncode == 2 and "not a partitioned Tables directory" in nowhere.stdout
