"""Update stage: one optimiser step on a batch of scored, filtered samples.

The aggregation weights are computed on the whole batch first, so splitting it into
micro-batches (``micro_batch_size``) accumulates exactly the same gradient. The loss's metrics
are computed per micro-batch and combined by their kind (:func:`reduce_metrics`), so they too
are those of the whole batch.
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


def metric_reduction(name: str) -> str:
    """How a loss metric named ``name`` combines over micro-batches, from its name.

    ``*_max``: the largest value; ``*_min``: the smallest; ``*_sum`` and ``n_*``: the total;
    anything else is a mean over the micro-batch's loss tokens, combined weighted by each
    micro-batch's share of the batch's loss tokens.
    """
    if name.endswith("_max"):
        return "max"
    if name.endswith("_min"):
        return "min"
    if name.endswith("_sum") or name.startswith("n_"):
        return "sum"
    return "mean"


def reduce_metrics(parts: list[tuple[dict[str, float], float]]) -> dict[str, float]:
    """Combine per-micro-batch metrics ``(metrics, share of the loss tokens)`` into the batch's.

    Each metric is reduced by its kind (:func:`metric_reduction`). A micro-batch without loss
    tokens (share 0) is left out: its metrics describe no token (a max over nothing); with no
    loss tokens in any micro-batch every metric is 0, as the loss is.

    Examples
    --------
    >>> reduce_metrics([({"ratio_mean": 1.0, "ratio_max": 3.0}, 0.25),
    ...                 ({"ratio_mean": 2.0, "ratio_max": 2.0}, 0.75)])
    {'ratio_mean': 1.75, 'ratio_max': 3.0}
    """
    out: dict[str, float] = {}
    for metrics, share in parts:
        if share <= 0:
            continue
        for name, value in metrics.items():
            kind = metric_reduction(name)
            if name not in out:
                out[name] = value * share if kind == "mean" else value
            elif kind == "mean":
                out[name] += value * share
            elif kind == "sum":
                out[name] += value
            elif kind == "max":
                out[name] = max(out[name], value)
            else:
                out[name] = min(out[name], value)
    if not out:
        return {name: 0.0 for metrics, _ in parts for name in metrics}
    return out


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
    parts: list[tuple[dict[str, float], float]] = []
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
        parts.append((metrics, float(part.loss_mask.sum()) / max(n_tok, 1.0)))
        ent_sum += float((ent * part.loss_mask).sum())
        gap_sum += float(((logp.detach() - part.old_logp).abs() * part.loss_mask).sum())
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.max_grad_norm)
    optimizer.step()
    scheduler.step()
    return {
        "loss": total,
        **reduce_metrics(parts),
        "entropy": ent_sum / max(n_tok, 1.0),
        "logprob_gap": gap_sum / max(n_tok, 1.0),
        "grad_norm": float(grad_norm),
        "lr": float(optimizer.param_groups[0]["lr"]),
    }
