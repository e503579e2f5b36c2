"""Train the ScaleRL recipe on a tiny model on CPU, then fit the reward-compute sigmoid.

    python examples/tiny_scalerl.py                 # full run, about 7 minutes on 2 cores
    python examples/tiny_scalerl.py --quick         # seconds-long smoke version (CI)

The run directory (``runs/tiny_scalerl`` by default) gets the usual run.json / eval.jsonl /
train.jsonl / checkpoints, plus ``curve.png`` and ``fit.json`` written by this script. The fit is
``R(C) = R0 + (A - R0) / (1 + (C_mid / C) ** B)`` with ``R0`` held at the step-0 reward, made
with ``rlscaling.fit_sigmoid`` (or a plain scipy fit if the library's fitter is unavailable).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from rlscaling.trainer import TrainConfig, load_config, train
from rlscaling.trainer.config import deep_merge, parse_override
from rlscaling.trainer.loop import clear_run

CONFIG = Path(__file__).parent / "configs" / "tiny_scalerl.yaml"
QUICK = {
    "steps": 6,
    "eval_every": 3,
    "checkpoint_every": 3,
    "task": {"n_train": 256, "n_val": 16},
    "warmup": {"steps": 20},
}


def fit_curve(compute: np.ndarray, reward: np.ndarray, r0: float) -> dict:
    """Fit A, B, C_mid with R0 fixed; return the parameters and R^2 on the C > 0 points."""
    try:
        from rlscaling import fit_sigmoid
    except ImportError:
        fit_sigmoid = None
    if fit_sigmoid is not None:
        fit = fit_sigmoid(compute, reward, r0=r0, warn=False)
        d = fit.to_dict()
        return {
            **{k: d["params"][k] for k in ("A", "B", "C_mid", "R0")},
            "r2": d["r2"],
            "identified": d["identified"],
            "fitter": "rlscaling.fit_sigmoid",
        }
    from scipy.optimize import curve_fit

    def model(c, a, b, log_cmid):
        return r0 + (a - r0) / (1.0 + np.exp(b * (log_cmid - np.log(c))))

    p0 = (reward.max(), 1.0, np.log(np.median(compute)))
    (a, b, m), _ = curve_fit(model, compute, reward, p0=p0, maxfev=20000)
    pred = model(compute, a, b, m)
    r2 = 1 - np.sum((reward - pred) ** 2) / np.sum((reward - reward.mean()) ** 2)
    return {
        "A": a,
        "B": b,
        "C_mid": float(np.exp(m)),
        "R0": r0,
        "r2": float(r2),
        "fitter": "scipy.optimize.curve_fit",
    }


def plot(out: Path, steps: np.ndarray, compute: np.ndarray, reward: np.ndarray, fit: dict) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    c = np.geomspace(compute[compute > 0].min(), compute.max() * 3, 200)
    r = fit["R0"] + (fit["A"] - fit["R0"]) / (1 + (fit["C_mid"] / c) ** fit["B"])
    fig, (ax0, ax) = plt.subplots(1, 2, figsize=(10, 4))
    ax0.plot(steps, reward, "o-", ms=3, lw=0.8)
    ax0.set_xlabel("optimiser step")
    ax0.set_ylabel("validation mean pass rate")
    ax0.set_ylim(0, 1)
    ax0.set_title("reward against steps")
    ax.plot(compute[compute > 0], reward[compute > 0], "o", ms=3, label="validation pass rate")
    ax.plot(c, r, "-", label=f"sigmoid fit: A={fit['A']:.3f} B={fit['B']:.2f} R²={fit['r2']:.3f}")
    ax.axhline(fit["R0"], color="grey", lw=0.8, ls=":", label=f"step 0: {fit['R0']:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylim(0, 1)
    ax.set_title("reward against compute, with the fit")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(CONFIG))
    ap.add_argument("--out-dir", default=None)
    ap.add_argument("--quick", action="store_true", help="seconds-long smoke version")
    ap.add_argument("--fresh", action="store_true", help="delete the run directory first")
    ap.add_argument("--set", action="append", default=[], help="override, e.g. optim.lr=1e-3")
    args = ap.parse_args()

    over: dict = QUICK if args.quick else {}
    for item in args.set:
        over = deep_merge(over, parse_override(item))
    cfg = load_config(args.config, over)
    if args.out_dir or args.quick:
        out_dir = args.out_dir or cfg.out_dir + "_quick"
        cfg = TrainConfig(**{**cfg.model_dump(), "out_dir": out_dir})
    if args.fresh or args.quick:
        clear_run(cfg.out_dir)

    t0 = time.time()
    result = train(cfg)
    wall = time.time() - t0
    evals = result.evals
    steps = np.array([e["step"] for e in evals])
    compute = np.array([e["compute"] for e in evals])
    reward = np.array([e["reward"] for e in evals])
    r0 = float(reward[0])
    late = reward[-max(3, len(reward) // 5) :]
    summary = {
        "steps": result.steps,
        "wall_seconds": wall,
        "device_seconds": evals[-1]["device_seconds"],
        "start_reward": r0,
        "final_reward": float(reward[-1]),
        "plateau_reward": float(late.mean()),
        "plateau_sd": float(late.std()),
        "total_flops": float(compute[-1]),
    }
    if len(evals) >= 5:
        summary["fit"] = fit_curve(compute[compute > 0], reward[compute > 0], r0)
        plot(result.out_dir, steps, compute, reward, summary["fit"])
    (result.out_dir / "fit.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
