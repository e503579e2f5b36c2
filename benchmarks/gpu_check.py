"""A short real-model run on a GPU: tokens/s, step time and the vLLM/torch rollout ratio.

For a GPU machine (``benchmarks/gpu_check.sh`` checks that there is one, then runs this).

1. **Rollout ratio.** The same model, prompts and sampling parameters (the run's chat or plain
   template, temperature 1, bf16 with the FP32 LM head, up to ``--max-tokens`` tokens) through
   the vLLM engine and the torch engine, both returning behaviour log-probs; generated tokens
   per second of wall time, median of ``--repeats`` calls after one warm-up call each, engines
   alternated. Goal on a GPU: vLLM >= 5x the torch engine.
2. **Training run.** ``examples/configs/qwen25_05b_gpu.yaml`` (ScaleRL, pipeline_k, vLLM
   generator) for ``--steps`` steps with a small evaluation; prints the median step time,
   end-to-end tokens/s and the generator's tokens/s from ``train.jsonl`` (first step left out:
   it includes start-up).

The model is ``--model`` (a local Hugging Face directory, e.g. Qwen2.5-0.5B-Instruct). Without
it, a randomly initialised model of Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 query and
2 KV heads, vocabulary 151,936) with the trainer's character tokenizer is saved to a temporary
directory: the throughput is that of the real architecture, but a random model rarely ends a
response, so every response runs to the cap (no length variety for vLLM to exploit) and the
reward stays 0.

    benchmarks/gpu_check.sh [--model DIR] [--steps 8] [--prompts 64] [--n 8] [--max-tokens 512]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "configs" / "qwen25_05b_gpu.yaml"
GOAL = 5.0


def require_gpu() -> None:
    import torch

    if not torch.cuda.is_available():
        sys.exit(
            "gpu_check: torch sees no CUDA GPU (torch.cuda.is_available() is False); this check "
            "is for a GPU machine with a CUDA build of torch and the vllm package"
        )


def random_qwen25_05b(path: Path) -> Path:
    """Save a random model of Qwen2.5-0.5B's shape and the trainer's tokenizer to ``path``."""
    import torch
    from transformers import AutoModelForCausalLM

    from rlscaling.trainer.model import build_tokenizer, qwen25_05b_config

    tok = build_tokenizer()
    cfg = qwen25_05b_config(tok)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def rollout_ratio(
    cfg,
    model_dir: Path,
    n_prompts: int,
    n: int,
    max_tokens: int,
    repeats: int,
    device: str = "cuda",
) -> float:
    """Median tokens/s of the vLLM and torch engines on the same model and prompts."""
    import torch

    from rlscaling.trainer.model import load_model
    from rlscaling.trainer.prompts import prompt_format
    from rlscaling.trainer.rollout import TorchEngine, VLLMEngine
    from rlscaling.trainer.setup import sampling_params
    from rlscaling.trainer.tasks import make_task_splits

    model, tok = load_model(model_dir, cfg.model.dtype, cfg.model.attn_implementation)
    model.to(device).eval().requires_grad_(False)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    task, train, _ = make_task_splits(cfg.task_configs())
    fmt = prompt_format(cfg, tok, task)
    prompts = [fmt.encode(tok, p) for p in train[:n_prompts]]
    base = sampling_params(cfg, tok)
    # one budget for both engines: responses of up to max_tokens, no interruption (without
    # a marker the whole response is the answer, bounded by answer_budget)
    params = dataclasses.replace(
        base,
        length_control="truncation",
        think_budget=1,
        think_budget_jitter=0,
        answer_budget=max_tokens,
        marker_ids=(),
    )
    inline = cfg.model_copy(
        update={
            "rollout": cfg.rollout.model_copy(
                update={"mode": "inline", "n_samples": n, "max_model_len": None}
            ),
            "prompts_per_step": n_prompts,
            "off_policy_lag": 0,
        }
    )
    t = time.perf_counter()
    vllm = VLLMEngine.from_config(model, inline, max_prompt_tokens=max(map(len, prompts)))
    startup = time.perf_counter() - t
    engines = {"torch": TorchEngine(model), "vllm": vllm}
    idx = list(range(len(prompts)))
    rates: dict[str, list[float]] = {name: [] for name in engines}
    lengths: list[int] = []
    try:
        for eng in engines.values():
            eng.generate(prompts, idx, n, params, 0)  # warm-up, not timed
        for r in range(repeats):
            for name, eng in engines.items():
                sync()
                t = time.perf_counter()
                samples = eng.generate(prompts, idx, n, params, 1 + r)
                sync()
                tokens = sum(len(s.response_ids) for s in samples)
                rates[name].append(tokens / (time.perf_counter() - t))
                if name == "vllm" and r == 0:
                    lengths = sorted(len(s.response_ids) for s in samples)
    finally:
        vllm.close()
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    med = {name: statistics.median(v) for name, v in rates.items()}
    print(
        f"rollout: {len(prompts)} prompts x n={n}, <= {max_tokens} tokens, "
        f"{cfg.model.dtype}, vLLM start-up {startup:.1f} s (not timed)"
    )
    if lengths:
        print(
            f"  response lengths: median {lengths[len(lengths) // 2]}, max {lengths[-1]} "
            f"({sum(x == lengths[-1] for x in lengths) / len(lengths):.0%} at it)"
        )
    for name, v in med.items():
        print(f"  {name:>5}: {v:10.0f} tok/s  (runs: {', '.join(f'{x:.0f}' for x in rates[name])})")
    return med["vllm"] / med["torch"]


def training_run(cfg, steps: int) -> dict[str, float]:
    from rlscaling.trainer.loop import train
    from rlscaling.trainer.runlog import read_jsonl

    t = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - t
    rows = read_jsonl(result.out_dir / "train.jsonl")[1:] or read_jsonl(
        result.out_dir / "train.jsonl"
    )

    def med(key: str) -> float:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(vals) if vals else float("nan")

    out = {
        "wall_seconds": wall,
        "step_seconds": med("step_seconds"),
        "tokens_per_second": med("tokens_per_second"),
        "gen_tokens_per_second": med("gen_tokens_per_second"),
        "mean_response_len": med("mean_response_len"),
        "reward": med("reward"),
    }
    print(f"training: {steps} steps of {CONFIG.name} in {wall:.0f} s (start-up included)")
    for k, v in out.items():
        print(f"  {k}: {v:.4g}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="local HF model dir (default: random, 0.5B shape)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=8, help="samples per prompt")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, help="run directory (default: a temporary one)")
    args = ap.parse_args()
    require_gpu()

    from rlscaling.trainer.config import load_config

    work = Path(tempfile.mkdtemp(prefix="rlscaling-gpu-check-"))
    model_dir = args.model or random_qwen25_05b(work / "model")
    out = args.out or work / "run"
    cfg = load_config(
        CONFIG,
        overrides={
            "model": {"path": str(model_dir)},
            "out_dir": str(out),
            "steps": args.steps,
            "eval_every": 10**6,  # the step-0 and final evaluations only ...
            "eval_samples": 1,
            "checkpoint_every": 10**6,
            "progress": False,
            "task": {"n_val": 16},  # ... on a few prompts
        },
    )
    ratio = rollout_ratio(cfg, model_dir, args.prompts, args.n, args.max_tokens, args.repeats)
    verdict = "meets" if ratio >= GOAL else "BELOW"
    print(f"vLLM / torch rollout: {ratio:.2f}x ({verdict} the goal of {GOAL:.0f}x)")
    stats = training_run(cfg, args.steps)
    print(json.dumps({"rollout_ratio": ratio, **stats}))


if __name__ == "__main__":  # the pipeline and vLLM start processes (spawn): keep the guard
    main()
