"""The notebooks are stored as code and prose only: no outputs in git (``make strip``
clears them), and every notebook the workbench documents is there."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = {
    "00_quickstart",
    "01_architecture",
    "02_local_pipeline",
    "03_saga_simulation",
    "03b_simulator_vs_local",
    "04_deploy",
    "05_audit_analytics",
    "06_capacity_planning",
}


def test_every_documented_notebook_exists():
    assert {path.stem for path in NOTEBOOKS.glob("*.ipynb")} >= EXPECTED


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} cell {index} has outputs: run 'make strip'"
            assert cell.execution_count is None, f"{path.name} cell {index}: run 'make strip'"
