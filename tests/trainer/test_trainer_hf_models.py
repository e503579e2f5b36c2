"""A real Hugging Face checkpoint (Qwen2 architecture, chat template) trains end to end.

The checkpoint is made by the test (:mod:`hf_checkpoint`: nothing is downloaded). The first
run warms it up on the chat-formatted task and trains it with RL, scoring answers the way a
chat model writes them (``\\boxed{}``, no think marker); the later runs start from the base
model it saved and check mixed precision on a loaded model.
"""

import json

import pytest

torch = pytest.importorskip("torch")

from hf_checkpoint import save_qwen2_checkpoint  # noqa: E402

from rlscaling.trainer.config import TrainConfig, deep_merge  # noqa: E402
from rlscaling.trainer.loop import train  # noqa: E402
from rlscaling.trainer.prompts import PROMPT_FILE  # noqa: E402
from rlscaling.trainer.runlog import read_jsonl  # noqa: E402
from rlscaling.trainer.weights import read_weights  # noqa: E402


def _config(out_dir, model_path, **over):
    base = {
        "out_dir": str(out_dir),
        "seed": 0,
        "steps": 60,
        "prompts_per_step": 8,
        "eval_every": 5,
        "checkpoint_every": 1000,
        "progress": False,
        "threads": 1,
        "off_policy_lag": 0,
        "model": {"path": str(model_path)},  # prompt.template: auto -> the chat template
        "task": {
            "name": "sorting",
            "difficulty": 3,
            "n_train": 256,
            "n_val": 32,
            # a chat model's answer: \boxed{...} read from the whole response, no </think>
            "answer_marker": None,
            "require_marker": False,
            "extraction": "math",
        },
        "warmup": {"steps": 120, "batch_size": 16},
        "rollout": {
            "n_samples": 4,
            "think_budget": 4,
            "answer_budget": 8,
            "length_control": "truncation",
            "mode": "inline",
        },
        "optim": {"lr": 1e-3},
    }
    return TrainConfig(**deep_merge(base, over))


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory):
    """Warm-up + 60 RL steps of a local Qwen2 checkpoint with its chat template (~15 s)."""
    root = tmp_path_factory.mktemp("hf")
    ckpt = save_qwen2_checkpoint(root / "qwen2")
    out = root / "run"
    result = train(_config(out, ckpt))
    return out, result


@pytest.mark.slow
def test_a_local_qwen2_checkpoint_trains_with_its_chat_template(chat_run):
    out, result = chat_run
    meta = json.loads((out / "run.json").read_text())
    assert meta["base_model"]["prompt_template"] == "chat"
    # the saved base model remembers its template, so `auto` picks it again from there
    assert json.loads((out / "base_model" / PROMPT_FILE).read_text()) == {"template": "chat"}
    rewards = [e["reward"] for e in result.evals]
    assert len(rewards) == 13
    # measured: 0.078 after the warm-up, 0.23-0.26 over the last three evaluations
    assert 0 < rewards[0] < 0.2
    assert sum(rewards[-3:]) / 3 > rewards[0] + 0.1
    rows = read_jsonl(out / "train.jsonl")
    first, last = rows[:15], rows[-15:]
    assert sum(r["reward"] for r in last) / 15 > sum(r["reward"] for r in first) / 15


def _moved_fraction(run_dir, base_dir, dtype):
    """Share of the weights' elements that differ from the starting weights (both in
    ``dtype``): what the optimiser's updates changed in the model."""
    start = read_weights(base_dir / "model.safetensors")
    end = read_weights(run_dir / "checkpoints" / "latest" / "model" / "model.safetensors")
    moved = total = 0
    for name, w in end.items():
        assert w.dtype == dtype
        moved += int((w != start[name].to(dtype)).sum())
        total += w.numel()
    return moved / total


def _low_precision_run(out, base, dtype, lr, master):
    cfg = _config(
        out,
        base,
        steps=40,
        eval_every=1000,
        warmup={"steps": 0},
        model={"dtype": dtype},
        optim={"lr": lr, "weight_decay": 0.0, "fp32_master_weights": master},
    )
    result = train(cfg)
    rows = read_jsonl(out / "train.jsonl")
    assert sum(r["kept_prompts"] for r in rows) > 20  # there were gradients to apply
    assert all(r["grad_norm"] > 0 for r in rows if r["kept_prompts"])
    # sampler and trainer compute the head in FP32 on the same low-precision model: on-policy
    # log-probs agree to the backbone's rounding (measured: at most 2.9e-4 nats a token)
    assert max(r["logprob_gap"] for r in rows if r["kept_prompts"]) < 1e-3
    return result, _moved_fraction(out, base, getattr(torch, dtype))


@pytest.mark.slow
def test_bf16_with_fp32_master_weights_learns_where_pure_bf16_does_not(chat_run, tmp_path):
    """From the warmed-up base model loaded in bfloat16, RL at lr 1e-6: an Adam step moves a
    weight by about the learning rate, below half a bfloat16 spacing for every weight above
    ~2.6e-4 in magnitude, so the pure bfloat16 run rounds almost every update away and only
    the smallest weights ever move, while the FP32 master copies accumulate the updates
    until the model's weights change (measured: 7.9% of the weights moved against 0.95%)."""
    out, _ = chat_run
    base = out / "base_model"
    _, with_master = _low_precision_run(tmp_path / "master", base, "bfloat16", 1e-6, True)
    _, pure = _low_precision_run(tmp_path / "pure", base, "bfloat16", 1e-6, False)
    assert pure < 0.02
    assert with_master > 0.05
    assert with_master > 5 * pure


@pytest.mark.slow
def test_fp16_trains_through_fp32_master_weights(chat_run, tmp_path):
    """float16 compute with FP32 master weights on a loaded checkpoint: updates land and the
    run stays finite. Without master weights AdamW's state underflows in float16 (the first
    step writes inf into the weights), so that configuration is refused up front."""
    out, _ = chat_run
    base = out / "base_model"
    result, moved = _low_precision_run(tmp_path / "fp16", base, "float16", 1e-5, True)
    assert moved > 0.05
    assert all(0.0 <= e["reward"] <= 1.0 for e in result.evals)
    with pytest.raises(ValueError, match="fp32_master_weights"):
        _config(
            tmp_path / "pure",
            base,
            model={"dtype": "float16"},
            optim={"fp32_master_weights": False},
        )
