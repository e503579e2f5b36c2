"""Reward stage: decode each sample's response and score it with the task's verifier.

A truncated response scores 0 (it never finished its answer). The answer is the text after
the task's end-of-thinking marker; a response without it scores 0.

:func:`length_penalty` is the overlong reward shaping that ScaleRL compares with interruption
(paper Sec. 4, App. A.10; DAPO's "soft overlong punishment"): a correct response of ``L``
tokens gets ``clip((L_max - L) / L_cache - 1, -1, 0)`` added, i.e. nothing up to
``L_max - L_cache`` tokens, then a penalty growing linearly to -1 at ``L_max``.
"""

from __future__ import annotations

from typing import Any

import torch

from rlscaling.trainer.rollout.base import Sample
from rlscaling.trainer.tasks import Problem, Task, score


def score_samples(
    samples: list[Sample],
    problems: list[Problem],
    task: Task,
    tokenizer: Any,
    marker: str | None,
) -> list[float]:
    """Set ``sample.text`` and ``sample.reward`` for every sample; return the rewards."""
    rewards = []
    for s in samples:
        ids = s.response_ids if s.text_ids is None else s.text_ids
        s.text = tokenizer.decode(ids, skip_special_tokens=False)
        s.reward = 0.0 if s.truncated else score(task, s.text, problems[s.prompt_index], marker)
        rewards.append(s.reward)
    return rewards


def length_penalty(
    lengths: torch.Tensor, rewards: torch.Tensor, max_len: int, cache_len: int
) -> torch.Tensor:
    """The overlong penalty ``clip((max_len - L) / cache_len - 1, -1, 0)`` of each response.

    Applied to correct responses only (``rewards > 0``), as ScaleRL does; 0 elsewhere.
    ``lengths`` and ``rewards`` are ``(N,)``; returns ``(N,)`` to add to the rewards.

    Examples
    --------
    >>> length_penalty(torch.tensor([10, 13, 14, 16, 16]), torch.tensor([1.0, 1, 1, 1, 0]), 16, 4)
    tensor([ 0.0000, -0.2500, -0.5000, -1.0000,  0.0000])
    """
    pen = ((max_len - lengths.to(torch.float32)) / cache_len - 1.0).clamp(-1.0, 0.0)
    return torch.where(rewards > 0, pen, torch.zeros_like(pen))
