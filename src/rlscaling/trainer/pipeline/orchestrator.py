"""The trainer side of the pipeline: what to submit, when to push weights, what to train on.

One switch, ``cfg.rollout.mode``, with ``k = cfg.off_policy_lag`` and ``B`` prompts per step:

``sync``
    submit one batch, wait for all of its groups, train one step, push the new weights.
    Every sample is on-policy (lag 0).
``off_policy_k``
    at steps ``0, k, 2k, ...``: push the weights and submit ``k`` batches, all generated with
    that one policy; the next ``k`` optimiser steps train on them (lags ``0 .. k-1``).
    ``k = 0`` behaves as ``sync``.
``pipeline_k``
    generation never waits for training: ``k + 1`` batches are kept submitted, and after every
    step the new weights are pushed (the generator applies them in flight) and one more batch
    is submitted. A batch submitted after the push of version ``v`` is trained on at step
    ``v + k`` at the latest, so the lag stays within ``k``; any group whose oldest token is
    further behind (an engine that finishes groups out of order can produce one) is dropped,
    counted, and its prompt submitted again.

Batch ``j`` (the batch meant for step ``j``) is sampled with seed ``step_seed(seed, j, 1)``,
the same as the in-process loop's step ``j``, so ``sync`` reproduces ``inline`` with lag 0.
Prompts come from the trainer's :class:`~rlscaling.trainer.sampler.PromptSampler` (its
no-positive-resampling state stays in the trainer).
"""

from __future__ import annotations

import time
from collections import Counter
from itertools import groupby
from typing import Any

from rlscaling.trainer.pipeline.client import GeneratorClient
from rlscaling.trainer.pipeline.messages import (
    FinishedGroup,
    Generate,
    Prompt,
    UpdateWeights,
)
from rlscaling.trainer.steps import RunState, step_seed
from rlscaling.trainer.weights import WeightStore

REPLACEMENT = 4  # seed purpose of a resubmitted prompt (1: rollout batches, 2: evaluation)


def cycle(cfg: Any) -> int:
    """Steps per weight push in ``off_policy_k`` (at least 1)."""
    return max(cfg.off_policy_lag, 1)


def max_lag(cfg: Any) -> int:
    """The largest lag a sample may have when it is trained on, per mode."""
    mode = cfg.rollout.mode
    if mode == "sync":
        return 0
    if mode == "off_policy_k":
        return cycle(cfg) - 1
    return cfg.off_policy_lag


def submit_budget(cfg: Any, extra_batches: int = 0) -> int:
    """The most groups submitted and not yet trained on (bounds the group queue too)."""
    mode = cfg.rollout.mode
    batches = {"sync": 1, "off_policy_k": cycle(cfg)}.get(mode, cfg.off_policy_lag + 1)
    return (batches + extra_batches) * cfg.prompts_per_step


class Orchestrator:
    """Drives one generator for one run (see the module docstring).

    Parameters
    ----------
    run : the trainer's state (config, model, sampler, prompts).
    client : the generator process.
    store : where weight files are written (or, for a fleet with ``weight_sync: broadcast``,
        a store whose ``write`` broadcasts them).
    """

    extra_batches = 0
    """Batches submitted beyond the lag bound (``pipeline_k`` only). More work in flight keeps
    an engine with continuous batching fuller, but the extra groups arrive too stale and are
    dropped; 0 keeps every group within the bound when groups finish in order."""

    def __init__(self, run: RunState, client: GeneratorClient, store: WeightStore) -> None:
        self.run, self.client, self.store = run, client, store
        cfg = run.cfg
        self.mode, self.steps, self.batch = cfg.rollout.mode, cfg.steps, cfg.prompts_per_step
        self.max_lag = max_lag(cfg)
        self.params = run.params
        self.ids = run.prompt_ids
        self.pending: dict[int, tuple[int, int]] = {}  # request id -> (prompt, seed)
        self.next_request = 0
        self.batches = run.start  # batches submitted so far; batch j is meant for step j
        self.pushed = run.start  # newest version sent to the generator
        self.dropped_total = 0
        self.discarded = 0  # groups in flight when the run was stopped, submitted again
        self.push_seconds = 0.0

    # ---- submitting ---------------------------------------------------------------------------
    def plan(self, step: int) -> None:
        """Submit what the mode wants in flight before 0-based ``step`` is trained."""
        if self.mode == "sync":
            target = step + 1
        elif self.mode == "off_policy_k":
            k = cycle(self.run.cfg)
            target = step + k if step % k == 0 else self.batches
        else:
            target = step + self.max_lag + 1 + self.extra_batches
        while self.batches < min(target, self.steps):
            seed = step_seed(self.run.cfg.seed, self.batches, 1)
            self._submit(self.run.sampler.next_batch(self.batch), seed)
            self.batches += 1

    def _submit(self, prompts: list[int], seed: int) -> None:
        """Send ``prompts`` as one request (one seed), recording them as pending."""
        items = []
        for prompt in prompts:
            rid, self.next_request = self.next_request, self.next_request + 1
            self.pending[rid] = (prompt, seed)
            items.append(Prompt(request_id=rid, prompt_index=prompt, prompt_ids=self.ids[prompt]))
        n = self.run.cfg.rollout.n_samples
        self.client.send(Generate(prompts=items, n=n, seed=seed, params=self.params))

    # ---- weights ------------------------------------------------------------------------------
    def after_update(self, version: int) -> None:
        """The policy is now ``version``: push it if the mode says so, then submit more."""
        if version >= self.steps:
            return
        if self.mode != "off_policy_k" or version % cycle(self.run.cfg) == 0:
            t0 = time.perf_counter()
            path = self.store.write(self.run.model, version)
            # a broadcast store has started sending the weights: the generators receive them
            broadcast = getattr(self.store, "broadcast", False)
            self.client.send(UpdateWeights(version=version, path=path, broadcast=broadcast))
            self.pushed = version
            # files older than what the generator has confirmed loading are no longer needed
            self.store.release_before(self.client.loaded_version)
            self.push_seconds += time.perf_counter() - t0
        self.plan(version)

    # ---- receiving ----------------------------------------------------------------------------
    def take(self, step: int) -> tuple[list[FinishedGroup], list[FinishedGroup]]:
        """``B`` groups to train 0-based ``step`` on, in submission order, and the groups
        dropped on the way for lagging more than the bound (their prompts are resubmitted)."""
        kept: list[FinishedGroup] = []
        dropped: list[FinishedGroup] = []
        while len(kept) < self.batch:
            group = self.client.next_group()
            prompt, _ = self.pending.pop(group.request_id)
            if step - group.version > self.max_lag:
                dropped.append(group)
                self._submit([prompt], step_seed(self.run.cfg.seed, group.request_id, REPLACEMENT))
            else:
                kept.append(group)
        self.dropped_total += len(dropped)
        return sorted(kept, key=lambda g: g.request_id), dropped

    def staleness_hist(self, step: int, groups: list[FinishedGroup]) -> list[int]:
        """Samples trained at ``step`` by lag ``0 .. max_lag`` (oldest token of each)."""
        lags = Counter(step - min(s.versions) for g in groups for s in g.samples if s.versions)
        return [lags.get(lag, 0) for lag in range(self.max_lag + 1)]

    # ---- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Submitted-but-untrained prompts are saved; a resumed run submits them again."""
        return {
            "pending": [(p, s) for p, s in self.pending.values()],
            "batches": self.batches,
            "dropped_total": self.dropped_total,
            "discarded": self.discarded,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batches = int(state["batches"])
        self.dropped_total = int(state["dropped_total"])
        self.discarded = int(state["discarded"]) + len(state["pending"])
        # consecutive prompts with one seed were one request: send them together again
        for seed, run in groupby(state["pending"], key=lambda item: int(item[1])):
            self._submit([int(prompt) for prompt, _ in run], seed)
