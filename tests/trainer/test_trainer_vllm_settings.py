"""The vLLM engine's context length and KV cache, sized from the run (vLLM is not started).

The numbers are those of Qwen2.5-0.5B (24 layers, 2 KV heads of 64, 32,768 positions): sized
for ``max_position_embeddings`` at the ScaleRL preset's 1,152 sequences in flight, its KV
cache alone would take 464 GB in bfloat16.
"""

import pytest

torch = pytest.importorskip("torch")


from rlscaling.trainer.config import INTERRUPTION_TEXT, TrainConfig  # noqa: E402
from rlscaling.trainer.model import qwen25_05b_config  # noqa: E402
from rlscaling.trainer.rollout.vllm_engine import (  # noqa: E402
    GPU_HEADROOM,
    VLLMEngine,
    engine_settings,
    response_tokens,
)
from rlscaling.trainer.update import make_optimizer  # noqa: E402
from rlscaling.trainer.weights import read_weights, write_weights  # noqa: E402

# bytes of K and V per token: 2 (K, V) x 24 layers x 2 KV heads x 64 dims x 2 bytes (bf16)
PER_TOKEN = 2 * 24 * 2 * 64 * 2


def scalerl(**rollout):
    """The ScaleRL preset (pipeline_k, lag 8: 16 x 8 x 9 = 1,152 sequences) in bfloat16."""
    return TrainConfig(model={"dtype": "bfloat16"}, rollout={"engine": "vllm", **rollout})


def blocks_of(tokens):  # vLLM's CPU backend hands the cache out in blocks of 128 tokens
    return -(-tokens // 128)


def test_the_context_is_the_prompt_plus_the_response_budget():
    cfg = scalerl()
    # think 32 + answer 16 + the forced phrase (no more tokens than characters)
    assert response_tokens(cfg) == 32 + 16 + len(INTERRUPTION_TEXT)
    s = engine_settings(qwen25_05b_config(), cfg, max_prompt_tokens=100)
    max_len = 100 + 32 + 16 + len(INTERRUPTION_TEXT) + 1
    assert s["max_model_len"] == max_len
    assert s["max_num_seqs"] == 16 * 8 * 9
    assert s["dtype"] == "bfloat16" and s["fp32_lm_head"] is True
    assert "gpu_memory_utilization" not in s
    # exactly the sequences in flight, in whole blocks (+ vLLM's null block and one spare)
    expected = (1152 * blocks_of(max_len) + 2) * 128 * PER_TOKEN
    assert s["kv_cache_memory_bytes"] == expected  # 3.4 GiB: 2 blocks of 128 per sequence
    # against the model's 32,768 positions: 464 GB, the cache this default replaces
    legacy = engine_settings(qwen25_05b_config(), cfg)
    assert legacy["max_model_len"] == 32768
    assert legacy["kv_cache_memory_bytes"] == (1152 * 256 + 2) * 128 * PER_TOKEN
    assert legacy["kv_cache_memory_bytes"] > 460e9
    assert s["kv_cache_memory_bytes"] < legacy["kv_cache_memory_bytes"] / 100


def test_paper_scale_budgets_and_the_model_cap():
    cfg = scalerl(think_budget=10000, think_budget_jitter=2000, answer_budget=2000)
    s = engine_settings(qwen25_05b_config(), cfg, max_prompt_tokens=500)
    assert s["max_model_len"] == 500 + 14000 + len(INTERRUPTION_TEXT) + 1
    # a model with fewer positions than the run needs: its positions are the context
    short = engine_settings(qwen25_05b_config(max_positions=4096), cfg, max_prompt_tokens=500)
    assert short["max_model_len"] == 4096


def test_a_configured_context_and_memory_budget_win():
    s = engine_settings(qwen25_05b_config(), scalerl(max_model_len=2048), max_prompt_tokens=100)
    assert s["max_model_len"] == 2048
    assert s["kv_cache_memory_bytes"] == (1152 * 16 + 2) * 128 * PER_TOKEN
    with pytest.raises(ValueError, match=r"rollout.max_model_len=40000 exceeds .*=32768"):
        engine_settings(qwen25_05b_config(), scalerl(max_model_len=40000))
    # an explicit KV cache size (CPU or GPU), in GiB
    gib = engine_settings(qwen25_05b_config(), scalerl(kv_cache_gb=2.5), max_prompt_tokens=100)
    assert gib["kv_cache_memory_bytes"] == int(2.5 * 2**30)
    # a GPU fraction: vLLM sizes the cache itself, so no byte size is passed ...
    gpu = scalerl(gpu_memory_utilization=0.85)
    on_gpu = engine_settings(qwen25_05b_config(), gpu, max_prompt_tokens=100, on_gpu=True)
    assert on_gpu["gpu_memory_utilization"] == 0.85
    assert "kv_cache_memory_bytes" not in on_gpu
    # ... and on a CPU it means nothing (vLLM reads it as a share of the memory node)
    on_cpu = engine_settings(qwen25_05b_config(), gpu, max_prompt_tokens=100, on_gpu=False)
    assert "gpu_memory_utilization" not in on_cpu
    max_len = 100 + response_tokens(gpu) + 1
    assert on_cpu["kv_cache_memory_bytes"] == (1152 * blocks_of(max_len) + 2) * 128 * PER_TOKEN


def test_on_a_shared_gpu_vllm_asks_only_for_what_it_holds():
    """vLLM refuses to start unless ``gpu_memory_utilization`` x the GPU is free, whatever the
    KV cache size; beside the trainer its default 0.9 cannot be. With the cache sized in
    bytes, the fraction asked for covers the weights, the cache and the headroom only."""
    cfg = scalerl()
    gpu, weights = 141 * 10**9, 988 * 10**6  # an H200; Qwen2.5-0.5B in bf16
    s = engine_settings(
        qwen25_05b_config(),
        cfg,
        max_prompt_tokens=100,
        on_gpu=True,
        gpu_bytes=gpu,
        weight_bytes=weights,
    )
    need = weights + s["kv_cache_memory_bytes"] + GPU_HEADROOM
    assert s["gpu_memory_utilization"] == round(need / gpu, 4)
    assert 0.05 < s["gpu_memory_utilization"] < 0.1
    # a cache larger than the GPU: capped at 0.95 (vLLM then says what fits)
    huge = engine_settings(
        qwen25_05b_config(), cfg, on_gpu=True, gpu_bytes=gpu, weight_bytes=weights
    )
    assert huge["gpu_memory_utilization"] == 0.95
    # on a CPU vLLM never reads it
    assert "gpu_memory_utilization" not in engine_settings(
        qwen25_05b_config(), cfg, max_prompt_tokens=100, gpu_bytes=gpu, weight_bytes=weights
    )


def test_inline_generation_holds_one_batch():
    cfg = TrainConfig(recipe="grpo", prompts_per_step=4, rollout={"engine": "vllm", "n_samples": 8})
    s = engine_settings(qwen25_05b_config(), cfg, max_prompt_tokens=20)
    assert s["max_num_seqs"] == 32
    assert s["hold_snapshot"] is False  # on-policy: no lagging copy to keep
    assert s["max_model_len"] == 20 + 32 + 16 + 1  # truncation: no forced phrase
    assert s["dtype"] == "float32" and s["fp32_lm_head"] is False


def test_from_config_passes_the_settings_to_the_engine():
    """``from_config`` hands :func:`engine_settings`' arguments to the constructor."""

    class Capture(VLLMEngine):
        def __init__(self, model, **kwargs):  # no vLLM start
            self.kwargs = kwargs

    class Model:
        config = qwen25_05b_config()

    cfg = TrainConfig(device="cpu", model={"dtype": "bfloat16"}, rollout={"engine": "vllm"})
    got = Capture.from_config(Model(), cfg, max_prompt_tokens=100)
    assert got.kwargs == engine_settings(qwen25_05b_config(), cfg, max_prompt_tokens=100)
    assert got.kwargs["max_model_len"] == 100 + response_tokens(cfg) + 1


def test_the_weights_file_is_in_the_models_dtype_not_the_master_copies(tmp_path):
    """What the generator reads: the bfloat16 weights the model computes with (2 bytes per
    parameter), not the FP32 master copies the optimiser keeps."""
    from rlscaling.trainer.config import OptimConfig

    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 8)).to(torch.bfloat16)
    opt, _ = make_optimizer(model, OptimConfig(fp32_master_weights=True))
    assert all(m.dtype == torch.float32 for m in opt.master)
    path = write_weights(model, tmp_path / "w.safetensors")
    state = read_weights(path)
    assert {t.dtype for t in state.values()} == {torch.bfloat16}
    n = sum(p.numel() for p in model.parameters())
    assert path.stat().st_size < 2 * n + 4096  # 2 bytes a parameter plus the header


def test_the_gpu_example_config_is_valid_and_sized_as_documented(tmp_path):
    """examples/configs/qwen25_05b_gpu.yaml loads (with a model directory in place of the
    real one) and its vLLM context and KV cache are those of the runbook."""
    from pathlib import Path

    from rlscaling.trainer.config import load_config

    path = Path(__file__).parents[2] / "examples" / "configs" / "qwen25_05b_gpu.yaml"
    cfg = load_config(path, overrides={"model": {"path": str(tmp_path)}})
    assert cfg.model.dtype == "bfloat16" and cfg.optim.fp32_master_weights
    assert cfg.model.fp32_lm_head and cfg.rollout.engine == "vllm"
    assert cfg.prompt.template == "auto" and cfg.task.extraction == "math"
    assert not cfg.task.require_marker and cfg.warmup.steps == 0
    s = engine_settings(qwen25_05b_config(), cfg, max_prompt_tokens=200)
    assert s["max_model_len"] == 2048 and s["max_num_seqs"] == 32 * 8 * 5
    assert 200 + response_tokens(cfg) + 1 <= 2048  # the longest response fits
    assert round(s["kv_cache_memory_bytes"] / 2**30, 1) == 30.0  # the runbook's figure
