"""Advantage estimators and zero-variance filtering.

Estimators share one signature ``(rewards, group_ids, cfg) -> advantages``; ``rewards`` is a
``(N,)`` float tensor, ``group_ids`` a ``(N,)`` integer tensor naming each sample's prompt.

- ``batch_std`` (ScaleRL default): ``A_i = r_i - mean(r of its group)``, then divided by the
  standard deviation of all ``A`` in the batch.
- ``group_std`` (GRPO/DAPO): ``(r_i - group mean) / group std``.
- ``group_centred``: ``r_i - group mean``, no scaling.
- ``none``: the raw reward (plain REINFORCE, no baseline).

The batch passed in is the one that enters the loss: the loop removes zero-variance groups
(:func:`zero_variance_keep`) first when that switch is on, so the batch standard deviation is
taken over the prompts that carry signal.

Examples
--------
>>> import torch
>>> from types import SimpleNamespace
>>> r = torch.tensor([1.0, 0.0, 1.0, 1.0])
>>> g = torch.tensor([0, 0, 1, 1])
>>> zero_variance_keep(r, g).tolist()
[True, True, False, False]
>>> get_advantage("group_centred")(r, g, SimpleNamespace(std_eps=1e-6)).tolist()
[0.5, -0.5, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from rlscaling.trainer.registry import Registry

AdvantageFn = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]

ADVANTAGES: Registry[AdvantageFn] = Registry("advantage")


def register_advantage(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    """Register an advantage estimator under ``name`` (duplicates raise)."""
    return ADVANTAGES.register(name)


def get_advantage(name: str) -> AdvantageFn:
    """The estimator registered as ``name``; unknown names raise listing the choices."""
    return ADVANTAGES.get(name)


def _group_stats(rewards: torch.Tensor, group_ids: torch.Tensor):
    _, inverse = torch.unique(group_ids, return_inverse=True)  # (N,)
    n_groups = int(inverse.max()) + 1 if inverse.numel() else 0
    count = torch.zeros(n_groups, dtype=rewards.dtype, device=rewards.device)
    count.index_add_(0, inverse, torch.ones_like(rewards))
    total = torch.zeros_like(count).index_add_(0, inverse, rewards)
    mean = total / count  # (G,)
    sq = torch.zeros_like(count).index_add_(0, inverse, (rewards - mean[inverse]) ** 2)
    std = torch.sqrt(sq / (count - 1).clamp_min(1.0))  # (G,) unbiased, as in GRPO
    return inverse, mean, std


@register_advantage("batch_std")
def batch_std_advantage(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: Any) -> torch.Tensor:
    """Group-centred reward divided by the batch standard deviation of the centred rewards."""
    inverse, mean, _ = _group_stats(rewards, group_ids)
    centred = rewards - mean[inverse]
    if centred.numel() < 2:
        return centred
    return centred / (centred.std() + cfg.std_eps)


@register_advantage("group_std")
def group_std_advantage(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: Any) -> torch.Tensor:
    """Group-centred reward divided by the group's standard deviation (GRPO)."""
    inverse, mean, std = _group_stats(rewards, group_ids)
    return (rewards - mean[inverse]) / (std[inverse] + cfg.std_eps)


@register_advantage("group_centred")
def group_centred_advantage(
    rewards: torch.Tensor, group_ids: torch.Tensor, cfg: Any
) -> torch.Tensor:
    """Group-centred reward without scaling (Dr. GRPO)."""
    inverse, mean, _ = _group_stats(rewards, group_ids)
    return rewards - mean[inverse]


@register_advantage("none")
def no_advantage(rewards: torch.Tensor, group_ids: torch.Tensor, cfg: Any) -> torch.Tensor:
    """The raw reward: REINFORCE without a baseline."""
    return rewards.clone()


def zero_variance_keep(rewards: torch.Tensor, group_ids: torch.Tensor) -> torch.Tensor:
    """Boolean ``(N,)`` mask: True for samples whose group's rewards are not all equal.

    Groups in which every sample got the same reward carry no signal after centring; ScaleRL
    drops them from the loss (without resampling, unlike DAPO's dynamic sampling).
    """
    _, inverse = torch.unique(group_ids, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if inverse.numel() else 0
    lo = torch.full((n_groups,), float("inf"), dtype=rewards.dtype, device=rewards.device)
    hi = torch.full((n_groups,), float("-inf"), dtype=rewards.dtype, device=rewards.device)
    lo = lo.scatter_reduce(0, inverse, rewards, reduce="amin")
    hi = hi.scatter_reduce(0, inverse, rewards, reduce="amax")
    return (hi > lo)[inverse]
