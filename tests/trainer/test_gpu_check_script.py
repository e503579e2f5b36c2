"""benchmarks/gpu_check.sh refuses clearly on a machine without a GPU (this CI's case)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(
    torch.cuda.is_available() or shutil.which("nvidia-smi") is not None,
    reason="a GPU machine runs the check itself",
)
def test_gpu_check_fails_with_a_clear_message_without_a_gpu():
    res = subprocess.run(
        ["bash", str(SCRIPT), "--steps", "1"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        timeout=120,
    )
    assert res.returncode == 2
    assert "no NVIDIA GPU on this machine" in res.stderr
    assert "run it on a GPU machine" in res.stderr
