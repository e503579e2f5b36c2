"""The seconds-long smoke version of examples/tiny_scalerl.py (same code path as the full run)."""

import json
import runpy
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny_scalerl.py"


def test_tiny_scalerl_quick(tmp_path, monkeypatch, capsys):
    out = tmp_path / "quick"
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--quick", "--out-dir", str(out)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    summary = json.loads((out / "fit.json").read_text())
    assert summary["steps"] == 6
    assert 0.0 <= summary["start_reward"] <= 1.0
    assert (out / "eval.jsonl").exists() and (out / "run.json").exists()
    assert '"total_flops"' in capsys.readouterr().out
