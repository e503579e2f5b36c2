"""MCMC on very few points: the capped default against the old uncapped extension.

With 5 evaluations the posterior is mostly prior and bounds and chains mix slowly, so
extending a chain to 50 autocorrelation times (up to 20,000 steps) costs several times a
normal run while the intervals stay about as wide. Below 8 points ``fit.mcmc`` now caps the
chain at ``2 * n_steps`` and says so. This script times, in one run and on the same fits:

- the 5-point fit with the old behaviour (``max_steps=20000``) and with the new default,
- a 30-point fit with the default (the reference for "a normal run"),

and prints steps, wall time, the ratio to the 30-point run and the 90% interval of A.

    python benchmarks/mcmc_few_points.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from rlscaling import fit_sigmoid, sigmoid


def timed(fit, **kwargs):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = fit.mcmc(seed=0, **kwargs)
    return time.perf_counter() - t, post


def main() -> None:
    rng = np.random.default_rng(0)
    fits = {}
    for n in (5, 30):
        c = np.geomspace(100, 20000, n)
        y = sigmoid(c, 0.6, 1.5, 2000.0, 0.1) + rng.normal(0, 0.01, n)
        fits[n] = fit_sigmoid(c, y, warn=False)
    timed(fits[30])  # warm-up: imports and first-call overheads
    rows = [
        ("30 points, default", *timed(fits[30])),
        ("5 points, uncapped (old)", *timed(fits[5], max_steps=20000)),
        ("5 points, default (capped)", *timed(fits[5])),
    ]
    t_ref = rows[0][1]
    print(f"{'run':28s} {'steps':>6s} {'seconds':>8s} {'x 30-pt':>8s}  90% interval of A")
    for label, t, post in rows:
        lo, hi = post.interval("A", 0.9)
        steps = post.diagnostics["n_steps"]
        print(f"{label:28s} {steps:6d} {t:8.2f} {t / t_ref:8.1f}  [{lo:.3f}, {hi:.3f}]")


if __name__ == "__main__":
    main()
