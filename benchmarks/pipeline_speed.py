"""Wall time to the same number of optimiser steps with generation inline, sync,
off_policy_k and pipeline_k (generator process), on the tiny ScaleRL config.

Steady-state time per step is measured between the first and the last ``train.jsonl`` row
(start-up, the warm-up and the generator's start are reported separately as ``startup``);
there is one evaluation, after the last step. Ratios are sync's time over each mode's.
Idle fractions: the trainer's share of step time spent waiting for groups, and the
generator's share of its time with nothing to do (from its cumulative counters).

    python benchmarks/pipeline_speed.py [--steps 60] [--lag 2] [--engine torch|vllm]
        [--modes inline sync off_policy_k pipeline_k] [--generators N]
        [--weight-sync files|broadcast]

``--engine vllm`` needs the vllm extra (run it with an interpreter that has vLLM).
``--generators N`` runs the separate-process modes with N generators as Ray actors
(``fleet.num_generators``, a local Ray; needs the fleet extra) instead of one process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from rlscaling.trainer.config import load_config
from rlscaling.trainer.loop import train
from rlscaling.trainer.runlog import RunWriter, read_jsonl

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "configs" / "tiny_scalerl.yaml"


def time_mode(
    mode: str,
    steps: int,
    lag: int,
    engine: str,
    root: Path,
    generators: int = 0,
    weight_sync: str = "files",
) -> dict[str, float]:
    stamps: list[float] = []
    real_append = RunWriter.append_train

    def stamped(self: RunWriter, record: dict) -> None:
        real_append(self, record)
        stamps.append(time.perf_counter())

    over = {
        "steps": steps,
        "off_policy_lag": lag,
        "out_dir": str(root / mode),
        "progress": False,
        "eval_every": 10**6,
        "checkpoint_every": 10**6,
        "rollout": {"mode": mode, "engine": engine},
    }
    if mode != "inline":
        over["fleet"] = {"num_generators": generators, "weight_sync": weight_sync}
    RunWriter.append_train = stamped  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        train(load_config(CONFIG, over))
        total = time.perf_counter() - t0
    finally:
        RunWriter.append_train = real_append  # type: ignore[method-assign]
    rows = read_jsonl(root / mode / "train.jsonl")
    last = rows[-1]
    busy, idle = last.get("generator_busy_seconds"), last.get("generator_idle_seconds")
    return {
        "per_step": (stamps[-1] - stamps[0]) / (len(stamps) - 1),
        "startup": stamps[0] - t0,
        "total": total,
        "trainer_idle": float(np.mean([r.get("trainer_idle_frac", 0.0) for r in rows[1:]])),
        "generator_idle": idle / (busy + idle) if busy is not None and busy + idle else 0.0,
        "lag": float(np.mean([r["staleness_mean"] for r in rows])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--lag", type=int, default=2, help="k (off_policy_lag)")
    ap.add_argument("--engine", default="torch")
    ap.add_argument("--modes", nargs="+", default=["inline", "sync", "off_policy_k", "pipeline_k"])
    ap.add_argument("--generators", type=int, default=0, help="Ray actors (0: one process)")
    ap.add_argument("--weight-sync", default="files", choices=["files", "broadcast"])
    args = ap.parse_args()
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            res[mode] = time_mode(
                mode,
                args.steps,
                args.lag,
                args.engine,
                Path(tmp),
                args.generators,
                args.weight_sync,
            )
    ref = res.get("sync", next(iter(res.values())))["per_step"]
    where = (
        f"{args.generators} Ray actors ({args.weight_sync})"
        if args.generators
        else "one generator process"
    )
    print(
        f"engine {args.engine}, k = {args.lag}, {args.steps} steps of the tiny ScaleRL config, "
        f"{where}"
    )
    head = ("mode", "s/step", "vs sync", "startup s", "total s", "idle tr", "idle gen", "lag")
    print("{:<14}{:>9}{:>9}{:>11}{:>9}{:>9}{:>10}{:>6}".format(*head))
    for mode, r in res.items():
        print(
            f"{mode:<14}{r['per_step']:>9.3f}{ref / r['per_step']:>8.2f}x{r['startup']:>11.1f}"
            f"{r['total']:>9.1f}{r['trainer_idle']:>9.2f}{r['generator_idle']:>10.2f}"
            f"{r['lag']:>6.2f}"
        )


if __name__ == "__main__":
    main()
