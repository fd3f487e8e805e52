"""Every notebook in notebooks/ runs top to bottom on a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # A cell that draws must show a picture, not "<Figure size 926x550 with 1 Axes>".
    plotting = [c for c in nb.cells if c.cell_type == "code" and ("heatmap(" in c.source or "latency_cdf(" in c.source)]
    assert plotting, "the notebook draws nothing"
    for cell in plotting:
        kinds = {kind for o in cell.get("outputs", []) for kind in o.get("data", {})}
        assert "image/png" in kinds, f"no picture from the cell:\n{cell.source}"
