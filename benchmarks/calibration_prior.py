"""Forecasts on the bundled calibration runs: the bundled prior vs one learned from other recipes.

Leave-one-recipe-out: for each recipe, ``fit_prior`` learns the forecaster's settings from the
other recipes' runs, and every run of the held-out recipe is forecast from 25/50/75% of its
compute (target: the mean of its last three evaluations), with the bundled prior (learned on
public development curves) and with the learned one, beside carrying the last value forward.

    python benchmarks/calibration_prior.py
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from rlscaling import forecast
from rlscaling.forecasting.prior import fit_prior
from rlscaling.io.datasets import calibration_runs


def main() -> None:
    warnings.simplefilter("ignore")
    runs = calibration_runs()
    rows = []
    for rec in sorted({r.metadata["recipe"] for r in runs}):
        learned = fit_prior([r for r in runs if r.metadata["recipe"] != rec])
        print(f"without {rec}: learned interval_scale {learned.interval_scale:.3f}")
        for run in (r for r in runs if r.metadata["recipe"] == rec):
            full, _ = run.without_zero_compute()
            truth = float(full.reward[-3:].mean())
            at = float(np.exp(np.log(full.compute[-3:]).mean()))
            for frac in (0.25, 0.5, 0.75):
                obs = full.select(full.compute <= frac * full.compute.max())
                for name, prior in (("bundled", None), ("learned", learned)):
                    fc = forecast(obs, budget=at, prior=prior, n_samples=1000, average_of=3)
                    row = {"prior": name, "fraction": frac, "abs_error": abs(fc.median[0] - truth)}
                    row["carry_last"] = abs(obs.reward[-1] - truth)
                    for lv in (0.8, 0.9):
                        lo, hi = fc.interval(lv)
                        row[f"cov{lv:g}"] = bool(lo[0] <= truth <= hi[0])
                        row[f"width{lv:g}"] = float(hi[0] - lo[0])
                    rows.append(row)
    df = pd.DataFrame(rows)
    table = df.groupby(["prior", "fraction"]).agg(
        median_error=("abs_error", "median"),
        carry_last=("carry_last", "median"),
        cov80=("cov0.8", "mean"),
        cov90=("cov0.9", "mean"),
        width90=("width0.9", "median"),
    )
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
