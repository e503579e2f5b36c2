"""Bootstrap speed: 1000 residual-bootstrap replicates of a 100-point curve.

The baseline is the loop most users write: plain ``scipy.optimize.curve_fit`` (unbounded
Levenberg-Marquardt, MINPACK) on each replicate, started at the point fit. A bounded
``curve_fit`` loop (trust-region reflective, the slow path) is shown too, labelled.
rlscaling solves all replicates as one batch (``solve_replicates``: every replicate starts at
the point fit, the grid search runs only for replicates that fail from there). Every time is
the best of ``--repeat`` runs, measured in this one process, so the ratios hold on a busy
machine even when the absolute times do not.

Agreement: on the SAME replicate data, the 5/50/95% quantiles of A, B and C_mid over the
replicates from the batch and from the unbounded loop, and the largest per-replicate
difference in A. Tolerance stated and checked: every quantile within 1e-4 (relative for
C_mid), which is far below the replicate spread (the interval widths printed beside).

The public ``fit.bootstrap(1000)`` (leverage-corrected residuals, R0 noise, progress bar
plumbing) is timed too, against the same loop.

    python benchmarks/bootstrap_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.optimize import curve_fit

from rlscaling import fit_sigmoid, sigmoid
from rlscaling.model.curve import curve_value
from rlscaling.model.solver import solve_replicates

QUANTILES = (0.05, 0.5, 0.95)
TOLERANCE = 1e-4


def timed(fn):
    """(wall seconds, CPU seconds of this process, result) of one call."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def best_of(repeat: int, fns: dict):
    """Best wall and CPU time of each function over ``repeat`` rounds, run interleaved (one
    call of each per round), so that a burst of load from other users hits all of them."""
    wall = {k: np.inf for k in fns}
    cpu = {k: np.inf for k in fns}
    out = {}
    for _ in range(repeat):
        for k, fn in fns.items():
            w, c, out[k] = timed(fn)
            wall[k], cpu[k] = min(wall[k], w), min(cpu[k], c)
    return wall, cpu, out


def main(n_rep: int = 1000, n_pts: int = 100, repeat: int = 5) -> None:
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
    starts = np.tile(fit.theta, (n_rep, 1))

    def batch():
        return solve_replicates(x, ys, ws, np.full(n_rep, r0), fit.bounds, starts)

    def model(c, a, b, c_mid):
        return r0 + (a - r0) / (1 + (c_mid / c) ** b)

    p0 = [fit.A, fit.B, fit.C_mid]

    def loop(bounds=None):
        out = np.full((n_rep, 3), np.nan)
        kw = {} if bounds is None else {"bounds": bounds}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(n_rep):
                try:
                    out[i], _ = curve_fit(model, c, ys[i], p0=p0, **kw)
                except (RuntimeError, ValueError):
                    pass
        return out

    lo, hi = fit.bounds.lower[:3].copy(), fit.bounds.upper[:3].copy()
    lo[2], hi[2] = np.exp(lo[2]), np.exp(hi[2])
    wall, cpu, out = best_of(
        repeat,
        {
            "batch": batch,
            "loop": loop,
            "public": lambda: fit.bootstrap(n_rep, method="residual", seed=1),
        },
    )
    theta, _, ok = out["batch"]
    p_loop = out["loop"]
    t_bounded, c_bounded, _ = timed(lambda: loop((lo, hi)))
    ours = np.column_stack([theta[:, 0], theta[:, 1], np.exp(theta[:, 2])])
    both = ok & np.all(np.isfinite(p_loop), axis=1)
    print(f"{n_rep} replicates x {n_pts} points, best of {repeat} interleaved rounds")
    print(f"  {'':32}{'wall ms':>9}{'CPU ms':>9}")
    rows = [
        ("rlscaling solve_replicates", wall["batch"], cpu["batch"]),
        ("rlscaling fit.bootstrap", wall["public"], cpu["public"]),
        ("curve_fit loop, unbounded (LM)", wall["loop"], cpu["loop"]),
        ("curve_fit loop, bounded (TRF)", t_bounded, c_bounded),
    ]
    for label, w, c in rows:
        print(f"  {label:<32}{1e3 * w:9.1f}{1e3 * c:9.1f}")
    n_loop_failed = int((~np.all(np.isfinite(p_loop), axis=1)).sum())
    print(f"  failed: rlscaling {int((~ok).sum())}, loop {n_loop_failed}")
    for label, key in (("solve_replicates", "batch"), ("fit.bootstrap", "public")):
        print(
            f"  speed-up of {label} vs unbounded loop: {wall['loop'] / wall[key]:5.1f}x wall, "
            f"{cpu['loop'] / cpu[key]:5.1f}x CPU  (goal >= 20x)"
        )
    print(f"  speed-up of solve_replicates vs bounded loop: {t_bounded / wall['batch']:5.1f}x wall")
    both = ok & np.all(np.isfinite(p_loop), axis=1)
    worst = 0.0
    print(f"  agreement on {int(both.sum())} replicates both solved (quantiles {QUANTILES}):")
    for j, name in enumerate(("A", "B", "C_mid")):
        q_ours = np.quantile(ours[both, j], QUANTILES)
        q_loop = np.quantile(p_loop[both, j], QUANTILES)
        err = np.abs(q_ours - q_loop)
        if name == "C_mid":
            err = err / np.abs(q_loop)
        worst = max(worst, float(err.max()))
        print(
            f"    {name:<6} rlscaling {np.array2string(q_ours, precision=5)}  "
            f"loop {np.array2string(q_loop, precision=5)}  max diff {err.max():.1e}"
        )
    d_a = np.abs(ours[both, 0] - p_loop[both, 0])
    print(f"  per-replicate |A - A_loop|: max {d_a.max():.1e}, over 1e-4: {(d_a > 1e-4).sum()}")
    verdict = "PASS" if worst <= TOLERANCE else "FAIL"
    print(f"  quantile agreement within {TOLERANCE:g}: {verdict} (worst {worst:.1e})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    main(repeat=ap.parse_args().repeat)
