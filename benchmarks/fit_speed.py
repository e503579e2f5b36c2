"""One fit: rlscaling.fit_sigmoid against scipy.optimize.curve_fit and lmfit.Model.fit.

Same simulated curves for all (A 0.3-0.95, B 0.5-3, C_mid 1e2-1e6, noise 0.005-0.03,
R0 fixed at its true value, 40 points over C_mid/20 .. C_mid*20); the baselines get the usual
practitioner's start (A = max reward, B = 1, C_mid = median compute). ``curve_fit`` runs both
unbounded (Levenberg-Marquardt, the fastest thing a user would write) and with the same bounds
(trust-region reflective); lmfit with the same bounds. rlscaling's fit also runs its grid
search, its multi-start polish and the identifiability profile of A. Prints median time per fit
(each method timed on the same curve back to back), error in A, failures (exception or |A
error| > 0.1), and ratios.

    python benchmarks/fit_speed.py [--curves 200]
"""

from __future__ import annotations

import argparse
import time
import warnings

import lmfit
import numpy as np
from scipy.optimize import curve_fit

from rlscaling import fit_sigmoid, sigmoid


def main(n_curves: int = 200) -> None:
    rng = np.random.default_rng(0)
    rows = {"rlscaling": [], "curve_fit": [], "curve_fit LM": [], "lmfit": []}
    for _ in range(n_curves):
        a, b = rng.uniform(0.3, 0.95), rng.uniform(0.5, 3.0)
        c_mid, r0 = 10 ** rng.uniform(2, 6), rng.uniform(0, 0.2)
        c = np.geomspace(c_mid / 20, c_mid * 20, 40)
        y = sigmoid(c, a, b, c_mid, r0) + rng.normal(0, rng.uniform(0.005, 0.03), c.size)

        def model(c, a_, b_, cm_, r0=r0):
            return r0 + (a_ - r0) / (1 + (cm_ / c) ** b_)

        p0 = [y.max(), 1.0, float(np.median(c))]
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = fit_sigmoid(c, y, r0=r0, warn=False)
        rows["rlscaling"].append((time.perf_counter() - t, f.A - a))

        t = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = curve_fit(
                    model, c, y, p0=p0, bounds=([0, 0.05, c.min() / 1e3], [1, 20, c.max() * 1e3])
                )
            err = p[0] - a
        except (RuntimeError, ValueError):
            err = np.nan
        rows["curve_fit"].append((time.perf_counter() - t, err))

        t = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = curve_fit(model, c, y, p0=p0)
            err = p[0] - a
        except (RuntimeError, ValueError):
            err = np.nan
        rows["curve_fit LM"].append((time.perf_counter() - t, err))

        lm = lmfit.Model(model)
        params = lm.make_params(
            a_=dict(value=p0[0], min=0, max=1),
            b_=dict(value=1.0, min=0.05, max=20),
            cm_=dict(value=p0[2], min=c.min() / 1e3, max=c.max() * 1e3),
        )
        t = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = lm.fit(y, params, c=c)
            err = res.params["a_"].value - a
        except (RuntimeError, ValueError):
            err = np.nan
        rows["lmfit"].append((time.perf_counter() - t, err))

    print(f"{n_curves} curves, one fit each (this machine, same run)")
    print(f"{'method':<14}{'median ms':>10}{'median |dA|':>13}{'p90 |dA|':>10}{'failures':>10}")
    stats = {}
    for name, vals in rows.items():
        tt = np.array([v[0] for v in vals])
        err = np.abs(np.array([v[1] for v in vals]))
        fail = int(np.sum(~np.isfinite(err) | (err > 0.1)))
        ok = err[np.isfinite(err)]
        stats[name] = (np.median(tt), np.median(ok), fail)
        print(
            f"{name:<14}{1e3 * np.median(tt):>10.2f}{np.median(ok):>13.4f}"
            f"{np.quantile(ok, 0.9):>10.4f}{fail:>10d}"
        )
    ours = stats["rlscaling"][0]
    print(f"time ratio rlscaling / curve_fit LM (unbounded): {ours / stats['curve_fit LM'][0]:.2f}")
    print(f"time ratio rlscaling / curve_fit (bounded):     {ours / stats['curve_fit'][0]:.2f}")
    print(f"time ratio rlscaling / lmfit (bounded):         {ours / stats['lmfit'][0]:.2f}")
    both = [
        (r[1], c[1])
        for r, c in zip(rows["rlscaling"], rows["curve_fit"], strict=True)
        if np.isfinite(c[1])
    ]
    worse = sum(abs(r) > abs(c) + 1e-3 for r, c in both)
    print(f"curves where rlscaling's |dA| exceeds curve_fit's by > 1e-3: {worse} of {len(both)}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--curves", type=int, default=200)
    main(ap.parse_args().curves)
