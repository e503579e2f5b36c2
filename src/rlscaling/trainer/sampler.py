"""Prompt sampling in epochs, with no-positive-resampling (NPR).

The sampler walks shuffled epochs over the training prompts. With NPR on, it keeps each
prompt's pass-rate history (passes and samples over every group drawn from it); when an epoch
ends, prompts whose historical pass rate has reached ``threshold`` (ScaleRL: 0.9) after at least
``min_groups`` groups are retired and never drawn again. The group that pushed a prompt over the
threshold still trains. If every prompt is retired the sampler re-admits all of them and counts
it in ``readmissions`` rather than stopping the run.

Examples
--------
>>> s = PromptSampler(4, seed=0, npr=True, threshold=0.9)
>>> batch = s.next_batch(4)
>>> sorted(batch)
[0, 1, 2, 3]
>>> for i in batch:
...     s.update(i, passes=8 if i == 0 else 1, samples=8)
>>> 0 in s.next_batch(3)  # new epoch: prompt 0 (pass rate 1.0) is retired
False
"""

from __future__ import annotations

from typing import Any

import numpy as np


class PromptSampler:
    """Epoch-wise prompt sampler with optional no-positive-resampling."""

    def __init__(
        self,
        n_prompts: int,
        seed: int,
        npr: bool = True,
        threshold: float = 0.9,
        min_groups: int = 1,
    ) -> None:
        if n_prompts < 1:
            raise ValueError(f"n_prompts must be >= 1, got {n_prompts}")
        self.n_prompts = n_prompts
        self.npr = npr
        self.threshold = threshold
        self.min_groups = min_groups
        self.rng = np.random.default_rng(seed)
        self.passes = np.zeros(n_prompts, dtype=np.int64)
        self.samples = np.zeros(n_prompts, dtype=np.int64)
        self.groups = np.zeros(n_prompts, dtype=np.int64)
        self.retired = np.zeros(n_prompts, dtype=bool)
        self.epoch = -1
        self.readmissions = 0
        self._order: np.ndarray = np.zeros(0, dtype=np.int64)
        self._pos = 0

    # -- drawing -------------------------------------------------------------------------
    def _new_epoch(self) -> None:
        if self.npr:
            rate = self.passes / np.maximum(self.samples, 1)
            newly = (self.groups >= self.min_groups) & (rate >= self.threshold)
            self.retired |= newly
            if self.retired.all():
                self.retired[:] = False
                self.readmissions += 1
        active = np.flatnonzero(~self.retired)
        self._order = self.rng.permutation(active)
        self._pos = 0
        self.epoch += 1

    def next_batch(self, k: int) -> list[int]:
        """The next ``k`` prompt indices; an epoch boundary inside the batch starts a new one."""
        out: list[int] = []
        while len(out) < k:
            if self._pos >= len(self._order):
                self._new_epoch()
            take = self._order[self._pos : self._pos + (k - len(out))]
            self._pos += len(take)
            out.extend(int(i) for i in take)
        return out

    def update(self, prompt: int, passes: int, samples: int) -> None:
        """Record one group's result for ``prompt``: ``passes`` correct out of ``samples``."""
        self.passes[prompt] += passes
        self.samples[prompt] += samples
        self.groups[prompt] += 1

    # -- reporting and checkpointing -----------------------------------------------------
    @property
    def n_retired(self) -> int:
        return int(self.retired.sum())

    @property
    def n_active(self) -> int:
        return self.n_prompts - self.n_retired

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.bit_generator.state,
            "passes": self.passes.copy(),
            "samples": self.samples.copy(),
            "groups": self.groups.copy(),
            "retired": self.retired.copy(),
            "epoch": self.epoch,
            "readmissions": self.readmissions,
            "order": self._order.copy(),
            "pos": self._pos,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.passes = np.asarray(state["passes"]).copy()
        self.samples = np.asarray(state["samples"]).copy()
        self.groups = np.asarray(state["groups"]).copy()
        self.retired = np.asarray(state["retired"]).copy()
        self.epoch = int(state["epoch"])
        self.readmissions = int(state["readmissions"])
        self._order = np.asarray(state["order"]).copy()
        self._pos = int(state["pos"])
