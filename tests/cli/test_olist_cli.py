"""`stallguard train --source olist` and `score --stage` on the shared Olist files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

pytestmark = [pytest.mark.cli, pytest.mark.slow]

STALLGUARD = Path(sys.executable).with_name("stallguard")


def test_train_then_score_olist_orders_by_stage(shared_data, tmp_path):
    env = {
        **os.environ,
        "COLUMNS": "200",
        "OMP_NUM_THREADS": "1",  # two pytest workers share two cores
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "STALLGUARD_ARTIFACTS": str(tmp_path / "art"),
    }
    orders = shared_data / "olist"
    weather = shared_data / "weather_br" / "inmet_daily_sp_rs_2016_2018.csv"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(STALLGUARD), *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            check=False,
        )

    trained = run(
        "train", "--source", "olist", "--data", str(orders), "--weather-csv", str(weather)
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert (
        "Import report (olist)" in trained.stdout and "registered stallguard v1" in trained.stdout
    )
    # Both URIs: another test's fixture may have set this process's registry URI.
    uri = env["MLFLOW_TRACKING_URI"]
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_id = client.get_model_version("stallguard", "1").run_id
    logged = client.get_run(run_id).data
    # Small trees, calibration cross-fitted over time blocks (docs/real-data.md).
    assert logged.params["cross_fit_blocks"] == "5" and logged.params["lgb_num_leaves"] == "7"
    assert 0.5 < logged.metrics["handoff_risk_roc_auc"] <= 1
    for stage in ("purchase", "handoff"):
        out = tmp_path / f"{stage}.parquet"
        scored = run(
            "score",
            "--source",
            "olist",
            "--data",
            str(orders),
            "--model",
            "models:/stallguard/1",
            "--stage",
            stage,
            "--out",
            str(out),
        )
        assert scored.returncode == 0, scored.stdout + scored.stderr
        frame = pd.read_parquet(out)
        assert frame["shipment_id"].is_unique and (frame["stage"] == stage).all()
        assert frame["risk"].between(0, 1).all()
        assert (frame["eta_p10"] <= frame["eta_p90"]).all()
    purchase = pd.read_parquet(tmp_path / "purchase.parquet")
    assert len(purchase) > 5_900  # every imported order, seen in training or not
    bad = run(
        "score",
        "--source",
        "olist",
        "--data",
        str(orders),
        "--stage",
        "pickup",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert bad.returncode == 2 and "purchase, handoff" in bad.stdout
