"""The forecast protocol of a user's eval log, on the RL curves of ``curves_rl.csv`` as raw arrays.

For every upward curve (a held-out evaluation or a training-batch reward; ``--eval-only``
keeps the held-out evaluations) and fraction f in (0.25, 0.5, 0.75): observe the evaluations up
to f of the final compute, among the first ``n - 3``; forecast the mean of the last three with
``forecast(x, reward=y, budget=x[-2], average_of=3)`` on the raw step axis as logged (step 0
included), with the bundled prior; score against carrying the last observed value forward.
Curves with more than 20 evaluations are also scored thinned to 13 evenly spaced ones.

Unlike ``benchmarks/forecast_accuracy.py`` (leave-one-source-out priors, errors relative to
each curve's range, every family), this is the library as shipped on raw inputs, so it
checks the input path too (step 0, refusals). The bundled prior learned its few settings from
687 development curves that include these, so the numbers are in-sample for the prior; the
leave-one-source-out rows of ``forecast_accuracy.py`` are the honest ones.

``--percent`` gives the rewards in percent (x 100): by default (``reward_range="auto"``, which
reads them as a percentage), as a score (``reward_range=None``), and with
``reward_range=(0, 100)``; the first and last should give back the fraction's numbers, except
for the curves that never pass 10% (the default reads those as scores).

    python benchmarks/forecast_protocol.py [--eval-only] [--percent]
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
from devcurves import DEFAULT_RL

from rlscaling import forecast
from rlscaling.io.errors import InputError

FRACTIONS = (0.25, 0.5, 0.75)
THIN_TO = 13


def cases(df: pd.DataFrame, eval_only: bool) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(curve, density, compute, reward) for each curve as logged and, when long, thinned."""
    out = []
    for name, g in df.groupby("curve", sort=True):
        if g["direction"].iloc[0] != "up" or (eval_only and "train" in name.split("/")[-1]):
            continue
        g = g.sort_values("x")
        x, y = g["x"].to_numpy(float), g["y"].to_numpy(float)
        out.append((name, "as logged", x, y))
        if len(x) > 20:
            idx = np.unique(np.round(np.linspace(0, len(x) - 1, THIN_TO)).astype(int))
            out.append((name, f"thinned to {THIN_TO}", x[idx], y[idx]))
    return out


def score(
    curves: list, scale: float, reward_range: tuple[float, float] | str | None
) -> pd.DataFrame:
    rows = []
    for name, density, x, y in curves:
        y = scale * y
        n = len(x)
        for f in FRACTIONS:
            keep = (x <= f * x[-1]) & (np.arange(n) < n - 3)
            truth = float(y[-3:].mean())
            row = {"curve": name, "density": density, "at": f, "truth": truth}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fc = forecast(
                        x[keep], reward=y[keep], budget=x[-2], average_of=3,
                        reward_range=reward_range,
                    )  # fmt: skip
            except InputError:
                rows.append({**row, "refused": True})
                continue
            lo8, hi8 = (float(v[0]) for v in fc.interval(0.8))
            lo9, hi9 = (float(v[0]) for v in fc.interval(0.9))
            rows.append({
                **row, "refused": False,
                "err": abs(float(fc.median[0]) - truth),
                "err_last": abs(float(y[keep][-1]) - truth),
                "cov80": lo8 <= truth <= hi8, "cov90": lo9 <= truth <= hi9,
            })  # fmt: skip
    return pd.DataFrame(rows)


def table(res: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (density, at), g in res.groupby(["density", "at"], sort=True):
        ok = g[~g["refused"]]
        out.append({
            "density": density, "at": at, "cases": len(ok), "refused": int(g["refused"].sum()),
            "median x last": ok["err"].median() / ok["err_last"].median(),
            "mean x last": ok["err"].mean() / ok["err_last"].mean(),
            "cov80": ok["cov80"].mean(), "cov90": ok["cov90"].mean(),
        })  # fmt: skip
    return pd.DataFrame(out).round(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval-only", action="store_true", help="held-out evaluation curves only")
    ap.add_argument("--percent", action="store_true", help="rewards x 100, with and without range")
    args = ap.parse_args()
    curves = cases(pd.read_csv(DEFAULT_RL), args.eval_only)
    runs: list[tuple[str, float, tuple[float, float] | str | None]]
    runs = [("pass rate as logged", 1.0, "auto")]
    if args.percent:
        runs += [
            ("x 100, by default (reward_range='auto')", 100.0, "auto"),
            ("x 100, as a score (reward_range=None)", 100.0, None),
            ("x 100, reward_range=(0, 100)", 100.0, (0, 100)),
        ]
    for label, scale, rr in runs:
        t0 = time.perf_counter()
        res = score(curves, scale, rr)
        print(f"\n{label}: {len(res)} cases in {time.perf_counter() - t0:.1f} s")
        print(table(res).to_string(index=False))


if __name__ == "__main__":
    main()
