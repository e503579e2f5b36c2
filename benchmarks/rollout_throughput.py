"""Rollout throughput: the vLLM engine against the torch engine on the same model and prompts.

Both engines return what the trainer needs: sampled tokens with their behaviour log-probs.
A randomly initialised Llama (default ~25.8M parameters: hidden 512, 8 layers, 8 heads of 64,
intermediate 1408, the character vocabulary of the trainer's tokenizer; ``--small``: hidden
128, 4 layers, head_dim 32, ~1M) samples ``n`` responses to each of ``--prompts`` addition
prompts, 32 tokens at most (truncation), at temperature 1. Generated tokens per second of wall
time, median over ``--repeats`` runs with different seeds. Not timed: vLLM's start-up and one
warm-up ``generate`` per engine (it compiles vLLM's log-prob kernel and fills caches); both
are reported. Both engines run in this process with the same number of torch threads.

Two workloads (``--workload``, default both):

- ``uniform``: the random model almost never samples end-of-sequence, so nearly every
  response runs to the cap. The torch engine's static batch wastes nothing here; both engines
  spend their time in the same matrix products, so this is the case least favourable to vLLM.
- ``varied``: the same model with its end-of-sequence logit raised (see ``varied_lengths``), so
  responses end at varied lengths, as a policy's do during RL. The torch engine decodes every
  row until the longest response ends; vLLM schedules only unfinished sequences.

The response-length distribution of each workload is printed beside its ratio.

    python benchmarks/rollout_throughput.py [--small] [--prompts 64] [--n 8] [--repeats 3]
        [--threads 2] [--workload both|uniform|varied]

Needs the vllm extra (``pip install -e '.[train,vllm]'``, see docs/trainer.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rlscaling.trainer.config import ModelConfig, TaskConfig
from rlscaling.trainer.model import build_tiny_model, build_tokenizer, count_params
from rlscaling.trainer.rollout import RolloutEngine, SamplingParams, TorchEngine, VLLMEngine
from rlscaling.trainer.tasks import make_splits

DEFAULT = ModelConfig(
    hidden_size=512, num_layers=8, num_heads=8, intermediate_size=1408, max_positions=128
)
MAX_TOKENS = 32
SMALL = ModelConfig(hidden_size=128, num_layers=4, num_heads=4, max_positions=128)


def run(engine: RolloutEngine, prompts: list[list[int]], n: int, params: SamplingParams, seed: int):
    """``(generated tokens, seconds)`` of one ``generate`` call."""
    t = time.perf_counter()
    samples = engine.generate(prompts, list(range(len(prompts))), n, params, seed)
    seconds = time.perf_counter() - t
    assert all(len(s.logprobs) == len(s.response_ids) for s in samples)
    return sum(len(s.response_ids) for s in samples), seconds


def varied_lengths(model, tok, prompts: list[list[int]], eos_logit: float) -> None:
    """Make ``model`` end its responses at varied lengths, as a policy under RL does.

    A random model almost never samples end-of-sequence, so every response runs to the cap,
    the best case for a static batch. Aligning the EOS row of the (tied) LM head with the mean
    final hidden state gives EOS a logit of about ``eos_logit`` at every position: with 2.0 and
    the default model and prompts, responses end after 1 to 32 tokens (median 17, p10 3, a
    third at the cap).
    """
    ids = torch.tensor([p[:7] for p in prompts if len(p) >= 7])
    with torch.no_grad():
        h = model.model(ids).last_hidden_state.reshape(-1, model.config.hidden_size)
        mean = h.mean(0)
        model.get_output_embeddings().weight[tok.eos_token_id] = eos_logit * mean / mean.norm() ** 2


def lengths(engine: RolloutEngine, prompts, n: int, params: SamplingParams) -> str:
    """Response lengths of one call: what the workload asks of the engines."""
    got = sorted(
        len(s.response_ids)
        for s in engine.generate(prompts, list(range(len(prompts))), n, params, 99)
    )
    q = lambda f: got[min(len(got) - 1, int(f * len(got)))]  # noqa: E731
    cap = sum(x == max(got) for x in got) / len(got)
    return f"median {q(0.5)}, p10 {q(0.1)}, p90 {q(0.9)}, max {got[-1]} ({cap:.0%} at it)"


def main(small: bool, n_prompts: int, n: int, repeats: int, threads: int, workload: str) -> None:
    torch.set_num_threads(threads)
    tok = build_tokenizer()
    cfg = SMALL if small else DEFAULT
    _, train, _ = make_splits(TaskConfig(name="addition", difficulty=3, n_train=n_prompts))
    prompts = [tok(p.prompt)["input_ids"] for p in train[:n_prompts]]
    # no end-of-thinking marker: the whole response counts against the answer budget
    params = SamplingParams(
        length_control="truncation",
        think_budget=16,
        answer_budget=MAX_TOKENS,
        eos_id=tok.eos_token_id,
        pad_id=tok.pad_token_id,
    )
    workloads = ["uniform", "varied"] if workload == "both" else [workload]
    ratios = {}
    for name in workloads:
        model = build_tiny_model(cfg, tok, seed=0).eval()
        if name == "varied":
            varied_lengths(model, tok, prompts, eos_logit=2.0)
        print(
            f"\n[{name}] model: {count_params(model) / 1e6:.1f}M parameters (hidden "
            f"{cfg.hidden_size}, {cfg.num_layers} layers); {len(prompts)} prompts x n={n}, "
            f"<= {MAX_TOKENS} tokens, T=1, {torch.get_num_threads()} torch threads"
        )
        ratios[name] = compare(model, prompts, n, params, repeats)
    print()
    for name, r in ratios.items():
        print(f"vllm / torch [{name}]: {r:.2f}x")


def compare(model, prompts, n: int, params: SamplingParams, repeats: int) -> float:
    """Median tokens/s of both engines on ``model``; returns vllm / torch."""
    t = time.perf_counter()
    # every sequence fits in 64 positions (prompt <= 12 + 32 tokens): a KV cache sized for
    # that, not for the model's 128
    vllm = VLLMEngine(model, max_num_seqs=len(prompts) * n, max_model_len=64)
    startup = time.perf_counter() - t
    engines: dict[str, RolloutEngine] = {"torch": TorchEngine(model), "vllm": vllm}
    try:
        print(f"response lengths: {lengths(engines['torch'], prompts, n, params)}")
        warm = {name: run(eng, prompts, n, params, 0)[1] for name, eng in engines.items()}
        rates: dict[str, list[float]] = {name: [] for name in engines}
        for r in range(repeats):  # alternate engines so drifts in machine speed hit both
            for name, eng in engines.items():
                tokens, seconds = run(eng, prompts, n, params, 1 + r)
                rates[name].append(tokens / seconds)
    finally:
        vllm.close()
    print(f"vllm start-up {startup:.1f} s (not timed)")
    for name in engines:
        runs = ", ".join(f"{x:.0f}" for x in rates[name])
        print(
            f"{name:>5}: {statistics.median(rates[name]):8.0f} tok/s  (runs: {runs}; "
            f"warm-up call {warm[name]:.1f} s, not timed)"
        )
    ratio = statistics.median(rates["vllm"]) / statistics.median(rates["torch"])
    print(f"vllm / torch: {ratio:.2f}x")
    return ratio


if __name__ == "__main__":  # vLLM may start worker processes: keep the guard
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="~1M-parameter model")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=8, help="samples per prompt")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for both engines")
    ap.add_argument(
        "--workload",
        choices=["uniform", "varied", "both"],
        default="both",
        help="response lengths: all at the cap (random model), or varied as under RL",
    )
    a = ap.parse_args()
    main(a.small, a.prompts, a.n, a.repeats, a.threads, a.workload)
