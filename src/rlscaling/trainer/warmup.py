"""Supervised warm-up: turn a freshly initialised model into a weak "base model".

RL needs a starting policy that already writes the task's format and is sometimes right,
as a pretrained model is. The warm-up trains with cross-entropy on
``prompt -> solution + marker + answer + </s>`` (the prompt in the run's template, the answer
written as the task's extraction reads it: :meth:`~rlscaling.trainer.tasks.Task.target`)
for ``WarmupConfig.steps`` small batches of training-split problems (never validation ones;
when ``warmup.difficulty`` differs from the task difficulty, fresh problems are drawn,
excluding validation prompts). Stopping early leaves the pass rate low but not zero; the
number of steps is the knob.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rlscaling.trainer.policy import collate, response_logprobs
from rlscaling.trainer.tasks import Problem, Task, _unique
from rlscaling.trainer.update import FP32MasterWeights


def warmup_problems(
    task: Task, train: list[Problem], val: list[Problem], cfg: Any, difficulty: int
) -> list[Problem]:
    wcfg = cfg.warmup
    if wcfg.difficulty is None or wcfg.difficulty == difficulty:
        return train
    rng = np.random.default_rng([wcfg.seed, 3])
    return _unique(task, rng, wcfg.difficulty, len(train), {p.prompt for p in val})


def supervised_warmup(
    model: Any,
    tokenizer: Any,
    problems: list[Problem],
    cfg: Any,
    device: Any,
    encode: Callable[[Problem], list[int]] | None = None,
    task: Task | None = None,
) -> list[float]:
    """Train ``model`` in place; return the loss per step.

    ``encode`` turns a problem into prompt ids (default: the bare prompt, the ``raw``
    template); ``task`` writes the target (default: solution, marker, answer as is).
    """
    wcfg, marker = cfg.warmup, cfg.task.answer_marker or ""
    if wcfg.steps == 0:
        return []
    rng = np.random.default_rng([wcfg.seed, 4])
    eos = tokenizer.eos_token_id
    if encode is None:
        encode = lambda p: tokenizer(p.prompt)["input_ids"]  # noqa: E731
    prompts = [encode(p) for p in problems]
    texts = [
        task.target(p, marker) if task is not None else p.solution + marker + p.answer
        for p in problems
    ]
    targets = [tokenizer(t, add_special_tokens=False)["input_ids"] + [eos] for t in texts]

    def adamw(params: Any) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=wcfg.lr, weight_decay=0.0)

    # a bfloat16/float16 model warms up through FP32 master weights too, as RL then trains it
    low_precision = any(p.dtype != torch.float32 for p in model.parameters())
    if cfg.optim.fp32_master_weights and low_precision:
        opt: Any = FP32MasterWeights(model.parameters(), adamw)
        clip_params = opt.master_grads
    else:
        opt = adamw(model.parameters())
        clip_params = model.parameters
    model.train()
    losses = []
    for _ in range(wcfg.steps):
        idx = rng.integers(0, len(problems), size=wcfg.batch_size)
        batch = collate(
            [prompts[i] for i in idx], [targets[i] for i in idx], tokenizer.pad_token_id
        ).to(device)
        logp, _ = response_logprobs(model, batch, 1.0, cfg.model.fp32_lm_head)  # (B, R)
        loss = -(logp * batch.loss_mask).sum() / batch.loss_mask.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(clip_params(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses
