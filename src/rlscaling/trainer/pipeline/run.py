"""``train_pipeline(run)``: the step loop when generation runs in a separate process.

Per step: take a batch of finished groups from the generator (waiting if none are ready:
trainer idle time), score them, train one step, push the new weights and submit more prompts
(as the mode says: :mod:`~rlscaling.trainer.pipeline.orchestrator`), then log, evaluate and
checkpoint with the tail the in-process loop ends its steps with
(:func:`~rlscaling.trainer.steps.finish_step`). Evaluation stays in the trainer, with the torch
evaluator on the trainer's model.

``train.jsonl`` gains, per step: ``staleness_hist`` (trained samples by lag ``0 .. max``),
``dropped_stale`` and ``dropped_stale_total``, ``pushed_version`` (newest weights sent to the
generator), ``gen_seconds`` (generation time of this step's groups), ``train_seconds``
(scoring, update and weight push), ``wait_seconds``, ``trainer_idle_frac`` (waiting for
groups / step time), ``generator_idle_frac`` (over the same window), ``gen_tokens_per_second``
(while generating) and ``tokens_per_second`` (end to end), the generator's cumulative
``generator_busy_seconds`` / ``generator_idle_seconds`` (as last reported), and
``discarded_in_flight``
(groups lost to a stop and generated again after the resume).

A checkpoint stores the prompts still in flight; the resumed run starts a new generator from
the checkpointed weights and submits them again.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rlscaling.io import rundir
from rlscaling.trainer.compute import DeviceTimer
from rlscaling.trainer.pipeline.client import GeneratorClient
from rlscaling.trainer.pipeline.messages import GeneratorStats, Start
from rlscaling.trainer.pipeline.orchestrator import Orchestrator, submit_budget
from rlscaling.trainer.rewards import score_samples
from rlscaling.trainer.steps import RunState, finish_step, learn
from rlscaling.trainer.weights import WeightStore

READY_TIMEOUT_S = 900.0  # a vLLM engine can take minutes to start on a loaded CPU


def train_pipeline(run: RunState) -> None:
    """Train ``run`` from ``run.start`` to ``cfg.steps`` with a generator process."""
    cfg = run.cfg
    store = WeightStore(root=cfg.fleet.weights_dir)
    try:
        start = Start(
            config=cfg.model_dump(mode="json"),
            model_dir=str(_model_dir(run)),
            # weights by broadcast include the starting ones: no file then
            weights_path="" if _broadcast(cfg) else store.write(run.model, run.start),
            version=run.start,
        )
        queue_size = submit_budget(cfg, Orchestrator.extra_batches)
        with _start_generators(cfg, start, queue_size, run.model) as client:
            client.wait_ready(READY_TIMEOUT_S)
            # with weights by broadcast the fleet sends them; otherwise files in the store
            orch = Orchestrator(run, client, getattr(client, "weight_sender", None) or store)
            if run.resumed is not None and "pipeline" in run.resumed:
                orch.load_state_dict(run.resumed["pipeline"])
            orch.plan(run.start)
            _loop(run, client, orch)
    finally:
        store.close()


def _broadcast(cfg: Any) -> bool:
    return bool(cfg.fleet.num_generators) and cfg.fleet.weight_sync == "broadcast"


def _start_generators(cfg: Any, start: Start, queue_size: int, model: Any) -> Any:
    """One generator process, or ``fleet.num_generators`` Ray actors behind one client."""
    if not cfg.fleet.num_generators:
        return GeneratorClient(start, queue_size)
    from rlscaling.trainer.pipeline.ray_fleet import GeneratorFleet
    from rlscaling.trainer.rollout import get_engine

    return GeneratorFleet(
        start,
        queue_size,
        cfg.fleet,
        # sync and off_policy_k then repeat one generator's run; pipeline_k never waits
        ordered=cfg.rollout.mode != "pipeline_k",
        split_batches=get_engine(cfg.rollout.engine).per_request_seeds,
        model=model,
    )


def _loop(run: RunState, client: Any, orch: Orchestrator) -> None:
    cfg = run.cfg
    bar = tqdm(total=cfg.steps, initial=run.start, disable=not cfg.progress, desc="train")
    for step in range(run.start, cfg.steps):
        t_step, waited, push0 = time.perf_counter(), client.wait_seconds, orch.push_seconds
        gen_before = client.stats
        # ---- 1-2. a batch of finished groups (too-stale ones dropped and resubmitted) -----
        groups, dropped = orch.take(step)
        samples = [smp for g in groups for smp in g.samples]
        t_train = time.perf_counter()

        # ---- 3. reward; 4-5. filter, advantages, update ---------------------------------
        timer = DeviceTimer(run.device)
        marker = cfg.task.answer_marker
        rewards = score_samples(samples, run.train_set, run.task, run.tokenizer, marker)
        kept, metrics = learn(run, samples, rewards, [g.prompt_index for g in groups], timer)

        # ---- 6. push the new weights (the generator applies them in flight), submit more --
        orch.after_update(step + 1)
        now = time.perf_counter()

        # ---- 7-8. compute, log, evaluate and checkpoint (shared with the inline loop) -----
        generated = groups + dropped  # dropped groups were generated too: their compute counts
        g_tok = sum(g.gen_tokens for g in generated)
        gen_seconds = sum(g.gen_seconds for g in generated)
        wait = client.wait_seconds - waited
        finish_step(
            run,
            step,
            samples,
            kept,
            rewards,
            len(groups),
            prompt_tokens=sum(len(s.prompt_ids) for g in generated for s in g.samples),
            gen_tokens=g_tok,
            device_seconds=gen_seconds + timer.seconds,
            columns={
                "staleness_hist": orch.staleness_hist(step, groups),
                "dropped_stale": len(dropped),
                "dropped_stale_total": orch.dropped_total,
                "discarded_in_flight": orch.discarded,
                "pushed_version": orch.pushed,
                "gen_seconds": gen_seconds,
                "train_seconds": now - t_train,
                "push_seconds": orch.push_seconds - push0,
                "wait_seconds": wait,
                "step_seconds": now - t_step,
                "trainer_idle_frac": wait / max(now - t_step, 1e-9),
                "generator_idle_frac": _idle_frac(gen_before, client.stats),
                "generator_busy_seconds": client.stats.busy_seconds if client.stats else 0.0,
                "generator_idle_seconds": client.stats.idle_seconds if client.stats else 0.0,
                "gen_tokens_per_second": g_tok / max(gen_seconds, 1e-9),
                "tokens_per_second": g_tok / max(now - t_step, 1e-9),
                **_fleet_columns(cfg, generated),
            },
            metrics=metrics,
            # the prompts in flight are resubmitted on resume
            checkpoint_state=lambda version=step + 1: {
                "engine": {"version": version},
                "pipeline": orch.state_dict(),
            },
            bar=bar,
        )
    bar.close()


def _fleet_columns(cfg: Any, groups: list[Any]) -> dict[str, list[int]]:
    """With a fleet: the step's groups (trained and dropped) by the actor that made them."""
    n = cfg.fleet.num_generators
    if not n:
        return {}
    made = Counter(g.generator for g in groups)
    return {"generator_groups": [made.get(i, 0) for i in range(n)]}


def _idle_frac(before: GeneratorStats | None, after: GeneratorStats | None) -> float | None:
    """Generator idle share between two stats reports (None until it has reported twice)."""
    if before is None or after is None:
        return None
    busy = after.busy_seconds - before.busy_seconds
    idle = after.idle_seconds - before.idle_seconds
    return idle / (busy + idle) if busy + idle > 0 else None


def _model_dir(run: RunState) -> Path:
    """Architecture and tokenizer for the generator: the run's saved base model."""
    base = run.out / rundir.BASE_MODEL_DIR
    latest = run.out / rundir.CHECKPOINTS_DIR / "latest" / "model"
    return base if (base / "config.json").exists() else latest
