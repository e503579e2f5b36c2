"""The learner on several ranks: how rank 0 starts the others and what they do for it.

Rank 0 runs a step loop as with one process (generation inline or in the generator process,
scoring, evaluation, logs, checkpoints). The other ranks hold the policy and the optimiser
and serve rank 0's updates (:func:`follow`): each :func:`~rlscaling.trainer.steps.learn` on
rank 0 first hands its samples to them, then every rank runs it on the whole batch and
backpropagates its own rows (:class:`~rlscaling.trainer.distributed.ShardedPolicy`).

Messages from rank 0 (plain data on the control group):

- ``("start", model_dir, optimizer_state, scheduler_state)``: the weights to load (rank 0's
  base model or checkpoint, so ``out_dir`` must be visible to every rank) and the optimiser's
  and scheduler's state, so every rank steps from the same state;
- ``("learn", samples, rewards, prompts)``: one update;
- ``("optimizer_state",)``: FSDP only, gather the sharded optimiser state for a checkpoint;
- ``("stop",)``: rank 0 finished, or failed (its error is raised there).

A checkpoint is always whole (rank 0's model and the full optimiser state in the format one
process writes), so a run resumes at any world size and with either strategy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rlscaling.io import rundir
from rlscaling.trainer.compute import DeviceTimer
from rlscaling.trainer.config import TrainConfig
from rlscaling.trainer.distributed import (
    LearnerGroup,
    ShardedPolicy,
    init_learner_group,
    launched_world_size,
)
from rlscaling.trainer.model import load_model
from rlscaling.trainer.runlog import RunWriter
from rlscaling.trainer.setup import pick_device
from rlscaling.trainer.steps import RunState, learn
from rlscaling.trainer.tasks import make_task_splits
from rlscaling.trainer.update import make_optimizer


def join_group(cfg: TrainConfig) -> LearnerGroup | None:
    """The learner ranks this process belongs to, or None when it runs alone.

    ``torchrun --nproc_per_node N`` (or ``rlscaling train --nproc N``) starts N processes with
    ``WORLD_SIZE=N`` in their environment; each joins the group here.
    """
    if launched_world_size() <= 1:
        return None
    lc = cfg.learner
    return init_learner_group(pick_device(cfg.device), lc.backend, lc.timeout_minutes)


def start_learner(run: RunState) -> None:
    """Rank 0, after :func:`~rlscaling.trainer.steps.setup`: start the other ranks and wrap
    the policy for data parallelism."""
    assert run.group is not None and run.group.is_main
    latest = run.out / rundir.CHECKPOINTS_DIR / "latest" / "model"
    model_dir = latest if run.resumed is not None else run.out / rundir.BASE_MODEL_DIR
    optimizer, scheduler = run.optimizer.state_dict(), run.scheduler.state_dict()
    run.group.send("start", str(model_dir), optimizer, scheduler)
    _wrap(run, optimizer, scheduler)


def join_learner(cfg: TrainConfig, group: LearnerGroup) -> RunState | None:
    """Ranks other than 0: wait for rank 0's start and build the learner's state (None if
    rank 0 stopped before starting)."""
    message = group.receive()
    if message[0] == "stop":
        return None
    _, model_dir, optimizer_state, scheduler_state = message
    out = Path(cfg.out_dir)
    task, train_set, val_set = make_task_splits(cfg.task_configs())
    model, tokenizer = load_model(model_dir, cfg.model.dtype, cfg.model.attn_implementation)
    model.to(group.device)
    optimizer = scheduler = None  # FSDP builds its own over the shards (in _wrap)
    if cfg.learner.strategy == "ddp":
        optimizer, scheduler = make_optimizer(model, cfg.optim)
        optimizer.load_state_dict(optimizer_state)
        scheduler.load_state_dict(scheduler_state)
    # pass counts are recorded on every rank (learn does), prompts drawn on rank 0 only
    run = RunState.fresh(
        cfg,
        model,
        tokenizer,
        device=group.device,
        out=out,
        writer=RunWriter(out),  # never written: rank 0 writes the run directory
        task=task,
        train_set=train_set,
        val_set=val_set,
        optimizer=optimizer,
        scheduler=scheduler,
        evaluator=None,
        prompt_ids=[],
        group=group,
    )
    _wrap(run, optimizer_state, scheduler_state)
    return run


def follow(run: RunState) -> None:
    """Ranks other than 0: serve rank 0's updates until it stops."""
    assert run.group is not None
    while True:
        kind, *args = run.group.receive()
        if kind == "learn":
            learn(run, *args, DeviceTimer(run.device))
        elif kind == "optimizer_state":
            run.optimizer.state_dict()
        elif kind == "stop":
            return
        else:  # pragma: no cover - rank 0 sends only the kinds above
            raise RuntimeError(f"rank {run.group.rank}: unknown message {kind!r} from rank 0")


def stop_followers(group: LearnerGroup) -> None:
    """Rank 0: tell the other ranks to return (at the end of a run, or when it fails)."""
    group.send("stop")


def _wrap(run: RunState, optimizer_state: dict[str, Any], scheduler_state: dict[str, Any]) -> None:
    cfg, group = run.cfg, run.group
    assert group is not None
    run.learner = ShardedPolicy(
        group, run.model, cfg.learner.strategy, cfg.rollout.temperature, cfg.model.fp32_lm_head
    )
    if cfg.learner.strategy == "fsdp":
        run.optimizer, run.scheduler = _sharded_optimizer(run, optimizer_state, scheduler_state)
        if not group.is_main:
            run.model = run.learner.trained  # only rank 0 keeps a whole copy


# ---- FSDP: the optimiser over the sharded parameters, whole state in and out ----


def _sharded_optimizer(
    run: RunState, state: dict[str, Any], scheduler_state: dict[str, Any]
) -> tuple[Any, Any]:
    """AdamW over the learner's FP32 shards, loaded from a one-process optimiser ``state``
    (plain AdamW's, or :class:`~rlscaling.trainer.update.FP32MasterWeights`' with the FP32
    weights under ``"master"``) and the scheduler from ``scheduler_state``."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    assert run.learner is not None
    trained = run.learner.trained
    names = [name for name, p in run.model.named_parameters() if p.requires_grad]
    full = StateDictOptions(full_state_dict=True)
    inner_state, masters = state, "master" in state
    if masters:  # FP32 master weights: the shards take their values
        set_model_state_dict(trained, dict(zip(names, state["master"], strict=True)), options=full)
        inner_state = state["inner"]
    optimizer, scheduler = make_optimizer(trained, run.cfg.optim)  # FP32 shards: plain AdamW
    if inner_state["state"]:  # a fresh AdamW is left fresh: setting an empty state would
        # initialise it with a zero-gradient step (its step count would start at 1)
        set_optimizer_state_dict(trained, optimizer, _by_name(inner_state, names), options=full)
    scheduler.load_state_dict(scheduler_state)
    return GatheredOptimizer(optimizer, run.learner, names, masters), scheduler


class GatheredOptimizer:
    """The sharded optimiser; :meth:`state_dict` gathers it whole, in one process's format.

    ``state_dict`` is a collective: rank 0 asks the other ranks (``("optimizer_state",)``)
    and every rank gathers; rank 0 gets what a one-process optimiser over the whole model
    would hold (with ``masters``, the :class:`~rlscaling.trainer.update.FP32MasterWeights`
    format: the FP32 weights beside AdamW's state), the others an empty dict.
    """

    def __init__(self, inner: Any, learner: ShardedPolicy, names: list[str], masters: bool):
        self.inner, self.learner, self.names, self.masters = inner, learner, names, masters

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.inner.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.inner.step()

    def state_dict(self) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
        )

        group = self.learner.group
        if group.is_main:
            group.send("optimizer_state")
        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        state = get_optimizer_state_dict(self.learner.trained, self.inner, options=opts)
        weights = self.learner.full_state_dict() if self.masters else {}
        if not group.is_main:
            return {}
        indexed = _by_index(state, self.names)
        if not self.masters:
            return indexed
        return {"inner": indexed, "master": [weights[n].float() for n in self.names]}


def _by_name(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """A one-process optimiser state (parameters by position) keyed by parameter name."""
    return {
        "state": {names[int(i)]: v for i, v in state["state"].items()},
        "param_groups": [
            {**g, "params": [names[int(i)] for i in g["params"]]} for g in state["param_groups"]
        ],
    }


def _by_index(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The inverse of :func:`_by_name`."""
    index = {n: i for i, n in enumerate(names)}
    return {
        "state": {index[n]: _plain(v) for n, v in state["state"].items()},
        "param_groups": [
            {**g, "params": [index[n] for n in g["params"]]} for g in state["param_groups"]
        ],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    return value
