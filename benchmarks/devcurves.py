"""Read the development curves as Runs, labelled by source, family and evaluation density.

Three sets, all real runs:

- ``curves.csv`` (long CSV: source, curve, x, y, direction, ...): Pythia evaluations, (Mis)Fitting
  losses, GRPO teaching runs and RL Zoo agents;
- ``curves_rl.csv`` (same columns): public RL post-training curves of language models;
- the calibration runs bundled with the package (reference trainer, 4 recipes x 3 seeds).

Loss curves (direction "down") are negated so that higher is better everywhere; points at
x <= 0 (an untrained checkpoint) are dropped, since compute must be > 0 on a log axis. Both
are counted and printed by the scripts that use this.

Families (what kind of curve, for reporting per family):

- ``rl_reward``: held-out evaluations of RL post-training of a language model (pass rates):
  the evaluation curves of ``curves_rl.csv``, the GRPO ``eval_acc`` runs of ``rfs/`` and the
  calibration runs;
- ``rl_train_batch``: the mean reward of the training batch of the same kind of runs
  (``train_*`` curves of ``curves_rl.csv``, ``reward_avg`` of ``rfs/``): not held out, and far
  noisier (8 rollouts per step in ``rfs/``), so reported apart;
- ``pretrain_eval``: benchmark accuracy of pretraining checkpoints (``pythia/``);
- ``loss``: validation losses (``misfit/``, the distillation runs of ``rfs/``);
- ``rl_returns``: episode returns of classical RL agents (``rlzoo/``).

Density: ``thin`` for curves with at most 20 evaluations, ``dense`` otherwise. :func:`thinned`
adds a copy of every dense curve kept at 12-20 evenly spaced evaluations (as many real runs
are evaluated), labelled ``thin``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rlscaling import Run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dev-curves"
DEFAULT = DATA / "curves.csv"
DEFAULT_RL = DATA / "curves_rl.csv"
THIN_MAX = 20
THIN_SIZES = tuple(range(12, THIN_MAX + 1))


def family_of(curve_id: str, direction: str) -> str:
    """The family of a development curve from its id and direction (see module doc)."""
    src = curve_id.split("/")[0]
    if direction == "down":
        return "loss"
    if src == "pythia":
        return "pretrain_eval"
    if src == "rlzoo":
        return "rl_returns"
    if "train" in curve_id.split("/")[-1] or curve_id.endswith("/reward_avg"):
        return "rl_train_batch"
    return "rl_reward"


def density_of(n: int) -> str:
    return "thin" if n <= THIN_MAX else "dense"


def load_dev_curves(path: Path | str = DEFAULT) -> tuple[list[Run], dict[str, int]]:
    """Runs with metadata source (the curve id prefix), direction, family and density; plus
    what was dropped or changed."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"dev curves not found at {path}; pass --curves PATH")
    df = pd.read_csv(path)
    runs, dropped = [], {"x<=0 points": 0, "down curves negated": 0}
    for cid, g in df.groupby("curve", sort=False):
        x, y = g["x"].to_numpy(float), g["y"].to_numpy(float)
        direction = g["direction"].iloc[0]
        if direction == "down":
            y = -y
            dropped["down curves negated"] += 1
        keep = x > 0
        dropped["x<=0 points"] += int((~keep).sum())
        runs.append(
            Run(
                x[keep],
                y[keep],
                name=str(cid),
                metadata={
                    "source": str(cid).split("/")[0],
                    "direction": direction,
                    "family": family_of(str(cid), direction),
                    "density": density_of(int(keep.sum())),
                },
            )
        )
    return runs, dropped


def load_calibration_curves() -> list[Run]:
    """The bundled trainer runs as development curves: the calibration sweep (countdown, source
    ``calibration``) and the earlier sorting sweep (source ``sorting``)."""
    from rlscaling.io.datasets import calibration_runs, sorting_runs

    out = []
    for source, runs in (("calibration", calibration_runs()), ("sorting", sorting_runs())):
        out += _as_dev_curves(runs, source)
    return out


def _as_dev_curves(runs: list[Run], source: str) -> list[Run]:
    out = []
    for run in runs:
        r, _ = run.without_zero_compute()
        meta = {
            "source": source,
            "direction": "up",
            "family": "rl_reward",
            "density": density_of(len(r)),
        }
        out.append(Run(r.compute, r.reward, r.eval_size, name=f"{source}/{r.name}", metadata=meta))
    return out


def thin_indices(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` evaluations evenly spaced in compute, ending at the last one: the ones
    nearest to ``x[-1] * j / k`` (j = 1..k), as a run evaluated every ``x[-1] / k`` would have."""
    targets = x[-1] * np.arange(1, k + 1) / k
    idx = np.unique(np.abs(x[None, :] - targets[:, None]).argmin(axis=1))
    return idx


def thinned(runs: list[Run]) -> list[Run]:
    """A copy of every dense run at 12-20 evenly spaced evaluations (the count cycles through
    12..20 over the runs, so every density in that range is represented)."""
    out = []
    for i, run in enumerate(r for r in runs if r.metadata["density"] == "dense"):
        k = THIN_SIZES[i % len(THIN_SIZES)]
        part = run.select(np.isin(np.arange(len(run)), thin_indices(run.compute, k)))
        meta = {**run.metadata, "density": "thin", "thinned_from": len(run)}
        out.append(Run(part.compute, part.reward, part.eval_size, name=f"{run.name}#thin{k}",
                       metadata=meta))  # fmt: skip
    return out


def all_dev_curves(
    path: Path | str = DEFAULT, rl_path: Path | str = DEFAULT_RL, thin: bool = True
) -> tuple[list[Run], dict[str, int]]:
    """curves.csv + curves_rl.csv + calibration runs, and (``thin``) the thinned copies."""
    runs, dropped = load_dev_curves(path)
    rl, dropped_rl = load_dev_curves(rl_path)
    runs = runs + rl + load_calibration_curves()
    for k, v in dropped_rl.items():
        dropped[k] += v
    if thin:
        runs = runs + thinned(runs)
    return runs, dropped


def sources(runs: list[Run]) -> list[str]:
    return sorted({r.metadata["source"] for r in runs})


def by_source(runs: list[Run], src: str, keep: bool) -> list[Run]:
    return [r for r in runs if (r.metadata["source"] == src) == keep]


def geometric_tail(run: Run, k: int = 3) -> tuple[float, float]:
    """(compute, reward) of the forecast target: geometric-mean compute and mean reward of the
    last ``k`` evaluations."""
    return float(np.exp(np.mean(np.log(run.compute[-k:])))), float(run.reward[-k:].mean())
