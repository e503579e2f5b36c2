"""Synthetic reward-compute curves with known parameters, for tests and examples."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from rlscaling.io.runs import Run
from rlscaling.model.curve import sigmoid


def simulate_curve(
    A: float,
    B: float,
    C_mid: float,
    R0: float = 0.0,
    *,
    compute: ArrayLike | None = None,
    noise: float = 0.01,
    ar1: float = 0.0,
    eval_size: int | None = None,
    seed: int | np.random.Generator | None = None,
    name: str = "simulated",
    metadata: dict[str, Any] | None = None,
) -> Run:
    """Draw a noisy curve from the sigmoid.

    Parameters
    ----------
    A, B, C_mid, R0 : float
        True parameters.
    compute : array_like, optional
        Evaluation points; default 40 log-spaced points from ``C_mid / 20`` to ``C_mid * 10``.
    noise : float
        Standard deviation of gaussian evaluation noise (run-to-run wobble of the policy).
    ar1 : float
        Lag-one autocorrelation of that noise (consecutive evaluations share history).
    eval_size : int, optional
        If given, the reward is additionally a binomial pass rate over this many samples.
    seed : int or Generator
        Randomness; the same seed gives the same curve.

    Examples
    --------
    >>> from rlscaling.model.simulate import simulate_curve
    >>> run = simulate_curve(0.6, 1.5, 1000.0, 0.1, seed=0)
    >>> len(run)
    40
    """
    rng = np.random.default_rng(seed)
    c = (
        np.geomspace(C_mid / 20, C_mid * 10, 40)
        if compute is None
        else np.asarray(compute, dtype=float)
    )
    truth = sigmoid(c, A, B, C_mid, R0)
    eps = rng.normal(0.0, noise, c.size)
    if ar1:
        for i in range(1, c.size):
            eps[i] = ar1 * eps[i - 1] + np.sqrt(1 - ar1**2) * eps[i]
    p = truth + eps
    if eval_size is not None:
        p = rng.binomial(eval_size, np.clip(p, 0, 1)) / eval_size
    meta = {"A": A, "B": B, "C_mid": C_mid, "R0": R0, "noise": noise, "ar1": ar1, "synthetic": True}
    meta.update(metadata or {})
    size = None if eval_size is None else np.full(c.size, float(eval_size))
    return Run(c, p, eval_size=size, name=name, metadata=meta)
