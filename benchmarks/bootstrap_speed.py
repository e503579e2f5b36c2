"""Bootstrap speed: 1000 residual-bootstrap replicates of a 100-point curve.

Batched (rlscaling: all replicates solved together) against a loop of
scipy.optimize.curve_fit over the SAME replicate data with the same start (the point fit) and
the same bounds. Reports wall time, the ratio, agreement of A on replicates where both
converge, and failed replicates of each. Also times the public ``fit.bootstrap(1000)`` for
each method.

    python benchmarks/bootstrap_speed.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.optimize import curve_fit

from rlscaling import fit_sigmoid, sigmoid
from rlscaling.model.curve import curve_value
from rlscaling.model.solver import solve_replicates


def main(n_rep: int = 1000, n_pts: int = 100) -> None:
    rng = np.random.default_rng(0)
    c = np.geomspace(100, 1e5, n_pts)
    r0 = 0.1
    y = sigmoid(c, 0.6, 1.5, 3000.0, r0) + rng.normal(0, 0.015, n_pts)
    fit = fit_sigmoid(c, y, r0=r0)
    x = np.log(c)
    yhat = curve_value(x, fit.theta)
    resid = (y - yhat) * np.sqrt(n_pts / (n_pts - 3))
    ys = yhat + resid[rng.integers(0, n_pts, size=(n_rep, n_pts))]
    ws = np.ones_like(ys)

    t = time.perf_counter()
    theta, _, ok = solve_replicates(
        x, ys, ws, np.full(n_rep, r0), fit.bounds, np.tile(fit.theta, (n_rep, 1))
    )
    t_batch = time.perf_counter() - t

    def model(c, a, b, log_cm):
        return r0 + (a - r0) / (1 + np.exp(b * (log_cm - np.log(c))))

    lo, hi = fit.bounds.lower[:3], fit.bounds.upper[:3]
    p0 = fit.theta[:3]
    a_loop = np.full(n_rep, np.nan)
    t = time.perf_counter()
    for i in range(n_rep):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p, _ = curve_fit(model, c, ys[i], p0=p0, bounds=(lo, hi))
            a_loop[i] = p[0]
        except (RuntimeError, ValueError):
            pass
    t_loop = time.perf_counter() - t

    both = ok & np.isfinite(a_loop)
    diff = np.abs(theta[both, 0] - a_loop[both])
    print(f"{n_rep} replicates x {n_pts} points (this machine, same run)")
    print(f"  batched rlscaling : {t_batch:7.3f} s, failed {int((~ok).sum())}")
    print(f"  curve_fit loop    : {t_loop:7.3f} s, failed {int((~np.isfinite(a_loop)).sum())}")
    print(f"  speed-up          : {t_loop / t_batch:7.1f}x  (target >= 20x)")
    print(
        f"  |A batched - A loop| on {both.sum()} common replicates: max {diff.max():.2e}, "
        f"replicates over 1e-3: {(diff > 1e-3).sum()}"
    )
    for method in ("residual", "case", "block"):
        t = time.perf_counter()
        boot = fit.bootstrap(n_rep, method=method, seed=1)
        print(
            f"  fit.bootstrap({n_rep}, method={method!r}): {time.perf_counter() - t:.3f} s, "
            f"90% interval of A {tuple(round(v, 4) for v in boot.interval('A'))}"
        )


if __name__ == "__main__":
    main()
