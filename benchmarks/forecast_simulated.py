"""The forecaster on simulated GRPO-like pass-rate curves: a robustness check, not a target.

The development curves are real but few, and the RL runs a user forecasts may not look like
them: RL evaluation curves often plateau early, wobble, and some decline or collapse, where
the development set's RL runs mostly keep rising. This script draws such curves with known
shapes and scores the shipped forecaster (the bundled prior, as a user gets it) on them with the
protocol of ``forecast_accuracy.py``: observe the evaluations up to 25/50/75% of the final
compute, never the last three; forecast their mean with
``forecast(x, reward=y, budget=x[-2], average_of=3)``.

Curves (seeded; ``--runs`` of them):

- 12 to 1,000 evaluations, evenly spaced in steps (compute proportional to steps);
- a start ``R0`` in [0.05, 0.8] and a gain of 0.02-0.35 (ending at most at 0.97);
- shape: ``plateau`` (half of the runs; the sigmoid of ``R(C)`` with its midpoint at 2-50% of
  the run, log-uniform, and ``B`` in [0.8, 3]), ``decline`` (a fifth: the same, then a fall of
  0.02-0.1 from 40-80% of the run on), ``rising`` (a fifth: linear in ln(compute) to the end, no
  plateau), ``collapse`` (a tenth: the pass rate drops to 0.002 from 50-90% of the run on);
- noise: an AR(1) wobble (coefficient 0.8, stationary sd 0.005-0.02) and binomial evaluation
  noise on 500, 1,319 (GSM8K's test set) or 5,000 prompts.

A decline or collapse after the observed part cannot be foreseen by any forecaster; those rows
say what it costs. The simulation is ours, so a change tuned to it proves nothing about real
runs: a change that wins here and loses on the development curves is not taken
(docs/forecasting.md, "What was tried").

    python benchmarks/forecast_simulated.py [--runs 400] [--seed 7] [--no-lag] [--own-prior]

``--own-prior``: what a user whose runs look like these gets from learning a prior from their
own finished runs. Half of the runs (every other one) teach ``fit_prior``; the other half are
scored with the bundled prior and with the learned one (about a minute more).

Printed per shape, per shape and density (``thin``: at most 20 evaluations), per density and
overall: median and mean error over carry-last's and over the smoothed level's (below 1 is
better), and 80%/90% coverage.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from forecast_accuracy import protocol_part

from rlscaling import Run, forecast
from rlscaling.forecasting.ensemble import smoothed_level
from rlscaling.forecasting.prior import default_forecast_config, fit_prior

SHAPES = ("plateau",) * 5 + ("decline",) * 2 + ("rising",) * 2 + ("collapse",)


def simulated_runs(n_runs: int, seed: int) -> list[Run]:
    """GRPO-like pass-rate curves of known shape (see the module docstring)."""
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n_runs):
        n = int(rng.choice([12, 14, 16, 20, 30, 50, 100, 300, 1000]))
        x = np.arange(1, n + 1) * 10.0
        t = x / x[-1]
        r0 = rng.uniform(0.05, 0.8)
        gain = min(rng.uniform(0.02, 0.35), 0.97 - r0)
        shape = str(rng.choice(SHAPES))
        if shape == "rising":
            mean = r0 + gain * np.log(x / x[0]) / np.log(x[-1] / x[0])
        else:
            mid = np.exp(rng.uniform(np.log(0.02), np.log(0.5)))
            mean = r0 + gain / (1 + (mid / t) ** rng.uniform(0.8, 3.0))
            if shape == "decline":
                start = rng.uniform(0.4, 0.8)
                fall = rng.uniform(0.02, 0.1)
                mean = mean - fall * np.clip((t - start) / (1 - start), 0, None)
            elif shape == "collapse":
                mean = np.where(t > rng.uniform(0.5, 0.9), 0.002, mean)
        wobble = np.zeros(n)
        sd = rng.uniform(0.003, 0.012)  # innovation sd: stationary sd 0.005-0.02
        for k in range(1, n):
            wobble[k] = 0.8 * wobble[k - 1] + rng.normal(0, sd)
        prompts = int(rng.choice([500, 1319, 5000]))
        p = np.clip(mean + wobble, 0.0005, 0.9995)
        y = rng.binomial(prompts, p) / prompts
        meta = {"shape": shape, "density": "dense" if n > 20 else "thin"}
        runs.append(Run(x, y, name=f"sim{i}", metadata=meta))
    return runs


def score(runs: list[Run], prior, samples: int) -> tuple[pd.DataFrame, int]:
    """Per case: errors over the run's range of the forecast and both baselines, and whether
    its 80%/90% intervals cover the truth; and how many cases were left out (an observed part
    of fewer than 2 evaluations or all equal, which no forecast sizes an interval for)."""
    from tqdm.auto import tqdm

    rows, skipped = [], 0
    for run in tqdm(runs, desc="forecast", unit="run"):
        scale = float(np.ptp(run.reward)) or 1.0
        truth = float(run.reward[-3:].mean())
        for f in (0.25, 0.5, 0.75):
            part = protocol_part(run, f)
            if len(part) < 2 or np.ptp(part.reward) <= 0:
                skipped += 1
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fc = forecast(
                    part.compute,
                    reward=part.reward,
                    budget=float(run.compute[-2]),
                    average_of=3,
                    prior=prior,
                    n_samples=samples,
                    seed=0,
                )
            row = {
                **run.metadata,
                "fraction": f,
                "rlscaling": abs(fc.median[0] - truth) / scale,
                "last": abs(part.reward[-1] - truth) / scale,
                "smooth": abs(smoothed_level(part.reward)[0] - truth) / scale,
            }
            for lv in (0.8, 0.9):
                lo, hi = fc.interval(lv)
                row[f"cov{lv:g}"] = float(lo[0] <= truth <= hi[0])
            rows.append(row)
    return pd.DataFrame(rows), skipped


def table(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by)
    out = pd.DataFrame(
        {
            "cases": g.size(),
            "med x last": g["rlscaling"].median() / g["last"].median(),
            "mean x last": g["rlscaling"].mean() / g["last"].mean(),
            "med x smooth": g["rlscaling"].median() / g["smooth"].median(),
            "cov80": g["cov0.8"].mean(),
            "cov90": g["cov0.9"].mean(),
        }
    )
    return out.round(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--samples", type=int, default=1000, help="predictive draws per forecast")
    ap.add_argument("--no-lag", action="store_true", help="the bundled prior without its lag shift")
    ap.add_argument(
        "--own-prior", action="store_true", help="also a prior learned from half of the runs"
    )
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    t0 = time.time()
    prior = default_forecast_config()
    if args.no_lag:
        prior = replace(prior, lag_shift=0.0)
    runs = simulated_runs(args.runs, args.seed)
    priors = {"bundled prior": prior}
    if args.own_prior:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            priors["prior learned from the other half"] = fit_prior(runs[0::2], progress=False)
        runs = runs[1::2]
    for label, p in priors.items():
        df, skipped = score(runs, p, args.samples)
        print(
            f"\n{label}: {len(df)} cases ({skipped} left out: observed part constant), "
            f"lag shift {p.lag_shift:.3f}, few-point share {p.few_point_weight:g} "
            f"and skew {p.few_point_skew:.2f}"
        )
        print(table(df, ["shape", "fraction"]).to_string())
        print(table(df, ["shape", "density", "fraction"]).to_string())
        print(table(df, ["density", "fraction"]).to_string())
        print(table(df, ["fraction"]).to_string())
    print(f"wall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
