"""Reward stage: decode each sample's response and score it with the task's verifier.

A truncated response scores 0 (it never finished its answer). The answer is the text after
the task's end-of-thinking marker; a response without it scores 0.
"""

from __future__ import annotations

from typing import Any

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
