"""The quickstart notebook and the example scripts must keep running."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"
# tiny_scalerl trains a model; make_example_data rewrites the bundled data (tested below with
# an output folder of its own).
# Tested elsewhere: tiny_scalerl (trainer tests, --quick), make_example_data (below),
# bundle_calibration_runs (tests/trainer/test_trainer_sweep.py, on a finished sweep).
SKIP = {"tiny_scalerl.py", "make_example_data.py", "bundle_calibration_runs.py"}
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name not in SKIP)


def test_quickstart_notebook_runs():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs (python notebooks/build_quickstart.py)"
    )
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    shown = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in shown), "figures should display"


def test_notebook_matches_its_builder():
    nbformat = pytest.importorskip("nbformat")
    builder = runpy.run_path(str(ROOT / "notebooks" / "build_quickstart.py"))
    built = [c.source for c in builder["build"]().cells]
    committed = [c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells]
    assert built == committed, "regenerate: python notebooks/build_quickstart.py"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_script_runs(script, tmp_path):
    res = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert any((tmp_path / "out").iterdir()), "the example should write its outputs"


def test_make_example_data_writes_to_a_given_folder(tmp_path):
    module = runpy.run_path(str(ROOT / "examples" / "make_example_data.py"))
    module["main"](tmp_path)
    doc = json.loads((tmp_path / "example_params.json").read_text())
    bundled = json.loads((ROOT / "src" / "rlscaling" / "data" / "example_params.json").read_text())
    assert doc["curves"] == bundled["curves"]
    written = (tmp_path / "example_curves.csv").read_text().splitlines()
    shipped = (ROOT / "src" / "rlscaling" / "data" / "example_curves.csv").read_text().splitlines()
    assert len(written) == len(shipped)
