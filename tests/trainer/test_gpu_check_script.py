"""benchmarks/gpu_check.sh and gpu_check.py, as far as a machine without a GPU can take them.

The shell script refuses clearly without a GPU (this CI's case) and asks for vLLM only when
its stage will run (``--engine torch`` does without); the Python stages take the device, so
the torch-engine mode runs end to end here on the CPU with a small Qwen2 checkpoint.
"""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from hf_checkpoint import save_qwen2_checkpoint  # noqa: E402

BENCH = Path(__file__).parents[2] / "benchmarks"
SCRIPT = BENCH / "gpu_check.sh"


@pytest.mark.skipif(
    torch.cuda.is_available() or shutil.which("nvidia-smi") is not None,
    reason="a GPU machine runs the check itself",
)
@pytest.mark.parametrize("engine", [[], ["--engine", "torch"]])
def test_gpu_check_fails_with_a_clear_message_without_a_gpu(engine):
    res = subprocess.run(
        ["bash", str(SCRIPT), "--steps", "1", *engine],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        timeout=120,
    )
    assert res.returncode == 2
    assert "no NVIDIA GPU on this machine" in res.stderr
    assert "run it on a GPU machine" in res.stderr


FAKE_PYTHON = """#!/bin/sh
# torch sees a GPU, vllm is missing; anything else is the check itself: echo its arguments
case "$*" in
  *"import vllm"*) exit 1 ;;
  -c*) exit 0 ;;
esac
echo "RAN $*"
"""


@pytest.fixture
def fake_gpu_machine(tmp_path):
    """PATH and PYTHON of a machine with a GPU, torch that sees it and no vllm."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text('#!/bin/sh\necho "GPU 0: NVIDIA H200 (UUID: GPU-0)"\n')
    (bin_dir / "python").write_text(FAKE_PYTHON)
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": str(bin_dir / "python")}


@pytest.mark.parametrize(
    "args, ran",
    [
        ([], False),
        (["--engine", "vllm"], False),
        (["--engine", "torch", "--steps", "2"], True),
        (["--steps", "2", "--engine=torch"], True),
    ],
)
def test_gpu_check_needs_vllm_only_for_the_vllm_engine(fake_gpu_machine, args, ran):
    res = subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=fake_gpu_machine,
        timeout=60,
    )
    if ran:
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == f"RAN {BENCH / 'gpu_check.py'} {' '.join(args)}"
    else:
        assert res.returncode == 2
        assert "vLLM is not installed" in res.stderr
        assert "--engine torch" in res.stderr


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", BENCH / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mode", ["pipeline_k", "inline"])
def test_torch_engine_check_runs_end_to_end_on_cpu(gpu_check, tmp_path, mode):
    """``--engine torch --device cpu``: the FP32-head check and a training run of the GPU
    config with the torch engine (in the recipe's generator process, or inline), every step
    trained, one strict-JSON result line."""
    model = save_qwen2_checkpoint(tmp_path / "model")
    out, result_file = tmp_path / "run", tmp_path / "result.json"
    result = gpu_check.main(
        [
            "--engine=torch",
            "--device=cpu",
            f"--model={model}",
            "--steps=2",
            f"--out={out}",
            f"--json={result_file}",
            f"--set=rollout.mode={mode}",
            "--set=rollout.think_budget=8",
            "--set=rollout.think_budget_jitter=2",
            "--set=rollout.answer_budget=4",
            # the small model scores 0: keep its groups so that the steps train
            "--set=advantage.zero_variance_filter=false",
            "--set=threads=1",
        ]
    )

    def no_nan(token):
        raise AssertionError(f"{token} in the JSON line")

    assert json.loads(result_file.read_text(), parse_constant=no_nan) == result
    assert result["engine"] == "torch" and result["mode"] == mode
    assert result["gpu"] is None and result["torch"] == torch.__version__
    assert result["fp32_head"]["ok"]
    assert result["fp32_head"]["logits_dtype"] == "torch.float32"
    assert result["fp32_head"]["model_head_logits_dtype"] == "torch.bfloat16"
    assert result["steps_logged"] == result["steps_trained"] == 2
    assert result["step_seconds"] > 0 and result["tokens_per_second"] > 0
    assert result["logprob_gap"] < 1e-2  # the sampler's and the trainer's FP32 heads agree
    # memory is measured on CUDA only
    assert result["learner_peak_allocated_gib"] is None
    computed = result["computed_learner_gib"]
    assert computed["static"] == pytest.approx(16 * result["model_params"] / 2**30)
    assert computed["fp32_head"] > 0 and computed["activations"] > 0

    run = json.loads((out / "run.json").read_text())["config"]
    assert run["rollout"]["engine"] == "torch" and run["rollout"]["mode"] == mode
    assert run["prompts_per_step"] == gpu_check.TORCH_ENGINE_RUN["prompts_per_step"]
    assert run["rollout"]["think_budget"] == 8  # --set wins over TORCH_ENGINE_RUN
    # the recipe's precision and loss stay as the GPU config has them
    assert run["loss"]["name"] == "cispo"
    assert run["model"]["dtype"] == "bfloat16" and run["model"]["fp32_lm_head"]
    assert run["optim"]["fp32_master_weights"]
    assert run["micro_batch_size"] == 4
