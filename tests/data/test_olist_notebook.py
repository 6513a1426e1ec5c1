"""notebooks/02-olist-eda.ipynb runs top to bottom on the shared Olist files."""

from pathlib import Path

import nbclient
import nbformat
import pytest

pytestmark = [pytest.mark.data, pytest.mark.slow]

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02-olist-eda.ipynb"


def test_olist_eda_notebook_executes(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("OLIST_DIR", str(shared_data / "olist"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "orders imported" in text and "Olist estimate: mean absolute error" in text
    assert "late_rate" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 3
