"""The trainer-side parts of a step, shared by the in-process loop and the pipeline.

:func:`setup` builds (or restores from ``checkpoints/latest``) everything the trainer owns:
model, optimiser, prompt sampler, compute ledger, evaluator, run directory. Per step,
:func:`learn` turns scored samples into one optimiser step (no-positive-resampling update,
zero-variance filter, advantages, policy update); :func:`finish_step` is the tail both loops
end a step with (compute ledger, the ``train.jsonl`` row from :func:`step_record`, evaluation
and checkpoint when due). Generation is not here: the in-process loop calls an engine, the
pipeline a generator process.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlscaling.io import rundir
from rlscaling.trainer import checkpoint as ckpt
from rlscaling.trainer.advantages import get_advantage, zero_variance_keep
from rlscaling.trainer.compute import (
    ComputeLedger,
    DeviceTimer,
    reset_peak_memory,
    step_flops,
    update_memory,
)
from rlscaling.trainer.config import TrainConfig
from rlscaling.trainer.distributed import LearnerGroup, ShardedPolicy
from rlscaling.trainer.evaluate import evaluate
from rlscaling.trainer.model import count_params, load_model, matmul_params
from rlscaling.trainer.policy import collate
from rlscaling.trainer.prompts import PromptFormat, prompt_format
from rlscaling.trainer.rewards import length_penalty
from rlscaling.trainer.rollout import get_engine
from rlscaling.trainer.rollout.base import RolloutEngine, Sample, SamplingParams
from rlscaling.trainer.runlog import RunWriter, read_jsonl
from rlscaling.trainer.sampler import PromptSampler
from rlscaling.trainer.setup import base_model, pick_device, run_meta, sampling_params
from rlscaling.trainer.tasks import Problem, Task, make_task_splits
from rlscaling.trainer.update import make_optimizer, policy_update

# what may change when a run resumes (a checkpoint resumes at any world size and strategy,
# and with any fleet of generators)
RESUME_FREE = {"steps", "progress", "threads", "checkpoint_every", "learner", "fleet"}


def step_seed(*parts: int) -> int:
    """A 32-bit seed derived from ``parts`` (e.g. run seed, step, purpose)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


@dataclass
class RunState:
    """What the trainer holds for a run; ``start`` is the first step to train."""

    cfg: TrainConfig
    device: torch.device
    out: Path
    writer: RunWriter
    task: Task
    train_set: list[Problem]
    val_set: list[Problem]
    model: Any
    tokenizer: Any
    optimizer: Any  # torch.optim.Optimizer or update.FP32MasterWeights
    scheduler: Any
    sampler: PromptSampler
    ledger: ComputeLedger
    evaluator: RolloutEngine | None  # None on the learner ranks other than 0
    params: SamplingParams
    prompt_ids: list[list[int]]
    n_flops_params: int
    prompt_format: PromptFormat | None = None
    val_prompt_ids: list[list[int]] | None = None
    start: int = 0
    resumed: dict[str, Any] | None = field(default=None, repr=False)
    group: LearnerGroup | None = None  # several learner ranks (torchrun); None: one process
    learner: ShardedPolicy | None = field(default=None, repr=False)

    @classmethod
    def fresh(cls, cfg: TrainConfig, model: Any, tokenizer: Any, **rest: Any) -> RunState:
        """A state whose bookkeeping is made new from ``cfg``, ``model`` and ``tokenizer``:
        the prompt sampler (over ``rest["train_set"]``), an empty compute ledger, the sampling
        parameters and the FLOPs parameter count; ``rest`` holds the other fields."""
        s = cfg.sampler
        return cls(
            cfg=cfg,
            model=model,
            tokenizer=tokenizer,
            sampler=PromptSampler(
                len(rest["train_set"]), cfg.seed, s.npr, s.npr_threshold, s.npr_min_groups
            ),
            ledger=ComputeLedger(),
            params=sampling_params(cfg, tokenizer),
            n_flops_params=matmul_params(model),
            **rest,
        )


def setup(cfg: TrainConfig, group: LearnerGroup | None = None) -> RunState:
    """Build the trainer's state; restore it from the latest checkpoint if there is one.

    A fresh run writes ``run.json`` and the step-0 evaluation; a resumed run cuts its logs
    back to the checkpoint's step. ``RunState.resumed`` is the checkpoint's state dict (the
    caller restores what it owns from it, e.g. the engine or the pipeline). With a ``group``
    of learner ranks this is rank 0's setup (the others join through
    :mod:`rlscaling.trainer.learner`).
    """
    device = group.device if group is not None else pick_device(cfg.device)
    out = Path(cfg.out_dir)
    writer = RunWriter(out)
    task, train_set, val_set = make_task_splits(cfg.task_configs())
    resume = ckpt.latest(out)  # repairs an interrupted checkpoint swap; raises if unusable
    if resume is not None:
        check_same_run(cfg, writer)
        model, tokenizer = load_model(
            resume / "model", cfg.model.dtype, cfg.model.attn_implementation
        )
        model.to(device)
    else:
        refuse_to_erase(writer)
        writer.reset()
        model, tokenizer, base_info = base_model(cfg, task, train_set, val_set, device)
    optimizer, scheduler = make_optimizer(model, cfg.optim)
    fmt = prompt_format(cfg, tokenizer, task)
    run = RunState.fresh(
        cfg,
        model,
        tokenizer,
        device=device,
        out=out,
        writer=writer,
        task=task,
        train_set=train_set,
        val_set=val_set,
        optimizer=optimizer,
        scheduler=scheduler,
        evaluator=get_engine("torch")(model, hold_snapshot=False),
        prompt_ids=[fmt.encode(tokenizer, p) for p in train_set],
        prompt_format=fmt,
        val_prompt_ids=[fmt.encode(tokenizer, p) for p in val_set],
        group=group,
    )
    if resume is not None:
        state = ckpt.load_state(resume)
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        run.sampler.load_state_dict(state["sampler"])
        run.ledger.load_state_dict(state["ledger"])
        ckpt.set_rng_state(state["rng"])
        run.start, run.resumed = int(state["step"]), state
        rewound = writer.truncate_after(run.start)
        if rewound:
            warnings.warn(
                f"resuming {out} from the checkpoint of step {run.start}: {rewound} log lines "
                f"written after it will be written again; the old lines are kept in "
                f"{writer.rewound_path.name}",
                stacklevel=2,
            )
    else:
        meta = run_meta(cfg, task.name, run.n_flops_params, count_params(model), base_info)
        writer.write_run(meta)
        evaluate_and_log(run, 0)
    return run


def learn(
    run: RunState,
    samples: list[Sample],
    rewards: list[float],
    prompts: list[int],
    timer: DeviceTimer,
) -> tuple[list[Sample], dict[str, Any]]:
    """One optimiser step on scored samples (``n`` consecutive samples per prompt).

    Records each group's pass count in the prompt sampler, drops zero-variance groups (if
    configured), computes advantages over what is kept and updates the policy (timed by
    ``timer``). With ``rollout.length_control = "length_penalty"`` the overlong penalty
    (:func:`~rlscaling.trainer.rewards.length_penalty`) is added to the rewards the filter and
    the advantages see; pass counts (NPR) and the logged ``reward`` stay the verifier's.
    Returns the kept samples and the update's metrics (empty if nothing was kept), on CUDA
    with the update's memory (:func:`~rlscaling.trainer.compute.update_memory`).

    With several learner ranks, rank 0 hands its arguments to the others first, every rank
    runs this same code on the whole batch (so filtering and advantages are global) and each
    backpropagates its share of the rows; ``timer`` gets the update time of every rank.
    """
    cfg = run.cfg
    if run.group is not None and run.group.is_main:
        run.group.send("learn", samples, rewards, prompts)
    reward = torch.tensor(rewards)
    groups = torch.tensor([smp.prompt_index for smp in samples])
    n = cfg.rollout.n_samples
    for g, i in enumerate(prompts):  # pass counts: the verifier's rewards, before shaping
        run.sampler.update(i, int((reward[g * n : (g + 1) * n] > 0).sum()), n)
    shaping: dict[str, Any] = {}
    r = cfg.rollout
    if r.length_control == "length_penalty":
        lengths = torch.tensor([len(smp.response_ids) for smp in samples])
        pen = length_penalty(
            lengths, reward, r.think_budget + r.answer_budget, r.length_penalty_window
        )
        reward = reward + pen
        shaping = {
            "length_penalty_mean": float(pen.mean()),
            "length_penalized_frac": float((pen < 0).float().mean()),
        }

    keep = (
        zero_variance_keep(reward, groups)
        if cfg.advantage.zero_variance_filter
        else torch.ones_like(reward, dtype=torch.bool)
    )
    kept = [smp for smp, k in zip(samples, keep.tolist(), strict=True) if k]
    if not kept:
        return kept, shaping
    adv = get_advantage(cfg.advantage.name)(reward[keep], groups[keep], cfg.advantage)
    batch = collate(
        [smp.prompt_ids for smp in kept],
        [smp.response_ids for smp in kept],
        run.tokenizer.pad_token_id,
        [smp.loss_mask for smp in kept],
        [smp.logprobs for smp in kept],
    ).to(run.device)
    update = DeviceTimer(run.device)
    # the update's own peak: generation, evaluation and earlier steps are left out of it
    reset_peak_memory(run.device)
    with update:
        metrics = policy_update(
            run.model,
            run.optimizer,
            run.scheduler,
            batch,
            adv.to(run.device),
            groups[keep].to(run.device),
            cfg,
            run.learner,
        )
        if run.learner is not None:
            run.learner.gather_into(run.model)  # FSDP: rank 0's whole copy for generation
    # device-seconds of every device: the update ran on each rank
    timer.seconds += update.seconds if run.group is None else run.group.sum(update.seconds)
    return kept, {**shaping, **metrics, **update_memory(run.device)}


def step_record(
    run: RunState,
    step: int,
    samples: list[Sample],
    kept: list[Sample],
    rewards: list[float],
    n_prompts: int,
) -> dict[str, Any]:
    """The ``train.jsonl`` columns every mode writes for ``step`` (0-based) after the ledger
    has been updated; staleness is ``step - version`` of each sample's oldest token."""
    g_tok = sum(len(smp.response_ids) for smp in samples)
    kept_prompts = len({smp.prompt_index for smp in kept})
    stale = [step - smp.version for smp in samples]
    return {
        "step": step + 1,
        "compute": run.ledger.flops,
        "device_seconds": run.ledger.device_seconds,
        "tokens": run.ledger.tokens,
        "reward": float(torch.tensor(rewards).mean()),
        "kept_prompts": kept_prompts,
        "filtered_prompts": n_prompts - kept_prompts,
        "active_prompts": run.sampler.n_active,
        "retired_prompts": run.sampler.n_retired,
        "truncated_frac": sum(smp.truncated for smp in samples) / len(samples),
        "interrupted_frac": sum(smp.interrupted for smp in samples) / len(samples),
        "mean_response_len": g_tok / len(samples),
        "staleness_mean": sum(stale) / len(stale),
        "staleness_max": max(stale),
    }


def finish_step(
    run: RunState,
    step: int,
    samples: list[Sample],
    kept: list[Sample],
    rewards: list[float],
    n_prompts: int,
    *,
    prompt_tokens: int,
    gen_tokens: int,
    device_seconds: float,
    columns: dict[str, Any],
    metrics: dict[str, Any],
    checkpoint_state: Callable[[], dict[str, Any]],
    bar: Any = None,
) -> float | None:
    """Stages 7-8 of 0-based ``step``, the same in every mode: compute, log, evaluate, checkpoint.

    Adds the step's FLOPs (``prompt_tokens`` and ``gen_tokens`` generated, the kept samples
    trained) and ``device_seconds`` to the ledger; appends the ``train.jsonl`` row: the common
    columns (:func:`step_record`), then the mode's own ``columns``, then the update's
    ``metrics``; evaluates when ``eval_every`` says so and checkpoints when
    ``checkpoint_every`` does, with ``checkpoint_state()`` (called only then: it may copy
    weights) as the generation side's state. Returns the evaluation reward, or None.
    """
    cfg = run.cfg
    t_tok = sum(len(smp.prompt_ids) + len(smp.response_ids) for smp in kept)
    flops = step_flops(run.n_flops_params, prompt_tokens, gen_tokens, t_tok)
    run.ledger.add(flops, device_seconds, gen_tokens)
    record = step_record(run, step, samples, kept, rewards, n_prompts)
    run.writer.append_train({**record, **columns, **metrics})
    reward = None
    if due(cfg.eval_every, step, cfg.steps):
        reward = evaluate_and_log(run, step + 1)
        if bar is not None:
            bar.set_postfix(reward=f"{reward:.3f}")
    if due(cfg.checkpoint_every, step, cfg.steps):
        save_checkpoint(run, step, **checkpoint_state())
    if bar is not None:
        bar.update(1)
    return reward


def evaluate_and_log(run: RunState, step: int) -> float:
    """Evaluate the trainer's current model on the validation split; append to eval.jsonl."""
    cfg = run.cfg
    run.evaluator.version = step
    res = evaluate(
        run.evaluator,
        run.tokenizer,
        run.task,
        run.val_set,
        run.params,
        cfg.eval_samples,
        step_seed(cfg.seed, step, 2),
        cfg.task.answer_marker,
        prompt_ids=run.val_prompt_ids,
    )
    per_task: dict[str, Any] = {}
    for label, (reward, n_prompts) in res["by_task"].items():  # a multi-task run
        per_task[rundir.task_reward_key(label)] = reward
        per_task[rundir.task_prompts_key(label)] = n_prompts
    run.writer.append_eval(
        {
            "step": step,
            "compute": run.ledger.flops,
            "device_seconds": run.ledger.device_seconds,
            "reward": res["reward"],
            "n_prompts": res["n_prompts"],
            "n_samples": res["n_samples"],
            "tokens": run.ledger.tokens,
            "truncated_frac": res["truncated_frac"],
            "mean_len": res["mean_len"],
            **per_task,
        }
    )
    return res["reward"]


def due(every: int, step: int, last: int) -> bool:
    """Whether something done every ``every`` steps is due after 0-based ``step``."""
    return (step + 1) % every == 0 or step + 1 == last


def save_checkpoint(run: RunState, step: int, **extra: Any) -> None:
    """Checkpoint after 0-based ``step``; ``extra`` holds the generation side's state."""
    state = {
        "step": step + 1,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "sampler": run.sampler.state_dict(),
        "ledger": run.ledger.state_dict(),
        "config": run.cfg.model_dump(mode="json"),
        **extra,
    }
    ckpt.save(run.out, run.model, run.tokenizer, state)


def refuse_to_erase(writer: RunWriter) -> None:
    """Refuse to start a run over in a directory whose logs hold more than step 0.

    Starting over rewrites ``eval.jsonl`` from step 0. Without a checkpoint that is only safe
    when nothing beyond the step-0 evaluation (which the new start writes again) would be lost.
    """
    later = [r for r in read_jsonl(writer.eval_path) if r.get("step", 0) > 0]
    later += [r for r in read_jsonl(writer.train_path) if r.get("step", 0) > 0]
    if later:
        last = max(int(r.get("step", 0)) for r in later)
        raise ckpt.CheckpointError(
            f"{writer.dir} holds logs up to step {last} but no checkpoint to resume from; "
            "starting over would erase them. Use a new out_dir, or move this directory away "
            "to start the run from step 0."
        )


def check_same_run(cfg: TrainConfig, writer: RunWriter) -> None:
    """Refuse to resume a run directory with a different configuration."""
    if not writer.run_path.exists():
        return
    old = json.loads(writer.run_path.read_text())["config"]
    try:
        # Read the old config through today's schema: a field added since (with its default)
        # or a renamed one migrated by the config's validators is not a difference.
        old = TrainConfig.model_validate(old).model_dump(mode="json")
    except ValueError:
        pass  # not valid today: compare as written (it will differ)
    new = cfg.model_dump(mode="json")
    diff = sorted(
        k for k in set(old) | set(new) if k not in RESUME_FREE and old.get(k) != new.get(k)
    )
    if diff:
        raise ValueError(
            f"{writer.dir} holds a run with a different config (differs in: {', '.join(diff)}); "
            "use a new out_dir, or delete the directory to start over"
        )
