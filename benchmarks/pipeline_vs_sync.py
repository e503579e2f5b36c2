"""The tiny ScaleRL example trained with generation in ``pipeline_k`` against ``sync`` mode.

Runs ``examples/configs/tiny_scalerl.yaml`` (k = off_policy_lag = 2) for each mode and seed
into ``<out>/<mode>_seed<k>`` (a finished run is kept, a killed one resumes), then draws eval
reward against training compute for every run and prints each run's plateau (mean of its last
5 evaluations), the compute at which its evaluation first reaches 0.8, loop time and lag.

    python benchmarks/pipeline_vs_sync.py [--steps 1200] [--seeds 0 1] \
        [--out runs/pipeline_vs_sync] [--figure docs/figures/pipeline_vs_sync.png]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rlscaling.trainer.config import load_config
from rlscaling.trainer.loop import train
from rlscaling.trainer.runlog import read_jsonl

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "configs" / "tiny_scalerl.yaml"
MODES = ("sync", "pipeline_k")


def run_all(out: Path, steps: int, seeds: list[int]) -> dict[tuple[str, int], Path]:
    dirs = {}
    for seed in seeds:
        for mode in MODES:
            run_dir = out / f"{mode}_seed{seed}"
            dirs[(mode, seed)] = run_dir
            over = {
                "steps": steps,
                "seed": seed,
                "out_dir": str(run_dir),
                "progress": False,
                "rollout": {"mode": mode},
            }
            t0 = time.perf_counter()
            train(load_config(CONFIG, over))
            print(f"{run_dir.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return dirs


def summarise(dirs: dict[tuple[str, int], Path], figure: Path | None) -> None:
    head = f"{'run':<18}{'plateau':>9}{'C(0.8)':>10}{'final step':>12}{'loop s':>9}"
    print(head + f"{'lag mean':>10}{'drops':>7}")
    for (mode, seed), d in dirs.items():
        evals, rows = read_jsonl(d / "eval.jsonl"), read_jsonl(d / "train.jsonl")
        plateau = np.mean([e["reward"] for e in evals[-5:]])
        loop_s = sum(r["step_seconds"] for r in rows)
        lag = np.mean([r["staleness_mean"] for r in rows])
        drops = rows[-1].get("dropped_stale_total", 0)
        reach = next((e["compute"] for e in evals if e["reward"] >= 0.8), float("nan"))
        print(
            f"{mode + '_seed' + str(seed):<18}{plateau:>9.3f}{reach:>10.2e}{rows[-1]['step']:>12}"
            f"{loop_s:>9.0f}{lag:>10.2f}{drops:>7}"
        )
    if figure is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    colours = {"sync": "tab:blue", "pipeline_k": "tab:orange"}
    styles = ["-", "--", ":", "-."]
    for (mode, seed), d in dirs.items():
        evals = read_jsonl(d / "eval.jsonl")
        ax.plot(
            [e["compute"] for e in evals[1:]],
            [e["reward"] for e in evals[1:]],
            styles[seed % len(styles)],
            color=colours[mode],
            lw=1.2,
            label=f"{mode}, seed {seed}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("eval reward (pass rate)")
    ax.set_title("tiny ScaleRL: pipeline_k (k = 2) vs sync", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure)
    print(f"figure: {figure}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--out", type=Path, default=Path("runs/pipeline_vs_sync"))
    ap.add_argument("--figure", type=Path, default=None)
    ap.add_argument("--plot-only", action="store_true", help="summarise existing runs")
    args = ap.parse_args()
    if args.plot_only:
        dirs = {(m, s): args.out / f"{m}_seed{s}" for s in args.seeds for m in MODES}
    else:
        dirs = run_all(args.out, args.steps, args.seeds)
    summarise(dirs, args.figure)


if __name__ == "__main__":
    main()
