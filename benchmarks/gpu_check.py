"""A short real-model run on a GPU: tokens/s, step time, learner memory, vLLM/torch ratio.

For a GPU machine (``benchmarks/gpu_check.sh`` checks that there is one, then runs this).

1. **Rollout ratio** (``--engine vllm``, the default). The same model, prompts and sampling
   parameters (the run's chat or plain template, temperature 1, bf16 with the FP32 LM head, up
   to ``--max-tokens`` tokens) through the vLLM engine and the torch engine, both returning
   behaviour log-probs; generated tokens per second of wall time, median of ``--repeats``
   calls after one warm-up call each, engines alternated. Goal on a GPU: vLLM >= 5x the torch
   engine.
2. **FP32 LM head.** The model in bfloat16 on the device: the head's logits and the
   log-probs the loss takes are float32, and a backward pass reaches the bf16 head weight.
3. **Training run.** ``examples/configs/qwen25_05b_gpu.yaml`` (ScaleRL: CISPO, bf16 with FP32
   master weights and the FP32 LM head, pipeline_k) for ``--steps`` steps with a small
   evaluation; prints the median step time, end-to-end and generator tokens/s and the
   trainer-vs-sampler log-prob gap from ``train.jsonl`` (first step left out: it includes
   start-up), and the learner's peak CUDA memory (the update's own peak, logged per step; the
   largest step's) beside the runbook's formulas (docs/trainer.md, "Expected memory") at this
   run's sizes.

``--engine torch`` is for a machine without vLLM: stage 1 is skipped and the training run uses
the torch engine in the recipe's separate generator process (``--set rollout.mode=inline``
generates in the trainer's process instead), at a size that runs in a few minutes:
``TORCH_ENGINE_RUN`` (8 prompts x 4 samples, about 256 response tokens); ``--set key=value``
changes any setting of the run (applied last).

The model is ``--model`` (a local Hugging Face directory, e.g. Qwen2.5-0.5B-Instruct). Without
it, a randomly initialised model of Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 query and
2 KV heads, vocabulary 151,936) with the trainer's character tokenizer is saved to a temporary
directory: the throughput and memory are those of the real architecture, but a random model
rarely ends a response, so every response runs to the cap (no length variety for vLLM to
exploit) and the reward stays 0.

``--device cpu`` runs the same stages on the CPU (with a small ``--model``: a check of the
flow, not of speed). One JSON line ends the output; ``--json PATH`` writes it to a file too.

    benchmarks/gpu_check.sh [--model DIR] [--steps 8] [--prompts 64] [--n 8] [--max-tokens 512]
    benchmarks/gpu_check.sh --engine torch [--steps 6] [--set rollout.mode=inline] [--json F]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "configs" / "qwen25_05b_gpu.yaml"
GOAL = 5.0
GIB = float(2**30)

# --engine torch: the recipe's training run with the torch engine, cut to a few minutes on one
# GPU. The torch engine decodes one token per forward pass for the whole batch (no continuous
# batching), so the step time grows with the response cap: 176 + U[0, 16] thinking tokens, the
# interruption phrase and 64 answer tokens keep it near 256 + the phrase. The rest of the recipe
# (CISPO, prompt aggregation, bf16 with FP32 master weights and the FP32 LM head, pipeline_k,
# micro-batches of 4) stays as the config has it.
TORCH_ENGINE_RUN: dict[str, Any] = {
    "prompts_per_step": 8,
    "rollout": {
        "engine": "torch",
        "n_samples": 4,
        "think_budget": 176,
        "think_budget_jitter": 16,
        "answer_budget": 64,
    },
}


def require_gpu() -> None:
    import torch

    if not torch.cuda.is_available():
        sys.exit(
            "gpu_check: torch sees no CUDA GPU (torch.cuda.is_available() is False); this check "
            "is for a GPU machine with a CUDA build of torch (and the vllm package, unless "
            "--engine torch); --device cpu runs its flow on the CPU"
        )


def environment(device: str) -> dict[str, Any]:
    """Versions and the device, for the JSON line (the numbers mean little without them)."""
    import torch
    import transformers

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env["gpu"] = props.name
        env["gpu_memory_gib"] = props.total_memory / GIB
    else:
        env["gpu"] = None
    return env


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
    cfg: Any,
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


def fp32_head_check(model_dir: Path, device: str = "cuda") -> dict[str, Any]:
    """The FP32 LM head of a bfloat16 model on ``device``, as the trainer and the torch engine
    call it (:mod:`rlscaling.trainer.policy`): float32 logits from bf16 hidden states, float32
    log-probs for the loss, and a backward pass that reaches the bf16 head weight."""
    import torch

    from rlscaling.trainer.model import load_model
    from rlscaling.trainer.policy import backbone, lm_logits, positions, token_logprobs

    model, tok = load_model(model_dir, "bfloat16")
    model.to(device)
    gen = torch.Generator().manual_seed(0)
    # ids the tokenizer knows (a random model's vocabulary is larger than its tokenizer's)
    ids = torch.randint(0, len(tok), (2, 24), generator=gen).to(device)
    mask = torch.ones_like(ids)
    try:
        with torch.no_grad():
            hidden, _ = backbone(model, ids, mask, positions(mask))
            fp32 = lm_logits(model, hidden, True)
            low = lm_logits(model, hidden, False)
        logp, _ = token_logprobs(model, ids, mask, ids[:, 8:], 8, 1.0, True)
        (-logp.sum()).backward()
        grad = model.get_output_embeddings().weight.grad
        out = {
            "hidden_dtype": str(hidden.dtype),
            "logits_dtype": str(fp32.dtype),
            "model_head_logits_dtype": str(low.dtype),
            "logprobs_dtype": str(logp.dtype),
            "head_grad_dtype": None if grad is None else str(grad.dtype),
            # the bf16 head's rounding, which the FP32 head removes
            "max_abs_diff_vs_bf16_head": float((fp32 - low.float()).abs().max()),
        }
        out["ok"] = (
            out["hidden_dtype"] == "torch.bfloat16"
            and out["logits_dtype"] == out["logprobs_dtype"] == "torch.float32"
            and grad is not None
            and bool(torch.isfinite(grad).all())
        )
    finally:
        del model
        if device == "cuda":
            torch.cuda.empty_cache()  # leave the training run's memory figures alone
    print(f"FP32 LM head on {device}: {'ok' if out['ok'] else 'FAILED'} ({out})")
    return out


def computed_learner_memory(cfg: Any, model_dir: Path, n_params: int) -> dict[str, float]:
    """The runbook's formulas (docs/trainer.md, "Expected memory") at this run's sizes, in GiB,
    for a micro-batch of sequences at the response cap (a random model always reaches it).

    ``static``: bf16 weights and gradients, FP32 master weights, AdamW's two FP32 moments (16 B
    a parameter); ``fp32_grad_copies``: the FP32 gradients the master weights are clipped and
    stepped with (4 B a parameter, from the end of the backward passes to the next update; not
    in the runbook's table); ``activations``: ~34 x hidden bytes per token and layer;
    ``fp32_head``: logits, log-softmax, its gradient and the entropy's exp, float32 each.
    """
    from transformers import AutoConfig, AutoTokenizer

    from rlscaling.trainer.prompts import longest_prompt
    from rlscaling.trainer.setup import sampling_params

    hf = AutoConfig.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    p = sampling_params(cfg, tok)
    response = p.think_budget + p.think_budget_jitter + len(p.interruption_ids) + p.answer_budget
    tokens = longest_prompt(cfg, tok) + response
    micro = cfg.micro_batch_size or cfg.prompts_per_step * cfg.rollout.n_samples
    return {
        "static": 16 * n_params / GIB,
        "fp32_grad_copies": 4 * n_params / GIB,
        "activations": micro * tokens * 34 * hf.hidden_size * hf.num_hidden_layers / GIB,
        "fp32_head": 4 * micro * response * hf.vocab_size * 4 / GIB,
        "micro_batch_tokens": float(micro * tokens),
    }


def training_run(cfg: Any, steps: int) -> dict[str, Any]:
    from rlscaling.trainer.loop import train
    from rlscaling.trainer.runlog import read_jsonl

    t = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - t
    every = read_jsonl(result.out_dir / "train.jsonl")
    rows = every[1:] or every

    # None where no step logged the column (memory off CUDA; an update that kept no group)
    def med(key: str) -> float | None:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def most(key: str) -> float | None:
        # every step, the first included: AdamW's state is made during its update
        vals = [r[key] for r in every if r.get(key) is not None]
        return max(vals) if vals else None

    out: dict[str, Any] = {
        "wall_seconds": wall,
        "steps_logged": len(every),
        "steps_trained": sum(r.get("loss") is not None for r in every),
        "step_seconds": med("step_seconds"),
        "tokens_per_second": med("tokens_per_second"),
        "gen_tokens_per_second": med("gen_tokens_per_second"),
        "train_seconds": med("train_seconds"),
        "mean_response_len": med("mean_response_len"),
        "logprob_gap": med("logprob_gap"),
        "reward": med("reward"),
        "learner_peak_allocated_gib": most("cuda_peak_allocated_gib"),
        "learner_peak_reserved_gib": most("cuda_peak_reserved_gib"),
        "learner_allocated_after_update_gib": med("cuda_allocated_gib"),
    }
    print(f"training: {steps} steps of {CONFIG.name} in {wall:.0f} s (start-up included)")
    for k, v in out.items():
        print(f"  {k}: {'-' if v is None else f'{v:.4g}'}")
    run = json.loads((result.out_dir / "run.json").read_text())
    out["model_params"] = run["model_params"]
    return out


def run_config(args: argparse.Namespace, model_dir: Path, out: Path) -> Any:
    """The training run's config: the GPU config, a short run of it, the engine's settings,
    then ``--set`` (later wins).

    A random model (no ``--model``) scores 0 on every sample, so the zero-variance filter would
    drop every group and no step would train: the learner's time and memory would go unmeasured.
    Its run keeps every group instead (the advantages are then 0, the passes and the optimiser
    step are the same work).
    """
    from rlscaling.trainer.config import deep_merge, load_config, parse_override

    over: dict[str, Any] = {
        "model": {"path": str(model_dir)},
        "out_dir": str(out),
        "steps": args.steps,
        "device": args.device,
        "eval_every": 10**6,  # the step-0 and final evaluations only ...
        "eval_samples": 1,
        "checkpoint_every": 10**6,  # ... and the final checkpoint
        "progress": False,
        "task": {"n_val": 16},  # ... on a few prompts
    }
    if args.model is None:
        over["advantage"] = {"zero_variance_filter": False}
    if args.engine == "torch":
        over = deep_merge(over, TORCH_ENGINE_RUN)
    for item in args.set:
        over = deep_merge(over, parse_override(item))
    return load_config(CONFIG, overrides=over)


def describe(cfg: Any) -> str:
    r = cfg.rollout
    return (
        f"{r.engine} engine, {r.mode} (lag {cfg.off_policy_lag}), {cfg.prompts_per_step} "
        f"prompts x {r.n_samples} samples, {r.length_control} at {r.think_budget} + "
        f"U[0, {r.think_budget_jitter}] thinking and {r.answer_budget} answer tokens, "
        f"micro-batches of {cfg.micro_batch_size}, {cfg.loss.name}, {cfg.model.dtype} "
        f"(FP32 head {cfg.model.fp32_lm_head}, FP32 master weights "
        f"{cfg.optim.fp32_master_weights}) on {cfg.device}"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="local HF model dir (default: random, 0.5B shape)")
    ap.add_argument(
        "--engine",
        choices=("vllm", "torch"),
        default="vllm",
        help="vllm: the rollout ratio, then training with the vLLM generator; torch: training "
        "with the torch engine alone, shorter (no vllm needed)",
    )
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--prompts", type=int, default=64, help="rollout ratio: prompts")
    ap.add_argument("--n", type=int, default=8, help="rollout ratio: samples per prompt")
    ap.add_argument("--max-tokens", type=int, default=512, help="rollout ratio: response cap")
    ap.add_argument("--repeats", type=int, default=3, help="rollout ratio: timed calls")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="training run setting, e.g. rollout.mode=inline (repeatable; applied last)",
    )
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--out", type=Path, help="run directory (default: a temporary one)")
    ap.add_argument("--json", type=Path, help="also write the result line to this file")
    args = ap.parse_args(argv)
    if args.device == "cuda":
        require_gpu()

    model_dir = args.model or random_qwen25_05b(Path(tempfile.mkdtemp(prefix="gpu-check-model-")))
    out = args.out or Path(tempfile.mkdtemp(prefix="gpu-check-run-"))
    cfg = run_config(args, model_dir, out)
    result: dict[str, Any] = {"engine": args.engine, "mode": cfg.rollout.mode}
    result.update(environment(args.device))
    result["run"] = describe(cfg)
    print(f"gpu_check: {json.dumps(result)}")
    if args.engine == "vllm":
        ratio = rollout_ratio(
            cfg, model_dir, args.prompts, args.n, args.max_tokens, args.repeats, args.device
        )
        verdict = "meets" if ratio >= GOAL else "BELOW"
        print(f"vLLM / torch rollout: {ratio:.2f}x ({verdict} the goal of {GOAL:.0f}x)")
        result["rollout_ratio"] = ratio
    try:
        result["fp32_head"] = fp32_head_check(model_dir, args.device)
    except Exception as exc:  # recorded, not fatal: the training run still has its numbers
        result["fp32_head"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(f"FP32 LM head on {args.device}: FAILED ({result['fp32_head']['error']})")
    result.update(training_run(cfg, args.steps))
    computed = computed_learner_memory(cfg, model_dir, result["model_params"])
    result["computed_learner_gib"] = computed
    peak = result["learner_peak_allocated_gib"]
    if peak is not None:
        print(
            f"learner peak {peak:.2f} GiB allocated, "
            f"{result['learner_peak_reserved_gib']:.2f} GiB reserved; after an update "
            f"{result['learner_allocated_after_update_gib']:.2f} GiB. Computed: static "
            f"{computed['static']:.2f} + FP32 gradient copies "
            f"{computed['fp32_grad_copies']:.2f}, activations {computed['activations']:.2f}, "
            f"FP32 head {computed['fp32_head']:.2f} GiB"
        )
    line = json.dumps(result)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")
    return result


if __name__ == "__main__":  # the pipeline and vLLM start processes (spawn): keep the guard
    main()
