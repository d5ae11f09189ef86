"""The tutorial notebook: committed without outputs, and it runs top to bottom headless
(nbclient, small step counts), its results drawing themselves as pictures and tables."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from .conftest import find_weights_dir

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "notebooks" / "tutorial.ipynb"


def test_the_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None] == []


def test_the_notebook_covers_what_it_promises():
    text = NOTEBOOK.read_text(encoding="utf-8")
    for name in (
        "Open in Colab", "pip", "load_model", "classify", "grad_cam", "smoothgrad",
        "integrated_gradients", "trust_report", "wrap_model", "ExplainCallback",
        "read_parquet", '\\"explain\\"',
    ):
        assert name in text, name


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    """Run in a fresh kernel, with the shared MobileNetV2 weights where present (random
    weights otherwise, which the notebook says and carries on with)."""
    from nbclient import NotebookClient

    monkeypatch.setenv("CNNVIS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    weights = find_weights_dir()
    if weights is not None:
        monkeypatch.setenv("CNNVIS_WEIGHTS_DIR", str(weights))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o for o in outputs if o.output_type in ("execute_result", "display_data")]
    pictures = [o for o in shown if "image/png" in o.data]
    tables = [o for o in shown if "<table" in o.data.get("text/html", "")]
    # grad_cam, the three CAMs, smoothgrad, IG, guided backprop, the bar chart, the last epoch's map
    assert len(pictures) >= 9
    # the predictions twice, the trust report (verdicts) and the Parquet rows
    assert len(tables) >= 4
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "before training" in text and "Explained 3 images" in text
    if weights is not None:
        assert "Using random weights" not in text
        assert "military uniform" in "".join(o.data.get("text/html", "") for o in shown)
