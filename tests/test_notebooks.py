"""The notebooks run top to bottom in a fresh kernel, and are stored without outputs.

Each notebook in notebooks/ is executed with nbclient (as ``pytest --nbmake
notebooks`` would); a failing cell fails the test with the cell's traceback.
Outputs are left out of the repository so that diffs show code, not pictures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebooks need nbformat (comes with nbmake, the 'test' extra)")
nbclient = pytest.importorskip("nbclient", reason="notebooks need nbclient (comes with nbmake, the 'test' extra)")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_notebooks_are_there():
    assert {path.name for path in PATHS} >= {"walkthrough.ipynb", "explore.ipynb"}


@pytest.mark.parametrize("path", PATHS, ids=[path.name for path in PATHS])
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {number} has outputs"
            assert cell.execution_count is None, f"cell {number} has an execution count"


@pytest.mark.parametrize("path", PATHS, ids=[path.name for path in PATHS])
def test_notebook_runs_top_to_bottom(path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # run where the notebook lives
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    errors = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert errors == []
