"""The least-squares search for one curve: direct for short curves, on bins for long ones.

Shared by the point fit (:func:`~rlscaling.fit.fitting.fit_sigmoid`) and the profile check of A
(:func:`~rlscaling.fit.identifiability.profile_issues`), so both treat a long curve the same way.
"""

from __future__ import annotations

import numpy as np

from rlscaling.model.solver import Bounds, _solve_curve, levenberg_marquardt

# Curves longer than this are searched on BIN_COUNT bins of log-compute and polished on every
# point (see solve_one): a fit of a million points then costs a few passes over the data.
BIN_ABOVE = 20_000
BIN_COUNT = 2_000


def binned(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted means of ``x`` and ``y`` in ``n_bins`` equal-width bins of ``x``, and the
    summed weights; empty bins are left out.

    Weighted least squares on the bins equals weighted least squares on the points up to a
    constant (the scatter within bins) plus the curve's bend inside a bin, which is
    negligible at thousands of bins: good enough to find the minimum's neighbourhood, which
    is all it is used for (the answer is then polished on every point).
    """
    span = float(x[-1] - x[0]) if x.size else 0.0
    if span <= 0:
        idx = np.zeros(x.size, dtype=np.intp)
    else:
        idx = np.minimum(((x - x[0]) * (n_bins / span)).astype(np.intp), n_bins - 1)
    wb = np.bincount(idx, weights=w, minlength=n_bins)
    xb = np.bincount(idx, weights=w * x, minlength=n_bins)
    yb = np.bincount(idx, weights=w * y, minlength=n_bins)
    keep = wb > 0
    wb = wb[keep]
    return xb[keep] / wb, yb[keep] / wb, wb


def solve_one(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    r0_value: float | None,
    bounds: Bounds,
    *,
    loss: str,
    f_scale: float,
    n_starts: int,
    theta0: np.ndarray | None = None,
    ftol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~rlscaling.model.solver.solve_curve` for one curve; a long curve is searched on
    bins and polished on all points.

    Above ``BIN_ABOVE`` points the grid search and the multi-start polish (the costly part:
    hundreds of grid cells and several starts, each over every point) run on ``BIN_COUNT``
    bins of log-compute (see :func:`binned`); the best solution is then polished by the
    same Levenberg-Marquardt on every point, so the fit minimises the same loss over the same
    data as an unbinned fit and stops by the same tolerances. Shorter curves are solved
    directly, exactly as before. ``ftol`` is the solver's relative cost tolerance.
    """
    r0 = None if r0_value is None else np.array([r0_value])
    start = None if theta0 is None else np.asarray(theta0, dtype=float)[None, :]
    if x.size <= BIN_ABOVE:
        return _solve_curve(
            x, y[None, :], w[None, :], r0, bounds,
            loss=loss, f_scale=f_scale, n_starts=n_starts, theta0=start, ftol=ftol,
        )  # fmt: skip
    xb, yb, wb = binned(x, y, w, BIN_COUNT)
    theta_b, _, _ = _solve_curve(
        xb, yb[None, :], wb[None, :], r0, bounds,
        loss=loss, f_scale=f_scale, n_starts=n_starts, theta0=start, ftol=ftol,
    )  # fmt: skip
    sol = levenberg_marquardt(
        x, y[None, :], w[None, :], theta_b, bounds, loss=loss, f_scale=f_scale, ftol=ftol
    )
    return sol.theta, sol.cost, sol.converged
