"""notebooks/01-model-report.ipynb runs top to bottom against a champion in MLflow."""

from pathlib import Path

import nbclient
import nbformat
import pytest

from training.config import GateConfig, TrackingConfig
from training.promotion import promote
from training.tracking import log_training

pytestmark = [pytest.mark.model, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-model-report.ipynb"


def test_model_report_notebook_executes(trained, small_data, fast_config, tmp_path, monkeypatch):
    tracking = TrackingConfig(
        uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifacts=str(tmp_path / "art")
    )
    log_training(trained, small_data, fast_config, tracking)
    assert promote(tracking, GateConfig(max_ece=0.2, min_auc=0.6, max_coverage_gap=0.2)).promoted
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.uri)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    text = "\n".join(
        str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert "stallguard v1" in text
    assert "risk_roc_auc" in text and "region_group" in text
    images = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 6  # calibration, PR, ROC, confusion matrix, ETA error, importance
    assert not [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
