"""FLOPs formula, parameter counting and run-log writing."""

import json

import pytest

torch = pytest.importorskip("torch")

from rlscaling.trainer.compute import ComputeLedger, step_flops  # noqa: E402
from rlscaling.trainer.config import ModelConfig  # noqa: E402
from rlscaling.trainer.model import (  # noqa: E402
    build_tiny_model,
    build_tokenizer,
    count_params,
    matmul_params,
)
from rlscaling.trainer.runlog import RunWriter, read_jsonl  # noqa: E402


def test_step_flops_formula():
    # 2N per prompt and generated token, 6N per trained token, 2N per extra log-prob token
    assert step_flops(10, prompt_tokens=3, gen_tokens=4, train_tokens=5) == 2 * 10 * 7 + 6 * 10 * 5
    assert step_flops(10, 0, 0, 0, logprob_tokens=7) == 140


def test_matmul_params_counts_tied_head_once_and_skips_the_lookup():
    tok = build_tokenizer()
    m = build_tiny_model(ModelConfig(hidden_size=64, num_layers=1, num_heads=2), tok)
    emb = m.get_input_embeddings().weight.numel()
    assert count_params(m) == sum(p.numel() for p in m.parameters())
    # tied: the shared matrix is used as the LM head, so N equals the distinct parameters
    assert matmul_params(m) == count_params(m)
    layer = sum(p.numel() for p in m.base_model.layers.parameters())
    assert matmul_params(m) == layer + emb + m.base_model.norm.weight.numel()


def test_ledger_round_trip():
    a = ComputeLedger()
    a.add(1e9, 0.5, 10)
    a.add(2e9, 0.25, 5)
    b = ComputeLedger()
    b.load_state_dict(a.state_dict())
    assert (b.flops, b.device_seconds, b.tokens) == (3e9, 0.75, 15)


def test_run_writer_appends_whole_lines_and_truncates(tmp_path):
    w = RunWriter(tmp_path)
    for s in range(5):
        w.append_eval({"step": s, "reward": s / 10})
    with open(w.eval_path, "a") as fh:
        fh.write('{"step": 5, "rew')  # a torn last line
    assert [r["step"] for r in read_jsonl(w.eval_path)] == [0, 1, 2, 3, 4]
    w.truncate_after(2)
    assert [r["step"] for r in read_jsonl(w.eval_path)] == [0, 1, 2]
    w.append_eval({"step": 3, "reward": float("nan")})
    assert json.loads(w.eval_path.read_text().splitlines()[-1])["reward"] is None


def test_update_memory_is_cuda_only_and_in_gib(monkeypatch):
    from rlscaling.trainer import compute

    assert compute.update_memory("cpu") == {}
    compute.reset_peak_memory("cpu")  # nothing to reset, and no CUDA call
    calls = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d: calls.append(d))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: 3 * 2**30)
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda d: 4 * 2**30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d: 2**29)
    compute.reset_peak_memory("cuda:0")
    assert calls == [torch.device("cuda:0")]
    assert compute.update_memory("cuda") == {
        "cuda_peak_allocated_gib": 3.0,
        "cuda_peak_reserved_gib": 4.0,
        "cuda_allocated_gib": 0.5,
    }
