"""``train(config)``: the RL loop, one bannered stage per step part.

Each step: sample prompts -> rollout -> reward -> filter + advantage -> update -> sync ->
eval/log -> checkpoint. Every stage is a call into its own module; this file only wires them
and writes the run directory (see :mod:`rlscaling.trainer.runlog`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from rlscaling.trainer import checkpoint as ckpt
from rlscaling.trainer.advantages import get_advantage, zero_variance_keep
from rlscaling.trainer.compute import ComputeLedger, DeviceTimer, step_flops
from rlscaling.trainer.config import TrainConfig, load_config
from rlscaling.trainer.evaluate import evaluate
from rlscaling.trainer.model import count_params, load_model, matmul_params
from rlscaling.trainer.policy import collate
from rlscaling.trainer.rewards import score_samples
from rlscaling.trainer.rollout import get_engine
from rlscaling.trainer.runlog import RunWriter, read_jsonl
from rlscaling.trainer.sampler import PromptSampler
from rlscaling.trainer.setup import base_model, pick_device, run_meta, sampling_params
from rlscaling.trainer.tasks import make_splits
from rlscaling.trainer.update import make_optimizer, policy_update

RESUME_FREE = {"steps", "progress", "threads", "checkpoint_every"}


@dataclass(frozen=True)
class RunResult:
    """Where the run was written and its evaluation curve."""

    out_dir: Path
    steps: int
    evals: list[dict[str, Any]]

    @property
    def final_reward(self) -> float:
        return self.evals[-1]["reward"] if self.evals else float("nan")


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def train(config: TrainConfig | dict | str | Path) -> RunResult:
    """Run RL training as configured; resume from ``<out_dir>/checkpoints`` if present."""
    cfg = config if isinstance(config, TrainConfig) else _as_config(config)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device, out = pick_device(cfg.device), Path(cfg.out_dir)
    writer = RunWriter(out)
    task, train_set, val_set = make_splits(cfg.task)
    marker = cfg.task.answer_marker

    # ---- setup: model, optimiser, sampler, engines; resume if a checkpoint exists ----------
    resume = ckpt.latest(out)
    if resume is not None:
        _check_same_run(cfg, writer)
        model, tokenizer = load_model(
            resume / "model", cfg.model.dtype, cfg.model.attn_implementation
        )
        model.to(device)
    else:
        writer.reset()
        model, tokenizer, base_info = base_model(cfg, task, train_set, val_set, device)
    n_flops_params = matmul_params(model)
    optimizer, scheduler = make_optimizer(model, cfg.optim)
    s = cfg.sampler
    sampler = PromptSampler(len(train_set), cfg.seed, s.npr, s.npr_threshold, s.npr_min_groups)
    engine = get_engine(cfg.rollout.engine).from_config(model, cfg)
    evaluator = get_engine("torch")(model, hold_snapshot=False)
    params = sampling_params(cfg, tokenizer)
    ledger = ComputeLedger()
    adv_fn = get_advantage(cfg.advantage.name)
    prompt_ids = [tokenizer(p.prompt)["input_ids"] for p in train_set]
    start = 0
    if resume is not None:
        state = ckpt.load_state(resume)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.load_state_dict(state["sampler"])
        engine.load_state_dict(state["engine"])
        ledger.load_state_dict(state["ledger"])
        ckpt.set_rng_state(state["rng"])
        start = int(state["step"])
        writer.truncate_after(start)
    else:
        meta = run_meta(cfg, task.name, n_flops_params, count_params(model), base_info)
        writer.write_run(meta)
        _evaluate_and_log(cfg, 0, evaluator, tokenizer, task, val_set, params, ledger, writer)

    bar = tqdm(total=cfg.steps, initial=start, disable=not cfg.progress, desc="train")
    for step in range(start, cfg.steps):
        timer = DeviceTimer(device)
        # ---- 1. sample prompts ---------------------------------------------------------
        batch_idx = sampler.next_batch(cfg.prompts_per_step)

        # ---- 2. rollout (possibly with a stale snapshot: staleness = step - version) ---
        with timer:
            samples = engine.generate(
                [prompt_ids[i] for i in batch_idx],
                batch_idx,
                cfg.rollout.n_samples,
                params,
                _seed(cfg.seed, step, 1),
            )

        # ---- 3. reward -------------------------------------------------------------------
        rewards = torch.tensor(score_samples(samples, train_set, task, tokenizer, marker))
        groups = torch.tensor([smp.prompt_index for smp in samples])
        n = cfg.rollout.n_samples
        for g, i in enumerate(batch_idx):
            sampler.update(i, int(rewards[g * n : (g + 1) * n].sum()), n)

        # ---- 4. filter zero-variance groups, then advantages over what is kept ------------
        keep = (
            zero_variance_keep(rewards, groups)
            if cfg.advantage.zero_variance_filter
            else torch.ones_like(rewards, dtype=torch.bool)
        )
        kept = [smp for smp, k in zip(samples, keep.tolist(), strict=True) if k]

        # ---- 5. update --------------------------------------------------------------------
        metrics: dict[str, Any] = {}
        if kept:
            adv = adv_fn(rewards[keep], groups[keep], cfg.advantage)
            batch = collate(
                [smp.prompt_ids for smp in kept],
                [smp.response_ids for smp in kept],
                tokenizer.pad_token_id,
                [smp.loss_mask for smp in kept],
                [smp.logprobs for smp in kept],
            ).to(device)
            with timer:
                metrics = policy_update(
                    model, optimizer, scheduler, batch, adv.to(device), groups[keep].to(device), cfg
                )

        # ---- 6. sync: refresh the generator's weights once the lag would exceed k ---------
        if (step + 1) - engine.version > cfg.off_policy_lag:
            engine.update_weights(model, step + 1)

        # ---- 7. compute, log and evaluate -------------------------------------------------
        p_tok = sum(len(smp.prompt_ids) for smp in samples)
        g_tok = sum(len(smp.response_ids) for smp in samples)
        t_tok = sum(len(smp.prompt_ids) + len(smp.response_ids) for smp in kept)
        ledger.add(step_flops(n_flops_params, p_tok, g_tok, t_tok), timer.seconds, g_tok)
        stale = [step - smp.version for smp in samples]
        writer.append_train(
            {
                "step": step + 1,
                "compute": ledger.flops,
                "device_seconds": ledger.device_seconds,
                "tokens": ledger.tokens,
                "reward": float(rewards.mean()),
                "kept_prompts": len({smp.prompt_index for smp in kept}),
                "filtered_prompts": len(batch_idx) - len({smp.prompt_index for smp in kept}),
                "active_prompts": sampler.n_active,
                "retired_prompts": sampler.n_retired,
                "truncated_frac": sum(smp.truncated for smp in samples) / len(samples),
                "interrupted_frac": sum(smp.interrupted for smp in samples) / len(samples),
                "mean_response_len": g_tok / len(samples),
                "staleness_mean": sum(stale) / len(stale),
                "staleness_max": max(stale),
                "tokens_per_second": g_tok / max(timer.seconds, 1e-9),
                "step_seconds": timer.seconds,
                **metrics,
            }
        )
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            last = _evaluate_and_log(
                cfg, step + 1, evaluator, tokenizer, task, val_set, params, ledger, writer
            )
            bar.set_postfix(reward=f"{last:.3f}")

        # ---- 8. checkpoint ----------------------------------------------------------------
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            state = {
                "step": step + 1,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "sampler": sampler.state_dict(),
                "engine": engine.state_dict(),
                "ledger": ledger.state_dict(),
                "config": cfg.model_dump(mode="json"),
            }
            ckpt.save(out, model, tokenizer, state)
        bar.update(1)
    bar.close()
    return RunResult(out, cfg.steps, read_jsonl(writer.eval_path))


def _evaluate_and_log(cfg, step, evaluator, tokenizer, task, val, params, ledger, writer) -> float:
    evaluator.version = step
    res = evaluate(
        evaluator,
        tokenizer,
        task,
        val,
        params,
        cfg.eval_samples,
        _seed(cfg.seed, step, 2),
        cfg.task.answer_marker,
    )
    writer.append_eval(
        {
            "step": step,
            "compute": ledger.flops,
            "device_seconds": ledger.device_seconds,
            "reward": res["reward"],
            "n_prompts": res["n_prompts"],
            "n_samples": res["n_samples"],
            "tokens": ledger.tokens,
            "truncated_frac": res["truncated_frac"],
            "mean_len": res["mean_len"],
        }
    )
    return res["reward"]


def _as_config(config: dict | str | Path) -> TrainConfig:
    if isinstance(config, dict):
        return TrainConfig(**config)
    return load_config(config)


def _check_same_run(cfg: TrainConfig, writer: RunWriter) -> None:
    """Refuse to resume a run directory with a different configuration."""
    import json

    if not writer.run_path.exists():
        return
    old = json.loads(writer.run_path.read_text())["config"]
    new = cfg.model_dump(mode="json")
    diff = sorted(
        k for k in set(old) | set(new) if k not in RESUME_FREE and old.get(k) != new.get(k)
    )
    if diff:
        raise ValueError(
            f"{writer.dir} holds a run with a different config (differs in: {', '.join(diff)}); "
            "use a new out_dir, or delete the directory to start over"
        )


def clear_run(out_dir: str | Path) -> None:
    """Delete a run directory (used by ``--overwrite``)."""
    path = Path(out_dir)
    if path.exists():
        shutil.rmtree(path)
