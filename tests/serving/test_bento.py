"""`stallguard bento` packs the champion into a Bento that serves without the registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.serving, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_bento_carries_the_model_and_builds_offline(serving_env, tmp_path, champion):
    env = {**os.environ, **serving_env, "BENTOML_HOME": str(tmp_path / "bentoml")}
    built = subprocess.run(
        [str(BIN / "stallguard"), "bento"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Built" in built.stdout and "stallguard:" in built.stdout

    bentos = list((tmp_path / "bentoml" / "bentos" / "stallguard").iterdir())
    assert bentos, "a Bento was written"
    bento = next(b for b in bentos if b.is_dir())
    assert (bento / "src" / "serving" / "service.py").exists()
    assert (bento / "src" / "contract" / "reference" / "kr_regions.csv").exists()
    assert not list((bento / "src").rglob("*.parquet")), "no data or stores in the Bento"
    manifest = yaml.safe_load((bento / "bento.yaml").read_text())
    (model,) = [m["tag"] for m in manifest["models"]]
    uri = next(e["value"] for e in manifest["envs"] if e["name"] == "STALLGUARD_MODEL_URI")
    assert uri == f"bentoml:{model}"  # pinned to the packed model, not "latest"
    name, version = model.split(":")
    assert (tmp_path / "bentoml" / "models" / name / version / "bundle" / "risk.txt").exists()

    # the packed model loads without MLflow: no tracking URI points anywhere
    no_registry = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    no_registry["MLFLOW_TRACKING_URI"] = "sqlite:///" + str(tmp_path / "empty.db")
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "from serving.model_source import load_served_model as l; "
            "from serving.settings import Settings; "
            f"m = l('bentoml:{model}', Settings.load().tracking()); "
            "print(m.label, m.run_id, len(m.metrics))",
        ],
        cwd=ROOT,
        env=no_registry,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[:2] == ["stallguard/1", champion.run_id]
