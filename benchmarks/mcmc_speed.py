"""MCMC speed: time to an effective sample size of 2000 for A.

rlscaling's ``fit.mcmc`` (emcee, walkers evaluated in one vectorised call, differential-evolution
moves) against lmfit's ``Minimizer.emcee`` on the same data and the same priors (bounded uniform
on A, B, C_mid; unknown gaussian noise), same number of walkers and steps. ESS of A is
``walkers x kept steps / tau_A`` with tau from emcee's integrated autocorrelation time; the time
to ESS 2000 is the wall time scaled to 2000 effective samples.

    python benchmarks/mcmc_speed.py
"""

from __future__ import annotations

import time
import warnings

import emcee
import lmfit
import numpy as np

from rlscaling import fit_sigmoid, sigmoid

WALKERS, STEPS, BURN = 32, 3000, 500


def main() -> None:
    rng = np.random.default_rng(0)
    c = np.geomspace(100, 3e4, 40)
    r0 = 0.1
    y = sigmoid(c, 0.6, 1.5, 3000.0, r0) + rng.normal(0, 0.01, c.size)
    fit = fit_sigmoid(c, y, r0=r0)
    lo, hi = fit.bounds.lower, fit.bounds.upper

    t = time.perf_counter()
    post = fit.mcmc(n_walkers=WALKERS, n_steps=STEPS, extend=False, seed=1, warn=False)
    t_ours = time.perf_counter() - t
    ess_ours = post.diagnostics["ess_A"]

    params = lmfit.Parameters()
    params.add("a", value=fit.A, min=lo[0], max=hi[0])
    params.add("log_b", value=np.log(fit.B), min=np.log(lo[1]), max=np.log(hi[1]))
    params.add("m", value=np.log(fit.C_mid), min=lo[2], max=hi[2])
    x = np.log(c)

    def residual(p):
        v = p.valuesdict()
        s = 1.0 / (1.0 + np.exp(-np.exp(v["log_b"]) * (x - v["m"])))
        return r0 + (v["a"] - r0) * s - y

    mini = lmfit.Minimizer(residual, params, nan_policy="omit")
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mini.emcee(
            steps=STEPS, burn=0, nwalkers=WALKERS, is_weighted=False, progress=False, seed=1
        )
    t_lmfit = time.perf_counter() - t
    chain = res.chain[BURN:, :, 0]  # (steps, walkers) of A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau = float(emcee.autocorr.integrated_time(chain[:, :, None], quiet=True)[0])
    ess_lmfit = chain.size / tau

    print(f"same data (40 points), {WALKERS} walkers x {STEPS} steps each (this machine)")
    for name, wall, ess in (("rlscaling", t_ours, ess_ours), ("lmfit emcee", t_lmfit, ess_lmfit)):
        print(
            f"  {name:<12} wall {wall:6.2f} s, ESS(A) {ess:7.0f}, "
            f"time to ESS 2000: {wall * 2000 / ess:6.2f} s"
        )
    ratio = (t_lmfit * 2000 / ess_lmfit) / (t_ours * 2000 / ess_ours)
    print(f"  speed-up to ESS 2000: {ratio:.1f}x")
    print(
        f"  90% interval of A: rlscaling {tuple(round(v, 4) for v in post.interval('A'))}, "
        f"lmfit {tuple(round(v, 4) for v in np.quantile(chain, [0.05, 0.95]))}"
    )


if __name__ == "__main__":
    main()
