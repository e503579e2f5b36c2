"""Intervals learned from one's own runs: ``fit_prior`` with and without multipliers per horizon.

A user learns a prior from finished runs of their own kind. This mimics it on one source of
the development curves at a time (``benchmarks/devcurves.py``; each curve with more than 20
evaluations also thinned, the copies belonging to their run): every run is held out in
turn, the prior is learned from the source's other runs (each run weighing the same), and
the held-out run's backtest cases at 25/50/75% of compute are scored. Printed: the 80% and
90% coverage per fraction with one interval scale (``by_horizon=False``) and with a
multiplier per horizon (``by_horizon=True``, fit_prior's default), over all cases and over
the fitted ones (5 or more observed evaluations; the others take the few-point spread,
which the multipliers do not touch).

    python benchmarks/prior_own_runs.py [--sources calibration,shibuki-cs336a5,pythia]

On 2 cores the countdown runs take 15 s, the CS336-style runs 45 s, Pythia (192 runs)
about 20 minutes: a prior is learned for every held-out run.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from devcurves import DEFAULT, DEFAULT_RL, all_dev_curves, thinned

from rlscaling.forecasting.ensemble import auto_point_sd, budget_point_weights
from rlscaling.forecasting.prior import ForecastPrior, corpus_cases, prior_from_cases


def run_of(name: str) -> str:
    """The run a (possibly thinned) curve belongs to."""
    return name.split("#")[0]


def coverage(source: str, runs: list) -> pd.DataFrame:
    mine = [r for r in runs if r.metadata["source"] == source]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases, _ = corpus_cases(mine, (0.25, 0.5, 0.75), ForecastPrior(), progress=False)
    # each run is its own source, so that the runs weigh the same in what is learned
    cases = [replace(c, source=run_of(c.name)) for c in cases]
    held_out = sorted({run_of(c.name) for c in cases})
    print(f"{source}: {len(mine)} curves, {len(held_out)} runs, {len(cases)} cases", flush=True)
    rows = []
    for run in held_out:
        train = [c for c in cases if run_of(c.name) != run]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            learned = prior_from_cases(
                train, {}, ForecastPrior(), weight_grid=(0.0, 0.5, 1.0), strength_grid=(2.0, 5.0)
            )
        # the multipliers are learned last, from the rest: dropping them is by_horizon=False
        one_scale = replace(learned, horizon_anchors=(), horizon_scales=())
        for case in (c for c in cases if run_of(c.name) == run):
            for label, prior in (("one scale", one_scale), ("by horizon", learned)):
                cfg = prior.for_kind(case.comp["kind"])
                comp = dict(case.comp, w=budget_point_weights(case.comp, cfg))
                point, _, sd = auto_point_sd(comp, cfg)
                z = abs(float(point[0]) - case.target) / float(sd[0])
                row = {"source": source, "prior": label, "fraction": case.fraction}
                row["fitted"] = not case.comp["few"]
                for lv in (0.8, 0.9):
                    row[f"cov{lv:g}"] = float(z <= stats.t.ppf(0.5 + lv / 2, cfg.tail_dof))
                rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", default="calibration,shibuki-cs336a5")
    args = ap.parse_args()
    runs, _ = all_dev_curves(DEFAULT, DEFAULT_RL, thin=False)
    runs = runs + thinned(runs)
    for source in args.sources.split(","):
        d = coverage(source, runs)
        for label, part in (("all cases", d), ("fitted cases", d[d.fitted])):
            table = part.groupby(["fraction", "prior"])[["cov0.8", "cov0.9"]].mean().unstack()
            print(f"\n{source}, {label} (n = {len(part) // 2}):")
            print(table.round(2).to_string())
        print(flush=True)


if __name__ == "__main__":
    main()
