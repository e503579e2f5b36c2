"""How honest ``compute_to_reach`` is on real RL runs: backtested against what the runs did.

For every upward RL evaluation curve of the development set (``rl_reward``: the evaluation
curves of ``curves_rl.csv``, the ``rfs/`` GRPO runs, the bundled calibration and sorting runs;
each dense one also thinned to 12-20 evaluations) and fraction f in (0.25, 0.5): observe the
evaluations up to f of the final compute (never the last three) and ask
``compute_to_reach(observed, target, max_compute_factor=end / observed end)`` for targets
above the observed level (its last three evaluations' mean) by 5%, 15%, 30% and 50% of the
run's whole range (pass rates above 1 skipped). "Unreachable" then means "not within the
rest of the run", which the run shows: a target counts as reached at the first evaluation
after the observed part whose mean with the two before it reaches the target (the mean of
three stands for the expected reward that ``compute_to_reach`` draws).

Scored per method (``"auto"``, ``"sigmoid"``):

- ``brier``: mean squared error of P(reached by the run's end) = 1 - ``prob_unreachable``
  against what happened (0.25 is a coin flip's score; below is better);
- ``p_reach`` / ``reached``: the mean predicted probability and the share actually reached
  (calibrated when they agree);
- ``cov80``: among targets the run reached, the share whose crossing compute lay in the 80%
  ``compute_interval`` (an interval ending at the run's end counts its unreached draws as
  beyond it);
- ``med_log_err``: median ``|ln(median compute / actual crossing compute)|`` where both are
  finite.

    python benchmarks/reach_accuracy.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from devcurves import DEFAULT, DEFAULT_RL, all_dev_curves

from rlscaling import compute_to_reach
from rlscaling.io.errors import InputError

FRACTIONS = (0.25, 0.5)
STEPS = (0.05, 0.15, 0.3, 0.5)  # target above the observed level, as a share of the range
METHODS = ("auto", "sigmoid")


def crossing(x: np.ndarray, y: np.ndarray, start: int, target: float) -> float:
    """Compute of the first evaluation at or after ``start`` whose trailing mean of three
    (itself and the two before it) reaches ``target``; ``inf`` when none does."""
    m = np.convolve(y, np.ones(3) / 3, mode="full")[: y.size]
    m[:2] = y[:2]
    hit = np.nonzero(m[start:] >= target)[0]
    return float(x[start + hit[0]]) if hit.size else np.inf


def score(runs: list, n_samples: int) -> pd.DataFrame:
    rows = []
    for run in runs:
        x, y = run.compute, run.reward
        n = len(x)
        span = float(np.ptp(y))
        if span <= 0:
            continue
        for f in FRACTIONS:
            keep = (x <= f * x[-1]) & (np.arange(n) < n - 3)
            k = int(keep.sum())
            if k < 2:
                continue
            obs = run.select(keep)
            level = float(y[keep][-3:].mean())
            for step in STEPS:
                target = level + step * span
                if target >= 1.0 and np.all((y >= 0) & (y <= 1)):
                    continue
                actual = crossing(x, y, k, target)
                for method in METHODS:
                    row = {
                        "curve": run.name, "source": run.metadata.get("source", ""),
                        "density": run.metadata.get("density", ""), "at": f, "step": step,
                        "method": method, "actual": actual, "reached": np.isfinite(actual),
                    }  # fmt: skip
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            res = compute_to_reach(
                                obs, target, method=method, seed=0, n_samples=n_samples,
                                max_compute_factor=float(x[-1] / obs.compute.max()),
                            )  # fmt: skip
                    except (InputError, ValueError) as exc:
                        rows.append({**row, "refused": str(exc)[:60]})
                        continue
                    lo, hi = res.compute_interval(0.8)
                    rows.append({
                        **row, "refused": "", "p_reach": 1.0 - res.prob_unreachable,
                        "median": res.median(), "lo": lo, "hi": hi,
                    })  # fmt: skip
    return pd.DataFrame(rows)


def table(res: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (method, at), every in res.groupby(["method", "at"]):
        g = every[every["refused"] == ""]
        r = g[g["reached"]]
        both = r[np.isfinite(r["median"])]
        covered = (r["lo"] <= r["actual"]) & (r["actual"] <= r["hi"])
        out.append({
            "method": method, "at": at, "cases": len(g), "refused": len(every) - len(g),
            "brier": float(np.mean((g["p_reach"] - g["reached"].astype(float)) ** 2)),
            "p_reach": g["p_reach"].mean(), "reached": g["reached"].mean(),
            "cov80": covered.mean() if len(r) else np.nan,
            "med_log_err": float(np.median(np.abs(np.log(both["median"] / both["actual"]))))
            if len(both) else np.nan,
        })  # fmt: skip
    return pd.DataFrame(out).round(3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every fourth curve")
    ap.add_argument("--n-samples", type=int, default=400)
    args = ap.parse_args()
    runs, _ = all_dev_curves(DEFAULT, DEFAULT_RL)
    runs = [r for r in runs if r.metadata.get("family") == "rl_reward"]
    if args.quick:
        runs = runs[::4]
    t0 = time.perf_counter()
    res = score(runs, args.n_samples)
    took = time.perf_counter() - t0
    print(f"{len(runs)} RL evaluation curves, {len(res)} questions in {took:.0f} s")
    print(table(res).to_string(index=False))
    bundled = res["source"].isin(["calibration", "sorting"])
    for label, part in (("public runs", res[~bundled]), ("bundled trainer runs", res[bundled])):
        print(f"\n{label}:")
        print(table(part).to_string(index=False))
    print("\nby step (target above the observed level, share of the run's range):")
    ok = res[res["refused"] == ""]
    by = ok.groupby(["method", "at", "step"]).agg(
        cases=("reached", "size"), p_reach=("p_reach", "mean"), reached=("reached", "mean")
    )
    print(by.round(2).to_string())


if __name__ == "__main__":
    main()
