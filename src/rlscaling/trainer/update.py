"""Update stage: one optimiser step on a batch of scored, filtered samples.

The aggregation weights are computed on the whole batch first, so splitting it into
micro-batches (``micro_batch_size``) accumulates exactly the same gradient. The loss's metrics
are computed per micro-batch and combined by their kind (:func:`reduce_metrics`), so they too
are those of the whole batch.

With a bfloat16 or float16 model and ``optim.fp32_master_weights`` (the default), the optimiser
keeps an FP32 copy of every parameter (:class:`FP32MasterWeights`): the forward and backward
passes run in the model's dtype, the gradients are copied to FP32, clipped and applied to the
FP32 copy, and the result is cast back into the model. Without it, an update smaller than half
a bfloat16 spacing (2**-8 relative) is rounded away, so a small learning rate can leave the
weights unchanged for ever.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import torch

from rlscaling.trainer.losses import aggregation_weights, get_loss
from rlscaling.trainer.policy import TokenBatch, response_logprobs

if TYPE_CHECKING:
    from rlscaling.trainer.distributed import LearnerGroup, ShardedPolicy


class FP32MasterWeights:
    """An optimiser that steps FP32 master copies of low-precision parameters.

    Parameters
    ----------
    params : the model's parameters (any dtype; their ``.grad`` is read after ``backward``).
    make_inner : builds the real optimiser over the FP32 copies (e.g. ``AdamW(..., lr=...)``).

    :meth:`master_grads` copies the model's gradients to the FP32 copies and returns those (clip
    them there, in FP32); :meth:`step` steps the copies and writes them, rounded, back into the
    model. ``param_groups`` are the inner optimiser's, so an LR scheduler built on
    :attr:`inner` drives both. ``state_dict`` holds the FP32 copies: a resume continues from
    them, not from the rounded model weights.

    Examples
    --------
    >>> w = torch.nn.Parameter(torch.ones(1, dtype=torch.bfloat16))
    >>> opt = FP32MasterWeights([w], lambda ps: torch.optim.SGD(ps, lr=1e-3))
    >>> for _ in range(10):
    ...     w.grad = torch.ones_like(w)
    ...     _ = opt.master_grads()
    ...     opt.step()
    >>> round(opt.master[0].item(), 4), w.item()  # bf16 alone would have stayed at 1.0
    (0.99, 0.98828125)
    """

    def __init__(self, params: Any, make_inner: Any) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.master = [
            p.detach().to(torch.float32, copy=True).requires_grad_(True) for p in self.params
        ]
        self.inner: torch.optim.Optimizer = make_inner(self.master)
        self._grads_ready = False

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.inner.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None if set_to_none else (p.grad.zero_() if p.grad is not None else None)
        self.inner.zero_grad(set_to_none=True)
        self._grads_ready = False

    def master_grads(self) -> list[torch.Tensor]:
        """Copy the model's gradients to the FP32 copies; return the copies (to clip)."""
        for p, m in zip(self.params, self.master, strict=True):
            m.grad = None if p.grad is None else p.grad.detach().to(torch.float32)
        self._grads_ready = True
        return self.master

    @torch.no_grad()
    def step(self) -> None:
        if not self._grads_ready:
            self.master_grads()
        self.inner.step()
        for p, m in zip(self.params, self.master, strict=True):
            p.copy_(m)  # round the FP32 result into the model's dtype
        self._grads_ready = False

    def state_dict(self) -> dict[str, Any]:
        return {
            "inner": self.inner.state_dict(),
            "master": [m.detach().clone() for m in self.master],
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "master" not in state or len(state["master"]) != len(self.master):
            raise ValueError(
                "optimizer state has no FP32 master weights for this model (it was saved "
                "without optim.fp32_master_weights, or for another model)"
            )
        self.inner.load_state_dict(state["inner"])
        for p, m, saved in zip(self.params, self.master, state["master"], strict=True):
            m.copy_(saved)
            p.copy_(m)


def make_optimizer(model: Any, cfg: Any) -> tuple[Any, Any]:
    """AdamW and a linear-warm-up-then-constant LR schedule.

    AdamW steps FP32 master copies (:class:`FP32MasterWeights`) when ``cfg.fp32_master_weights``
    is on and some parameter is not float32; otherwise it steps the parameters themselves.
    """

    def adamw(params: Any) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay
        )

    low_precision = any(p.dtype != torch.float32 for p in model.parameters())
    if getattr(cfg, "fp32_master_weights", False) and low_precision:
        opt: Any = FP32MasterWeights(model.parameters(), adamw)
        inner = opt.inner
    else:
        opt = inner = adamw(model.parameters())
    warm = max(cfg.warmup_steps, 0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        inner, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0
    )
    return opt, sched


def clip_and_step(model: Any, optimizer: Any, max_norm: float) -> torch.Tensor:
    """Clip the gradient norm (on the FP32 master copies when there are any) and step."""
    if isinstance(optimizer, FP32MasterWeights):
        params = optimizer.master_grads()
    else:
        params = list(model.parameters())
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    optimizer.step()
    return norm


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


def reduce_metrics_across(
    parts: list[tuple[dict[str, float], float]], group: LearnerGroup
) -> dict[str, float]:
    """:func:`reduce_metrics` over the micro-batches of every rank.

    ``parts`` are this rank's micro-batches with their share of the *whole* batch's loss
    tokens, so a mean is the sum of the ranks' share-weighted parts, a ``*_sum``/``n_*`` the sum,
    a ``*_max`` the max and a ``*_min`` the min; a rank without loss tokens contributes
    nothing (as an empty micro-batch does in one process).
    """
    local = reduce_metrics([p for p in parts if p[1] > 0])
    names = sorted({name for metrics, _ in parts for name in metrics})
    if not names:
        return {}
    kinds = [metric_reduction(name) for name in names]
    empty = {"mean": 0.0, "sum": 0.0, "max": float("-inf"), "min": float("inf")}
    values = [local.get(name, empty[kind]) for name, kind in zip(names, kinds, strict=True)]
    reduced = {
        op: group.all_reduce(torch.tensor(values, dtype=torch.float64), op)
        for op in ("sum", "max", "min")
    }
    any_tokens = group.all_reduce(torch.tensor([float(bool(local))]), "max")[0] > 0
    if not any_tokens:
        return {name: 0.0 for name in names}
    op = {"mean": "sum", "sum": "sum", "max": "max", "min": "min"}
    return {
        name: float(reduced[op[kind]][i])
        for i, (name, kind) in enumerate(zip(names, kinds, strict=True))
    }


def policy_update(
    model: Any,
    optimizer: Any,
    scheduler: Any,
    batch: TokenBatch,
    adv: torch.Tensor,
    group_ids: torch.Tensor,
    cfg: Any,
    learner: ShardedPolicy | None = None,
) -> dict[str, float]:
    """Backpropagate the aggregated loss over ``batch`` and step the optimiser.

    With a ``learner`` (several ranks), ``batch`` is the whole batch on every rank: the
    aggregation weights and the token count are taken over all of it, then each rank
    backpropagates its own rows (:meth:`~rlscaling.trainer.distributed.LearnerGroup.rows`)
    through the learner's wrapped forward, which sums the gradients over ranks; the returned
    metrics are those of the whole batch on every rank.
    """
    model.train()
    loss_fn = get_loss(cfg.loss.name)
    weights = aggregation_weights(batch.loss_mask, group_ids, cfg.loss.aggregation)  # (B, R)
    b = batch.input_ids.shape[0]
    mb = cfg.micro_batch_size or b
    if learner is None:
        chunks = [slice(lo, min(b, lo + mb)) for lo in range(0, b, mb)]
        scale = 1.0
    else:
        learner.trained.train()
        chunks = learner.group.micro_batches(b, cfg.micro_batch_size)
        scale = learner.loss_scale
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    parts: list[tuple[dict[str, float], float]] = []
    ent_sum = gap_sum = 0.0
    n_tok = float(batch.loss_mask.sum())
    for i, rows in enumerate(chunks):
        # a rank left without rows still joins the gradient reduction, with a zero-weighted
        # pass over one row
        dummy = rows.start == rows.stop
        if dummy:
            rows = slice(0, 1)
        part = batch.rows(rows)
        sync = (
            contextlib.nullcontext()
            if learner is None
            else learner.gradient_sync(i == len(chunks) - 1)
        )
        with sync:
            if learner is None:
                logp, ent = response_logprobs(
                    model, part, cfg.rollout.temperature, cfg.model.fp32_lm_head
                )  # (b, R)
            else:
                logp, ent = learner.logprobs(part)
            per_token, metrics = loss_fn(logp, part.old_logp, adv[rows], part.loss_mask, cfg.loss)
            loss = (per_token * weights[rows]).sum()
            if dummy:
                loss = loss * 0.0
            (loss * scale if scale != 1.0 else loss).backward()
        if dummy:
            continue
        total += loss.item()
        parts.append((metrics, float(part.loss_mask.sum()) / max(n_tok, 1.0)))
        ent_sum += float((ent * part.loss_mask).sum())
        gap_sum += float(((logp.detach() - part.old_logp).abs() * part.loss_mask).sum())
    if learner is None:
        reduced = reduce_metrics(parts)
    else:
        total, ent_sum, gap_sum = learner.group.all_reduce(
            torch.tensor([total, ent_sum, gap_sum], dtype=torch.float64)
        ).tolist()
        reduced = reduce_metrics_across(parts, learner.group)
    trained = model if learner is None else learner.trained
    grad_norm = clip_and_step(trained, optimizer, cfg.optim.max_grad_norm)
    scheduler.step()
    return {
        "loss": total,
        **reduced,
        "entropy": ent_sum / max(n_tok, 1.0),
        "logprob_gap": gap_sum / max(n_tok, 1.0),
        "grad_norm": float(grad_norm),
        "lr": float(optimizer.param_groups[0]["lr"]),
    }
