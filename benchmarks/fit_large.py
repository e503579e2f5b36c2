"""A long curve: ``fit_sigmoid`` on a million points, and what searching on bins costs.

Above ``rlscaling.fit.search.BIN_ABOVE`` points (20,000) the fit's grid search and multi-start
run on 2,000 bins of log-compute and the winner is polished by the same Levenberg-Marquardt on
every point. This script prints

1. the time of ``fit_sigmoid`` on 1e6 points against one plain ``scipy.optimize.curve_fit``
   (unbounded, started at the truth: the fastest thing a user could write, and one that
   needs the answer to start) on the same points, best of ``--repeat``, same run;
2. the accuracy cost, on sizes where the unbinned fit is affordable: the same curves fitted
   with binning and without (``BIN_ABOVE`` raised), the largest parameter difference in units
   of the fit's own standard error, and whether the identifiability verdicts agree.

    python benchmarks/fit_large.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.optimize import curve_fit

import rlscaling.fit.search as search_module
from rlscaling import fit_sigmoid, sigmoid

TRUE = {"A": 0.6, "B": 1.5, "C_mid": 3000.0, "R0": 0.1}


def curve(n: int, seed: int, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = np.geomspace(100, 1e5, n)
    return c, sigmoid(c, **TRUE) + rng.normal(0, noise, n)


def fit(c: np.ndarray, y: np.ndarray, binned: bool, **kw: object):
    saved = search_module.BIN_ABOVE
    if not binned:
        search_module.BIN_ABOVE = 10**12
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit_sigmoid(c, y, **kw)
    finally:
        search_module.BIN_ABOVE = saved


def timing(n: int, repeat: int) -> None:
    c, y = curve(n, seed=0)

    def model(c: np.ndarray, a: float, b: float, c_mid: float) -> np.ndarray:
        return TRUE["R0"] + (a - TRUE["R0"]) / (1 + (c_mid / c) ** b)

    t_ours = t_cf = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        f = fit(c, y, binned=True, r0=TRUE["R0"])
        t_ours = min(t_ours, time.perf_counter() - t)
        t = time.perf_counter()
        p, _ = curve_fit(model, c, y, p0=[TRUE["A"], TRUE["B"], TRUE["C_mid"]])
        t_cf = min(t_cf, time.perf_counter() - t)
    print(f"{n:.0e} points, best of {repeat} (this machine, same run)")
    print(f"  fit_sigmoid (binned search, full polish): {t_ours:6.2f} s  (goal < 2 s)")
    print(f"  curve_fit, unbounded, started at truth  : {t_cf:6.2f} s")
    print(f"  ratio fit_sigmoid / curve_fit           : {t_ours / t_cf:6.2f}")
    print(f"  A: fit_sigmoid {f.A:.6f}, curve_fit {p[0]:.6f}, |difference| {abs(f.A - p[0]):.1e}")


def accuracy(sizes: tuple[int, ...], seeds: int) -> None:
    print("accuracy cost: binned search + full polish against the unbinned fit")
    print(f"{'points':>8} {'setting':<22}{'max |d|/stderr':>15}{'max |dA|':>10}{'verdicts':>10}")
    settings = {
        "r0 fixed": {"r0": TRUE["R0"]},
        "r0 free": {"r0": "free"},
        "soft_l1 loss": {"r0": TRUE["R0"], "loss": "soft_l1"},
        "early stop (to C_mid)": {"r0": TRUE["R0"], "max_compute": 3000.0},
    }
    for n in sizes:
        for label, kw in settings.items():
            worst = worst_a = 0.0
            same = 0
            for seed in range(seeds):
                c, y = curve(n, seed=seed + 1)
                fb, ff = fit(c, y, True, **kw), fit(c, y, False, **kw)
                for name in ("A", "B", "C_mid", "R0"):
                    se = ff.stderr[name]
                    if np.isfinite(se) and se > 0:
                        worst = max(worst, abs(getattr(fb, name) - getattr(ff, name)) / se)
                worst_a = max(worst_a, abs(fb.A - ff.A))
                same += fb.identified == ff.identified
            print(f"{n:>8} {label:<22}{worst:>15.1e}{worst_a:>10.1e}{same:>6}/{seeds}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    timing(1_000_000, args.repeat)
    accuracy((30_000, 100_000), args.seeds)
