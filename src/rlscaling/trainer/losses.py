"""Policy-gradient losses (CISPO, PPO-clip/DAPO, GRPO, GSPO) and loss aggregation.

Every loss has one signature::

    loss_fn(logp, old_logp, adv, mask, cfg) -> (per_token_loss, metrics)

``logp`` is the trained policy's log-probability of each sampled token (with gradient),
``old_logp`` the behaviour log-probability recorded by the generator (no gradient), ``adv`` the
per-sample advantage (shape ``(B,)``, broadcast over tokens) or per-token advantage ``(B, T)``,
``mask`` 1 for tokens that enter the loss and 0 for padding/forced tokens, ``cfg`` the
:class:`~rlscaling.trainer.config.LossConfig`. Shapes are ``(B, T)``. The returned per-token loss
is *not* reduced: reduction is the separate aggregation switch (:func:`aggregate`), so any loss
can be combined with any registered aggregation: ``prompt`` (ScaleRL default), ``sample`` or
``token``. Aggregations live in their own registry (:func:`register_aggregation`), as losses do.

``metrics`` are floats over the tokens of the rows passed in (a micro-batch in the update);
their names say how the update combines them over micro-batches: ``*_max`` by max, ``*_min``
by min, ``*_sum``/``n_*`` by sum, anything else as a token mean
(:func:`rlscaling.trainer.update.reduce_metrics`).

The importance ratio is ``rho = exp(logp - old_logp)``; with an off-policy lag the behaviour
policy is an older snapshot and ``rho`` corrects for it.

Examples
--------
>>> import torch
>>> from types import SimpleNamespace
>>> logp = torch.log(torch.tensor([[0.5, 0.25]])).requires_grad_()
>>> old = torch.log(torch.tensor([[0.5, 0.5]]))
>>> per_tok, m = get_loss("cispo")(logp, old, torch.tensor([1.0]), torch.ones(1, 2),
...                                SimpleNamespace(eps_max=5.0))
>>> per_tok.shape
torch.Size([1, 2])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from rlscaling.trainer.registry import Registry

LossFn = Callable[..., tuple[torch.Tensor, dict[str, float]]]
AggregationFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``(mask, group_ids) -> weights``: float ``(B, T)`` mask and ``(B,)`` prompt ids in, ``(B, T)``
per-token weights out, zero where the mask is, summing to 1 when any token is unmasked."""

LOSSES: Registry[LossFn] = Registry("loss")
AGGREGATIONS: Registry[AggregationFn] = Registry("aggregation")


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    """Register a loss with the shared signature under ``name`` (duplicates raise)."""
    return LOSSES.register(name)


def get_loss(name: str) -> LossFn:
    """The loss registered as ``name``; unknown names raise listing the choices."""
    return LOSSES.get(name)


def register_aggregation(name: str) -> Callable[[AggregationFn], AggregationFn]:
    """Register a loss aggregation (per-token weights, see ``AggregationFn``) under ``name``."""
    return AGGREGATIONS.register(name)


def get_aggregation(name: str) -> AggregationFn:
    """The aggregation registered as ``name``; unknown names raise listing the choices."""
    return AGGREGATIONS.get(name)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> float:
    denom = mask.sum().clamp_min(1.0)
    return float((x * mask).sum() / denom)


def _adv2d(adv: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return adv[:, None].expand_as(like) if adv.dim() == 1 else adv


@register_loss("cispo")
def cispo_loss(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, cfg: Any
) -> tuple[torch.Tensor, dict[str, float]]:
    """CISPO: REINFORCE weighted by a stop-gradient, truncated importance weight.

    ``loss_t = -sg(min(rho_t, eps_max)) * A * logp_t`` (ScaleRL Eq. 2; MiniMax-M1). The gradient
    flows through ``logp`` only, so ``d loss_t / d logp_t = -min(rho_t, eps_max) * A``. The
    lower truncation bound is 0. ``cfg.eps_max`` is an absolute cap on ``rho`` (default 5).
    """
    log_ratio = logp.detach() - old_logp  # (B, T)
    rho = torch.exp(log_ratio)  # (B, T)
    weight = rho.clamp(max=cfg.eps_max)  # (B, T), already detached
    a = _adv2d(adv, logp)  # (B, T)
    per_token = -weight * a * logp  # (B, T)
    metrics = {
        "clip_frac": _masked_mean((rho > cfg.eps_max).float(), mask),
        "ratio_mean": _masked_mean(rho, mask),
        "ratio_max": float((rho * mask).max()) if mask.any() else 1.0,
    }
    return per_token, metrics


def _ppo_clip(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    low: float,
    high: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    ratio = torch.exp(logp - old_logp)  # (B, T), gradient through logp
    a = _adv2d(adv, logp)  # (B, T)
    unclipped = ratio * a
    clipped = ratio.clamp(1.0 - low, 1.0 + high) * a
    per_token = -torch.minimum(unclipped, clipped)  # (B, T)
    is_clipped = (clipped < unclipped).float()  # the clipped branch is active (no gradient)
    metrics = {
        "clip_frac": _masked_mean(is_clipped, mask),
        "clip_frac_low": _masked_mean(is_clipped * (ratio < 1.0 - low).float(), mask),
        "clip_frac_high": _masked_mean(is_clipped * (ratio > 1.0 + high).float(), mask),
        "ratio_mean": _masked_mean(ratio.detach(), mask),
    }
    return per_token, metrics


@register_loss("ppo")
def ppo_loss(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, cfg: Any
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO-clip with asymmetric bounds: ``-min(rho A, clip(rho, 1-clip_low, 1+clip_high) A)``.

    With ``clip_high > clip_low`` this is DAPO's clip-higher (DAPO: 0.2 / 0.28).
    """
    return _ppo_clip(logp, old_logp, adv, mask, cfg.clip_low, cfg.clip_high)


@register_loss("grpo")
def grpo_loss(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, cfg: Any
) -> tuple[torch.Tensor, dict[str, float]]:
    """GRPO's surrogate: PPO-clip with the symmetric bound ``clip_low`` on both sides (0.2).

    No KL term (as in ScaleRL and DAPO); the GRPO preset pairs it with sample-level
    aggregation and group-std advantages.
    """
    return _ppo_clip(logp, old_logp, adv, mask, cfg.clip_low, cfg.clip_low)


@register_loss("gspo")
def gspo_loss(
    logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, cfg: Any
) -> tuple[torch.Tensor, dict[str, float]]:
    """GSPO (token form): one length-normalised sequence ratio per sample, clipped.

    ``s_i = exp(mean_t(logp - old_logp))`` over the sample's tokens, used per token as
    ``s_it = sg(s_i) * pi_t / sg(pi_t)`` so the value is ``s_i`` and the gradient is
    ``s_i * grad logp_t``; then PPO-style clipping with ``(gspo_clip_low, gspo_clip_high)``
    (ScaleRL found the 1e-3 scale, e.g. 3e-3 / 5e-3, works).
    """
    lengths = mask.sum(dim=1).clamp_min(1.0)  # (B,)
    seq_log_ratio = ((logp.detach() - old_logp) * mask).sum(dim=1) / lengths  # (B,)
    log_s = seq_log_ratio[:, None] + logp - logp.detach()  # (B, T), value = seq ratio
    s = torch.exp(log_s)  # (B, T)
    a = _adv2d(adv, logp)  # (B, T)
    unclipped = s * a
    clipped = s.clamp(1.0 - cfg.gspo_clip_low, 1.0 + cfg.gspo_clip_high) * a
    per_token = -torch.minimum(unclipped, clipped)  # (B, T)
    metrics = {
        "clip_frac": _masked_mean((clipped < unclipped).float(), mask),
        "ratio_mean": float(torch.exp(seq_log_ratio).mean()),
    }
    return per_token, metrics


@register_aggregation("token")
def token_weights(mask: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """Mean over all tokens of the batch (DAPO)."""
    return mask / mask.sum().clamp_min(1.0)


@register_aggregation("sample")
def sample_weights(mask: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """Mean over each sample's tokens, then mean over the samples that have any (GRPO)."""
    lengths = mask.sum(dim=1)  # (B,)
    n = (lengths > 0).sum().clamp_min(1)
    return mask / (lengths.clamp_min(1.0) * n)[:, None]


@register_aggregation("prompt")
def prompt_weights(mask: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """Mean over the tokens of all samples of a prompt, then mean over prompts (ScaleRL)."""
    _, inverse = torch.unique(group_ids, return_inverse=True)  # (B,) in 0..G-1
    n_groups_all = int(inverse.max()) + 1 if inverse.numel() else 0
    lengths = mask.sum(dim=1)  # (B,)
    group_tokens = torch.zeros(n_groups_all, dtype=mask.dtype, device=mask.device)
    group_tokens.index_add_(0, inverse, lengths)  # (G,)
    n_groups = (group_tokens > 0).sum().clamp_min(1)
    denom = group_tokens[inverse].clamp_min(1.0) * n_groups  # (B,)
    return mask / denom[:, None]


def aggregation_weights(mask: torch.Tensor, group_ids: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-token weights ``w`` such that the aggregated loss is ``sum(per_token * w)``.

    Parameters
    ----------
    mask : (B, T) tensor of 0/1, tokens that enter the loss.
    group_ids : (B,) integer tensor, the prompt each sample belongs to.
    mode : a registered aggregation: ``"prompt"`` (mean over the tokens of all samples of a
        prompt, then mean over prompts; ScaleRL), ``"sample"`` (mean over each sample's
        tokens, then over samples; GRPO), or ``"token"`` (mean over all tokens of the batch;
        DAPO). Unknown names raise a ``ValueError`` listing the choices.

    Writing the reduction as weights lets the update split a batch into micro-batches without
    changing the loss: each micro-batch contributes ``sum(per_token * w)`` over its rows.
    """
    return get_aggregation(mode)(mask.float(), group_ids)


def aggregate(
    per_token: torch.Tensor, mask: torch.Tensor, group_ids: torch.Tensor, mode: str = "prompt"
) -> torch.Tensor:
    """Reduce a ``(B, T)`` per-token loss to a scalar with the chosen aggregation."""
    return (per_token * aggregation_weights(mask, group_ids, mode)).sum()
