"""Update stage: one optimiser step on a batch of scored, filtered samples.

The aggregation weights are computed on the whole batch first, so splitting it into
micro-batches (``micro_batch_size``) accumulates exactly the same gradient.
"""

from __future__ import annotations

from typing import Any

import torch

from rlscaling.trainer.losses import aggregation_weights, get_loss
from rlscaling.trainer.policy import TokenBatch, response_logprobs


def make_optimizer(model: Any, cfg: Any) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW and a linear-warm-up-then-constant LR schedule."""
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay
    )
    warm = max(cfg.warmup_steps, 0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0
    )
    return opt, sched


def policy_update(
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    batch: TokenBatch,
    adv: torch.Tensor,
    group_ids: torch.Tensor,
    cfg: Any,
) -> dict[str, float]:
    """Backpropagate the aggregated loss over ``batch`` and step the optimiser."""
    model.train()
    loss_fn = get_loss(cfg.loss.name)
    weights = aggregation_weights(batch.loss_mask, group_ids, cfg.loss.aggregation)  # (B, R)
    b = batch.input_ids.shape[0]
    mb = cfg.micro_batch_size or b
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    sums: dict[str, float] = {}
    ent_sum = gap_sum = 0.0
    n_tok = float(batch.loss_mask.sum())
    for lo in range(0, b, mb):
        rows = slice(lo, min(b, lo + mb))
        part = batch.rows(rows)
        logp, ent = response_logprobs(
            model, part, cfg.rollout.temperature, cfg.model.fp32_lm_head
        )  # (b, R)
        per_token, metrics = loss_fn(logp, part.old_logp, adv[rows], part.loss_mask, cfg.loss)
        loss = (per_token * weights[rows]).sum()
        loss.backward()
        total += loss.item()
        share = float(part.loss_mask.sum()) / max(n_tok, 1.0)
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + v * share
        ent_sum += float((ent * part.loss_mask).sum())
        gap_sum += float(((logp.detach() - part.old_logp).abs() * part.loss_mask).sum())
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.max_grad_norm)
    optimizer.step()
    scheduler.step()
    return {
        "loss": total,
        **sums,
        "entropy": ent_sum / max(n_tok, 1.0),
        "logprob_gap": gap_sum / max(n_tok, 1.0),
        "grad_norm": float(grad_norm),
        "lr": float(optimizer.param_groups[0]["lr"]),
    }
