"""Forecast accuracy on real learning curves, beside the naive baselines, leave-one-source-out.

For every development curve and fit fraction f in (0.25, 0.5, 0.75): keep the evaluations up
to f of the curve's final compute, forecast the mean of its last 3 evaluations (at their
geometric-mean compute), and score. Errors are divided by the curve's range (max - min over the
whole curve) so that accuracies, losses and returns are comparable; loss curves are negated.

Methods, all in the same run:
- rlscaling: ``forecast(..., method="auto")`` with a prior learned by ``fit_prior`` on the OTHER
  sources only (leave-one-source-out), so no curve is scored by a prior that saw its source;
- last: carry the last observed value forward;
- last3: the mean of the last 3 observed values;
- curve_fit: ``scipy.optimize.curve_fit`` of the same sigmoid from a single start
  (A = max reward, B = 1, C_mid = median compute, R0 = first reward), no bounds.

Intervals (rlscaling only): coverage of the truth by the 80% and 90% predictive intervals, and
their mean width (relative to the range). Cases with fewer than 5 observed evaluations are
refused with that reason and counted.

    python benchmarks/forecast_accuracy.py [--curves PATH] [--fractions 0.25,0.5,0.75]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

sys.path.insert(0, str(Path(__file__).parent))
from devcurves import DEFAULT, geometric_tail, load_dev_curves

from rlscaling import forecast
from rlscaling.forecasting.prior import ForecastPrior, corpus_cases, prior_from_cases


def single_start_curve_fit(run, c_t: float) -> float:
    x, y = run.compute, run.reward

    def model(c, a, b, log_cm, r0):
        return r0 + (a - r0) / (1 + np.exp(b * (log_cm - np.log(c))))

    p0 = [y.max(), 1.0, np.log(np.median(x)), y[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, _ = curve_fit(model, x, y, p0=p0, maxfev=2000)
    out = float(model(c_t, *p))
    if not np.isfinite(out):
        raise RuntimeError("non-finite prediction")
    return out


def main(path: Path, fractions: tuple[float, ...]) -> pd.DataFrame:
    t0 = time.time()
    runs, dropped = load_dev_curves(path)
    print(f"{len(runs)} curves from {path.name}; {dropped}")
    base = ForecastPrior()
    cases, refused = corpus_cases(runs, fractions, base, progress=False)
    src_of = {r.name: r.metadata["source"] for r in runs}
    priors = {}
    for src in sorted(set(src_of.values())):
        train = [c for c in cases if src_of[c.name] != src]
        priors[src] = prior_from_cases(train, {}, base, label=f"dev curves without {src}")
        p = priors[src]
        print(
            f"prior without {src:<7}: weight {p.prior_weight}, strength {p.prior_strength}, "
            f"interval scale {p.interval_scale:.2f} ({p.scores['cases']} cases)"
        )
    by_name = {r.name: r for r in runs}
    rows = []
    n_notes = 0
    for case in cases:
        run = by_name[case.name]
        part = run.truncate(case.fraction)
        c_t, truth = geometric_tail(run)
        scale = case.scale
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fc = forecast(part, budget=c_t, prior=priors[src_of[case.name]], seed=0, average_of=3)
        n_notes += len(caught)
        row = {"curve": case.name, "source": src_of[case.name], "fraction": case.fraction}
        row["rlscaling"] = abs(fc.median[0] - truth) / scale
        for lv in (0.8, 0.9):
            lo, hi = fc.interval(lv)
            row[f"cover{lv:g}"] = float(lo[0] <= truth <= hi[0])
            row[f"width{lv:g}"] = float(hi[0] - lo[0]) / scale
        row["last"] = abs(part.reward[-1] - truth) / scale
        row["last3"] = abs(part.reward[-3:].mean() - truth) / scale
        try:
            row["curve_fit"] = abs(single_start_curve_fit(part, c_t) - truth) / scale
        except (RuntimeError, ValueError, TypeError):
            row["curve_fit"] = np.nan
        rows.append(row)
    df = pd.DataFrame(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report(df, refused)
    print(f"forecast caveats raised (ForecastWarning): {n_notes} over {len(df)} forecasts")
    print(f"wall time {time.time() - t0:.0f} s")
    return df


def report(df: pd.DataFrame, refused: dict[str, int]) -> None:
    methods = ["rlscaling", "last", "last3", "curve_fit"]
    lines = []
    for f, g in df.groupby("fraction"):
        for m in methods:
            e = g[m].dropna()
            row = {
                "fraction": f,
                "method": m,
                "median": e.median(),
                "mean": e.mean(),
                "p90": e.quantile(0.9),
                "answered": len(e),
                "failed": int(g[m].isna().sum()),
            }
            if m == "rlscaling":
                row.update(
                    cov80=g["cover0.8"].mean(),
                    cov90=g["cover0.9"].mean(),
                    width80=g["width0.8"].mean(),
                    width90=g["width0.9"].mean(),
                )
            lines.append(row)
    table = pd.DataFrame(lines)
    pd.set_option("display.width", 160)
    print("\nAbsolute error of the forecast of the final reward, relative to each curve's range")
    print(table.round(4).to_string(index=False))
    print(f"refused (all methods, per fraction case): {refused}")
    print("\nRatio to carrying the last value forward (below 1 is better):")
    for f, g in df.groupby("fraction"):
        print(
            f"  f={f:g}: median {g['rlscaling'].median() / g['last'].median():.3f}, "
            f"mean {g['rlscaling'].mean() / g['last'].mean():.3f}"
        )
    print("\nMedian error by source at each fraction (rlscaling / last):")
    src = df.groupby(["source", "fraction"])
    out = src[["rlscaling", "last"]].median().join(src[["cover0.8", "cover0.9"]].mean())
    print(out.round(4).to_string())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--curves", type=Path, default=DEFAULT)
    ap.add_argument("--fractions", default="0.25,0.5,0.75")
    a = ap.parse_args()
    main(a.curves, tuple(float(v) for v in a.fractions.split(",")))
