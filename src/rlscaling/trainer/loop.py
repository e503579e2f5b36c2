"""``train(config)``: the RL loop, one bannered stage per step part.

Each step: sample prompts -> rollout -> reward -> filter + advantage -> update -> sync ->
eval/log -> checkpoint. Every stage is a call into its own module; the trainer-side stages are
shared with the pipeline (:mod:`rlscaling.trainer.steps`). ``rollout.mode`` picks where
generation happens: ``inline`` (this file) generates in the trainer's process with a held
snapshot of the weights; ``sync``, ``off_policy_k`` and ``pipeline_k`` run a separate
generator process (:mod:`rlscaling.trainer.pipeline`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from rlscaling.io.rundir import EVAL_FILE
from rlscaling.trainer.compute import DeviceTimer
from rlscaling.trainer.config import TrainConfig, load_config
from rlscaling.trainer.distributed import LearnerGroup
from rlscaling.trainer.learner import (
    follow,
    join_group,
    join_learner,
    start_learner,
    stop_followers,
)
from rlscaling.trainer.rewards import score_samples
from rlscaling.trainer.rollout import get_engine
from rlscaling.trainer.runlog import read_jsonl
from rlscaling.trainer.steps import RunState, finish_step, learn, setup, step_seed


@dataclass(frozen=True)
class RunResult:
    """Where the run was written and its evaluation curve."""

    out_dir: Path
    steps: int
    evals: list[dict[str, Any]]

    @property
    def final_reward(self) -> float:
        return self.evals[-1]["reward"] if self.evals else float("nan")


def train(config: TrainConfig | dict | str | Path) -> RunResult:
    """Run RL training as configured; resume from ``<out_dir>/checkpoints`` if present.

    Started by ``torchrun`` with several processes, every process calls this: rank 0 runs the
    loop below and the others serve its updates (:mod:`rlscaling.trainer.learner`).
    """
    cfg = config if isinstance(config, TrainConfig) else _as_config(config)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    group = join_group(cfg)
    if group is not None and not group.is_main:
        follower = join_learner(cfg, group)
        if follower is not None:
            follow(follower)
        del follower
    else:
        _train_main(cfg, group)
    # A rank that fails raises without reaching here: torchrun (or torch.multiprocessing)
    # then ends the other ranks, which may be waiting inside a collective.
    if group is not None:
        group.close()  # the wrapped model is out of reach by now: close() frees it first
    return RunResult(Path(cfg.out_dir), cfg.steps, read_jsonl(Path(cfg.out_dir) / EVAL_FILE))


def _train_main(cfg: TrainConfig, group: LearnerGroup | None) -> None:
    """The loop of a run alone, or of rank 0 of several learner ranks."""
    run = setup(cfg, group)
    if group is not None:
        start_learner(run)
    if cfg.rollout.mode == "inline":
        _train_inline(run)
    else:
        from rlscaling.trainer.pipeline import train_pipeline

        train_pipeline(run)
    if group is not None:
        stop_followers(group)


def _train_inline(run: RunState) -> None:
    """Generation in this process, with a snapshot of the weights lagging up to k steps."""
    cfg, model, tokenizer = run.cfg, run.model, run.tokenizer
    longest = max(len(ids) for ids in run.prompt_ids)
    engine = get_engine(cfg.rollout.engine).from_config(model, cfg, max_prompt_tokens=longest)
    if run.resumed is not None:
        engine.load_state_dict(run.resumed["engine"])
    bar = tqdm(total=cfg.steps, initial=run.start, disable=not cfg.progress, desc="train")
    for step in range(run.start, cfg.steps):
        timer = DeviceTimer(run.device)
        # ---- 1. sample prompts ---------------------------------------------------------
        batch_idx = run.sampler.next_batch(cfg.prompts_per_step)

        # ---- 2. rollout (possibly with a stale snapshot: staleness = step - version) ---
        with timer:
            samples = engine.generate(
                [run.prompt_ids[i] for i in batch_idx],
                batch_idx,
                cfg.rollout.n_samples,
                run.params,
                step_seed(cfg.seed, step, 1),
            )

        # ---- 3. reward -------------------------------------------------------------------
        marker = cfg.task.answer_marker
        rewards = score_samples(samples, run.train_set, run.task, tokenizer, marker)

        # ---- 4-5. filter zero-variance groups, advantages, update ------------------------
        kept, metrics = learn(run, samples, rewards, batch_idx, timer)

        # ---- 6. sync: refresh the generator's weights once the lag would exceed k ---------
        if (step + 1) - engine.version > cfg.off_policy_lag:
            engine.update_weights(model, step + 1)

        # ---- 7-8. compute, log, evaluate and checkpoint (shared with the pipeline) --------
        g_tok = sum(len(smp.response_ids) for smp in samples)
        finish_step(
            run,
            step,
            samples,
            kept,
            rewards,
            len(batch_idx),
            prompt_tokens=sum(len(smp.prompt_ids) for smp in samples),
            gen_tokens=g_tok,
            device_seconds=timer.seconds,
            columns={
                "tokens_per_second": g_tok / max(timer.seconds, 1e-9),
                "step_seconds": timer.seconds,
            },
            metrics=metrics,
            checkpoint_state=lambda: {"engine": engine.state_dict()},
            bar=bar,
        )
    bar.close()
    engine.close()  # a vLLM engine runs in this process: free it before returning


def _as_config(config: dict | str | Path) -> TrainConfig:
    if isinstance(config, dict):
        return TrainConfig(**config)
    return load_config(config)


def clear_run(out_dir: str | Path) -> None:
    """Delete a run directory (used by ``--overwrite``)."""
    path = Path(out_dir)
    if path.exists():
        shutil.rmtree(path)
