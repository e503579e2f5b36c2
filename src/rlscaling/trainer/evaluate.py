"""Evaluation stage: mean pass rate on the fixed validation split, m samples per prompt.

In a multi-task run (problems labelled with ``Problem.task``) the result also holds each task's
pass rate and prompt count, from which the run directory gets one curve per task.
"""

from __future__ import annotations

from typing import Any

from rlscaling.trainer.rewards import score_samples
from rlscaling.trainer.rollout.base import RolloutEngine, SamplingParams
from rlscaling.trainer.tasks import Problem, Task


def evaluate(
    engine: RolloutEngine,
    tokenizer: Any,
    task: Task,
    val: list[Problem],
    params: SamplingParams,
    n_samples: int,
    seed: int,
    marker: str | None,
    chunk: int = 64,
    prompt_ids: list[list[int]] | None = None,
) -> dict[str, Any]:
    """``{"reward", "n_prompts", "n_samples", "truncated_frac", "mean_len", "by_task"}`` on
    ``val``; ``by_task`` maps each task label to ``(pass rate, prompts)`` (empty for a
    single-task split). ``prompt_ids`` are ``val``'s prompts in the run's template (default:
    the bare prompts, encoded by ``tokenizer``)."""
    rewards: list[float] = []
    trunc = lens = 0
    for lo in range(0, len(val), chunk):
        idx = list(range(lo, min(len(val), lo + chunk)))
        if prompt_ids is not None:
            prompts = [prompt_ids[i] for i in idx]
        else:
            prompts = [tokenizer(val[i].prompt)["input_ids"] for i in idx]
        samples = engine.generate(prompts, idx, n_samples, params, seed + lo)
        rewards += score_samples(samples, val, task, tokenizer, marker)
        trunc += sum(s.truncated for s in samples)
        lens += sum(len(s.response_ids) for s in samples)
    n = max(len(rewards), 1)
    by_task: dict[str, tuple[float, int]] = {}
    labels = [p.task for p in val]
    if any(labels):
        for label in dict.fromkeys(labels):
            idx = [i for i, lab in enumerate(labels) if lab == label]
            got = [rewards[i * n_samples + j] for i in idx for j in range(n_samples)]
            by_task[label] = (sum(got) / len(got), len(idx))
    return {
        "by_task": by_task,
        "reward": sum(rewards) / n,
        "n_prompts": len(val),
        "n_samples": n_samples,
        "truncated_frac": trunc / n,
        "mean_len": lens / n,
    }
